//! The infrastructure fee (phí sử dụng công trình kết cấu hạ tầng, công trình dịch vụ, tiện ích
//! công cộng trong khu vực cửa khẩu) as dated data: Resolution 09/2025/NQ-HĐND from 8 May 2025.
//!
//! SKELETON: contract only; the schedule and the calculator are being written (issue #4).
