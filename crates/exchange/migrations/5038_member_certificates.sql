-- Members' X.509 certificates (chứng thư số): a key registered from a certificate keeps the
-- certificate (PEM), its SHA-256 fingerprint, its subject and its validity period (Unix
-- microseconds); requests signed with the key are refused outside that period. NULL: a bare key.
ALTER TABLE exchange_member_keys ADD COLUMN certificate TEXT;
ALTER TABLE exchange_member_keys ADD COLUMN certificate_sha256 TEXT;
ALTER TABLE exchange_member_keys ADD COLUMN certificate_subject TEXT;
ALTER TABLE exchange_member_keys ADD COLUMN not_before BIGINT;
ALTER TABLE exchange_member_keys ADD COLUMN not_after BIGINT;
