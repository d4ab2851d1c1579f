//! Dossier statuses (trạng thái hồ sơ) with the national public service portal's codes
//! (DVCQG, used in synchronisation) and the legal transitions between them.

use serde::Serialize;

/// A dossier status. The number is the national portal's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[repr(i64)]
pub enum Status {
    /// 1 — Mới đăng ký: submitted online, not yet accepted.
    Submitted = 1,
    /// 2 — Được tiếp nhận.
    Accepted = 2,
    /// 3 — Không được tiếp nhận (refused, form 03).
    Refused = 3,
    /// 4 — Đang xử lý.
    Processing = 4,
    /// 5 — Yêu cầu bổ sung (form 02): the clock stops.
    SupplementRequested = 5,
    /// 6 — Yêu cầu thực hiện nghĩa vụ tài chính (payment requested).
    PaymentRequested = 6,
    /// 7 — Công dân yêu cầu rút hồ sơ (withdrawn).
    Withdrawn = 7,
    /// 8 — Dừng xử lý (stopped).
    Stopped = 8,
    /// 9 — Đã xử lý xong (done, result ready).
    Done = 9,
    /// 10 — Đã trả kết quả (result returned).
    Returned = 10,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Submitted,
        Status::Accepted,
        Status::Refused,
        Status::Processing,
        Status::SupplementRequested,
        Status::PaymentRequested,
        Status::Withdrawn,
        Status::Stopped,
        Status::Done,
        Status::Returned,
    ];

    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn name_vi(self) -> &'static str {
        match self {
            Status::Submitted => "Mới đăng ký",
            Status::Accepted => "Được tiếp nhận",
            Status::Refused => "Không được tiếp nhận",
            Status::Processing => "Đang xử lý",
            Status::SupplementRequested => "Yêu cầu bổ sung",
            Status::PaymentRequested => "Yêu cầu thực hiện nghĩa vụ tài chính",
            Status::Withdrawn => "Công dân yêu cầu rút hồ sơ",
            Status::Stopped => "Dừng xử lý",
            Status::Done => "Đã xử lý xong",
            Status::Returned => "Đã trả kết quả",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Status::Submitted => "Submitted",
            Status::Accepted => "Accepted",
            Status::Refused => "Refused",
            Status::Processing => "Processing",
            Status::SupplementRequested => "Supplement requested",
            Status::PaymentRequested => "Payment requested",
            Status::Withdrawn => "Withdrawn by the applicant",
            Status::Stopped => "Processing stopped",
            Status::Done => "Processed, result ready",
            Status::Returned => "Result returned",
        }
    }

    /// No transition leaves a final status.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Refused | Status::Withdrawn | Status::Stopped | Status::Returned
        )
    }
}

/// Who may take an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The applicant (signed in, or with the lookup code).
    Applicant,
    /// Staff of the handling agency.
    Officer,
}

/// What can happen to a dossier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Tiếp nhận: 1 → 2, computes the promised return date and the fee.
    Accept,
    /// Từ chối tiếp nhận (form 03): 1 → 3, reason required.
    Refuse,
    /// Yêu cầu bổ sung (form 02): 1, 2, 4 → 5, reason required; the clock stops.
    RequestSupplement,
    /// The applicant supplements: 5 → the status before the request.
    Supplement,
    /// Chuyển xử lý: 2 → 4, or 4 → 4 to the next step.
    Forward,
    /// Yêu cầu nộp phí: 2, 4 → 6.
    RequestPayment,
    /// Payment received: 6 → 4.
    PaymentReceived,
    /// Phê duyệt: 4 → 9 at the last processing step.
    Approve,
    /// Trả kết quả: 9 → 10.
    ReturnResult,
    /// Rút hồ sơ: 1, 2, 4, 5, 6 → 7 (the applicant).
    Withdraw,
    /// Dừng xử lý: 2, 4, 5, 6 → 8, reason required.
    Stop,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Action::Accept,
        Action::Refuse,
        Action::RequestSupplement,
        Action::Supplement,
        Action::Forward,
        Action::RequestPayment,
        Action::PaymentReceived,
        Action::Approve,
        Action::ReturnResult,
        Action::Withdraw,
        Action::Stop,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Refuse => "refuse",
            Action::RequestSupplement => "request_supplement",
            Action::Supplement => "supplement",
            Action::Forward => "forward",
            Action::RequestPayment => "request_payment",
            Action::PaymentReceived => "payment_received",
            Action::Approve => "approve",
            Action::ReturnResult => "return_result",
            Action::Withdraw => "withdraw",
            Action::Stop => "stop",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn name_vi(self) -> &'static str {
        match self {
            Action::Accept => "Tiếp nhận hồ sơ",
            Action::Refuse => "Từ chối tiếp nhận",
            Action::RequestSupplement => "Yêu cầu bổ sung hồ sơ",
            Action::Supplement => "Bổ sung hồ sơ",
            Action::Forward => "Chuyển bước xử lý",
            Action::RequestPayment => "Yêu cầu nộp phí, lệ phí",
            Action::PaymentReceived => "Đã nộp phí, lệ phí",
            Action::Approve => "Phê duyệt kết quả",
            Action::ReturnResult => "Trả kết quả",
            Action::Withdraw => "Rút hồ sơ",
            Action::Stop => "Dừng xử lý",
        }
    }

    pub fn actor(self) -> Actor {
        match self {
            Action::Supplement | Action::Withdraw => Actor::Applicant,
            _ => Actor::Officer,
        }
    }

    /// Statuses the action may start from.
    pub fn from(self) -> &'static [Status] {
        use Status::*;
        match self {
            Action::Accept | Action::Refuse => &[Submitted],
            Action::RequestSupplement => &[Submitted, Accepted, Processing],
            Action::Supplement => &[SupplementRequested],
            Action::Forward => &[Accepted, Processing],
            Action::RequestPayment => &[Accepted, Processing],
            Action::PaymentReceived => &[PaymentRequested],
            Action::Approve => &[Processing],
            Action::ReturnResult => &[Done],
            Action::Withdraw => &[
                Submitted,
                Accepted,
                Processing,
                SupplementRequested,
                PaymentRequested,
            ],
            Action::Stop => &[Accepted, Processing, SupplementRequested, PaymentRequested],
        }
    }

    /// Whether the action needs a written reason.
    pub fn needs_reason(self) -> bool {
        matches!(
            self,
            Action::Refuse | Action::RequestSupplement | Action::Stop | Action::Withdraw
        )
    }

    /// The status after the action (`before_pause` is where a supplement returns to).
    pub fn to(self, before_pause: Option<Status>) -> Status {
        match self {
            Action::Accept => Status::Accepted,
            Action::Refuse => Status::Refused,
            Action::RequestSupplement => Status::SupplementRequested,
            Action::Supplement => before_pause.unwrap_or(Status::Processing),
            Action::Forward | Action::PaymentReceived => Status::Processing,
            Action::RequestPayment => Status::PaymentRequested,
            Action::Approve => Status::Done,
            Action::ReturnResult => Status::Returned,
            Action::Withdraw => Status::Withdrawn,
            Action::Stop => Status::Stopped,
        }
    }

    /// Actions legal from a status.
    pub fn allowed_from(s: Status) -> Vec<Action> {
        Self::ALL
            .into_iter()
            .filter(|a| a.from().contains(&s))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_statuses_have_no_way_out() {
        for s in Status::ALL {
            assert_eq!(s.is_final(), Action::allowed_from(s).is_empty(), "{s:?}");
            assert_eq!(Status::from_code(s.code()), Some(s));
        }
        assert_eq!(Status::from_code(0), None);
        assert_eq!(Status::from_code(11), None);
    }

    #[test]
    fn codes_are_the_national_portal_codes() {
        assert_eq!(Status::Submitted.code(), 1);
        assert_eq!(Status::SupplementRequested.code(), 5);
        assert_eq!(Status::Returned.code(), 10);
    }

    #[test]
    fn supplement_returns_where_it_came_from() {
        assert_eq!(
            Action::Supplement.to(Some(Status::Submitted)),
            Status::Submitted
        );
        assert_eq!(
            Action::Supplement.to(Some(Status::Processing)),
            Status::Processing
        );
    }
}
