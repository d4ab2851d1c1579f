-- Electronic results (kết quả giải quyết điện tử), signed by the issuing agency's key and the
-- approving leader's key over `payload` (the exact bytes signed). The PDF is in the file store
-- under `file_sha256`; `id` is the unguessable verification code printed as a QR code.
CREATE TABLE dossier_results (
    id TEXT PRIMARY KEY,
    dossier_code TEXT NOT NULL UNIQUE REFERENCES dossiers (code),
    agency_code TEXT NOT NULL,
    number TEXT NOT NULL,
    title TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    holder_user_id TEXT,
    issued_at BIGINT NOT NULL,
    signer_user_id TEXT NOT NULL,
    signer_name TEXT NOT NULL,
    payload TEXT NOT NULL,
    agency_key_id TEXT NOT NULL,
    agency_public_key TEXT NOT NULL,
    agency_signature TEXT NOT NULL,
    signer_key_id TEXT NOT NULL,
    signer_public_key TEXT NOT NULL,
    signer_signature TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    file_size BIGINT NOT NULL,
    first_downloaded_at BIGINT,
    revoked_at BIGINT,
    revoked_reason TEXT,
    revoked_by TEXT,
    UNIQUE (agency_code, number)
);
CREATE INDEX dossier_results_agency_issued ON dossier_results (agency_code, issued_at);

-- Result numbers (số văn bản) per agency and year.
CREATE TABLE result_counters (
    agency_code TEXT NOT NULL,
    year BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (agency_code, year)
);

-- The personal data store (kho dữ liệu cá nhân, Decree 45/2020/NĐ-CP art. 16): digitised
-- papers and electronic results a signed-in citizen or business can reuse in later dossiers.
CREATE TABLE personal_documents (
    id TEXT PRIMARY KEY,
    owner_user_id TEXT NOT NULL,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    source_dossier TEXT,
    result_id TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (owner_user_id, file_sha256)
);
CREATE INDEX personal_documents_owner ON personal_documents (owner_user_id, created_at);
