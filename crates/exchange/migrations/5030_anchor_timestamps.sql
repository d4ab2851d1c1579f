-- RFC 3161 time-stamps on the anchors (dấu thời gian của đơn vị cấp dấu thời gian): the token
-- a time-stamp authority signed over the SHA-256 of the anchor text (DER in standard base64,
-- text like the rest of the log), with the TSA's name and the token's genTime (Unix
-- microseconds) for display. NULL: not (yet) time-stamped — no TSA configured, or the TSA
-- failed and the next round retries.
ALTER TABLE exchange_log_anchors ADD COLUMN tsa_token TEXT;
ALTER TABLE exchange_log_anchors ADD COLUMN tsa_name TEXT;
ALTER TABLE exchange_log_anchors ADD COLUMN tsa_gen_time BIGINT;
