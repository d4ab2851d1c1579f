-- Direct member-to-member calls (gọi trực tiếp giữa các thành viên).
-- On the hub: the registry snapshot's version, raised when what a snapshot carries changes
-- (its digest differs from the last published one).
CREATE TABLE exchange_registry_version (
    id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL,
    digest TEXT NOT NULL,
    changed_at BIGINT NOT NULL
);
INSERT INTO exchange_registry_version (id, version, digest, changed_at) VALUES (1, 0, '', 0);
-- On a member's node: the last good snapshot (verified with the hub's key), kept so a restart
-- does not depend on the hub being reachable; still refused once older than the node's
-- maximum age.
CREATE TABLE exchange_registry_snapshot (
    id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    signature TEXT NOT NULL,
    fetched_at BIGINT NOT NULL
);
