//! Crossing slots (khung giờ thông quan) per gate, direction and hour, and the queue.
//!
//! SKELETON: being written (issue #4).
