-- Agency signing certificates (chứng thư số của cơ quan) for PAdES signatures on electronic
-- results: the chain (PEM, leaf first) and the private key as PKCS#8 sealed under the platform
-- master key (like agency_signing_keys). `source` is `imported` (issued by a real CA and
-- uploaded by an administrator or the agency's leader) or `test_ca` (the provincial test CA,
-- demo and tests only). The newest certificate valid at the time of issuing signs.
CREATE TABLE agency_certificates (
    id TEXT PRIMARY KEY,
    agency_code TEXT NOT NULL,
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    key_algorithm TEXT NOT NULL,
    chain_pem TEXT NOT NULL,
    sealed_private_key TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT
);
CREATE INDEX agency_certificates_agency ON agency_certificates (agency_code, not_after);

-- The PAdES trust list (danh sách tin cậy): root certificates a signer's chain must reach for
-- the verification page to call a signature trusted. Roots of imported chains are added on
-- import; the provincial test CA's root (with its sealed key, so it can issue more test
-- certificates) only in demo mode or tests.
CREATE TABLE pades_trust_anchors (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    cert_pem TEXT NOT NULL,
    source TEXT NOT NULL,
    sealed_private_key TEXT,
    created_at BIGINT NOT NULL
);

-- Which certificate signed a result's PDF (none: only the platform's ed25519 signatures).
ALTER TABLE dossier_results ADD COLUMN pades_certificate_id TEXT;
