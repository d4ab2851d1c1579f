-- Customs' decision queue read by the platform (hàng đợi quyết định thông quan): the position
-- after the last decision handled, how many were handled, the last round's error.
CREATE TABLE connectors_customs_pull (
    id BIGINT PRIMARY KEY,
    position TEXT NOT NULL,
    pulled BIGINT NOT NULL,
    last_pulled_at BIGINT,
    last_error TEXT
);
INSERT INTO connectors_customs_pull (id, position, pulled, last_pulled_at, last_error) VALUES (1, '', 0, NULL, NULL);
-- Decisions from the queue refused for good (bad fields, unknown trip, another declaration):
-- kept with the problem, so the queue moves on and an administrator sees them.
CREATE TABLE connectors_customs_refused (
    position TEXT PRIMARY KEY,
    message TEXT NOT NULL,
    error TEXT NOT NULL,
    refused_at BIGINT NOT NULL
);
