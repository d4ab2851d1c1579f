-- PAdES-B-T and revocation (issue #3).
--
-- Whether each PAdES-signed result was time-stamped (dấu thời gian): `stamped` (a signature
-- time-stamp token from the configured TSA is in the PDF: PAdES-B-T), or `failed` (a TSA was
-- configured but failed — down, refused, a bad token — so the result was issued PAdES-B-B, as
-- it must never block issuing; `error` says why). No row: no TSA was configured.
CREATE TABLE pades_result_timestamps (
    result_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    tsa_url TEXT NOT NULL,
    tsa_name TEXT,
    gen_time BIGINT,
    error TEXT,
    attempted_at BIGINT NOT NULL
);

-- Certificate revocation lists (danh sách chứng thư bị thu hồi, CRL) the verifier checks signer
-- certificates against: imported by an administrator or fetched from a certificate's CRL
-- distribution point (`source`). The CRL's signature by its issuing CA is checked before it is
-- stored; the newest one of an issuer counts.
CREATE TABLE pades_crls (
    id TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    this_update BIGINT NOT NULL,
    next_update BIGINT,
    revoked_count BIGINT NOT NULL,
    crl_pem TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT
);
CREATE INDEX pades_crls_issuer ON pades_crls (issuer, this_update);
