-- Satisfaction ratings (đánh giá mức độ hài lòng): one per dossier, by its applicant, once the
-- dossier is finished. The agency is copied from the dossier so the indicators group ratings
-- by agency without a join.
CREATE TABLE dossier_ratings (
    dossier_code TEXT PRIMARY KEY REFERENCES dossiers (code),
    agency_code TEXT NOT NULL,
    -- 1 không hài lòng, 2 hài lòng, 3 rất hài lòng
    level BIGINT NOT NULL,
    comment TEXT NOT NULL,
    rated_by_user_id TEXT,
    rated_at BIGINT NOT NULL
);
CREATE INDEX dossier_ratings_at ON dossier_ratings (rated_at, agency_code);

-- Feedback and complaints (phản ánh, kiến nghị — PAKN) from anyone, addressed to an agency and
-- optionally about a dossier. Status: received, processing, answered, closed, rejected.
CREATE TABLE feedback (
    code TEXT PRIMARY KEY,
    -- phan_anh (feedback on a regulation or behaviour) or kien_nghi (complaint, proposal)
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    dossier_code TEXT REFERENCES dossiers (code),
    sender_user_id TEXT,
    sender_name TEXT NOT NULL,
    sender_phone TEXT NOT NULL,
    sender_email TEXT NOT NULL,
    subject TEXT NOT NULL,
    content TEXT NOT NULL,
    answer TEXT NOT NULL,
    reason TEXT NOT NULL,
    handler_user_id TEXT,
    handler_name TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    due_date TEXT NOT NULL,
    answered_at BIGINT,
    closed_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX feedback_agency ON feedback (agency_code, status, received_at);
CREATE INDEX feedback_dossier ON feedback (dossier_code, kind, status);

-- Per local day counters for feedback codes (PAKN-<yymmdd>-<nnnn>).
CREATE TABLE feedback_counters (
    day TEXT PRIMARY KEY,
    n BIGINT NOT NULL
);
