-- Per-operation rights (quyền theo thao tác): a right may be narrowed to operations of the
-- service's OpenAPI document (method + path template). No row for a right: the whole service.
CREATE TABLE exchange_right_operations (
    client TEXT NOT NULL,
    provider TEXT NOT NULL,
    service TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (client, provider, service, method, path),
    FOREIGN KEY (client, provider, service) REFERENCES exchange_rights (client, provider, service)
);
