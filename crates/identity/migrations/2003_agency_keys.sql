-- Signing keys of agencies (khóa ký số của cơ quan): the key that seals an agency's electronic
-- results, beside the signer's own key. At most one active key per agency; revoked keys stay
-- so that results signed before the revocation can still be checked.
CREATE TABLE agency_signing_keys (
    id TEXT PRIMARY KEY,
    agency_code TEXT NOT NULL,
    public_key TEXT NOT NULL,
    sealed_private_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX agency_signing_keys_active ON agency_signing_keys (agency_code) WHERE revoked_at IS NULL;
