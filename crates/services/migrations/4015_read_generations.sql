-- Generations (số thế hệ) of what every submission reads: the working-day calendar's overrides
-- and the procedures' current versions. Each node keeps both in memory with the generation it
-- read them under; a submission reads this one row (natively on SQLite) and uses its copy only
-- if the generation is unchanged. Triggers bump the generation in the writer's transaction,
-- whoever the writer is (the admin pages, the catalogue's seeding, plain SQL), so a change is
-- seen by the next submission on every node sharing the database.
-- A bump moves to the larger of the next number and the current time in microseconds, and the
-- row starts at the time of this migration: a database restored from an older snapshot, or a
-- new database at the same URL, never shows a generation a node already holds other data for.
CREATE TABLE services_read_generations (
    id BIGINT PRIMARY KEY,
    calendar BIGINT NOT NULL,
    catalogue BIGINT NOT NULL
);

--@ sqlite
INSERT INTO services_read_generations (id, calendar, catalogue) VALUES (1,
    CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER),
    CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER));
CREATE TRIGGER read_generation_calendar_ins AFTER INSERT ON calendar_overrides BEGIN
    UPDATE services_read_generations SET calendar = MAX(calendar + 1, CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)) WHERE id = 1;
END;
CREATE TRIGGER read_generation_calendar_upd AFTER UPDATE ON calendar_overrides BEGIN
    UPDATE services_read_generations SET calendar = MAX(calendar + 1, CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)) WHERE id = 1;
END;
CREATE TRIGGER read_generation_calendar_del AFTER DELETE ON calendar_overrides BEGIN
    UPDATE services_read_generations SET calendar = MAX(calendar + 1, CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)) WHERE id = 1;
END;
CREATE TRIGGER read_generation_catalogue_ins AFTER INSERT ON procedure_current BEGIN
    UPDATE services_read_generations SET catalogue = MAX(catalogue + 1, CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)) WHERE id = 1;
END;
CREATE TRIGGER read_generation_catalogue_upd AFTER UPDATE ON procedure_current BEGIN
    UPDATE services_read_generations SET catalogue = MAX(catalogue + 1, CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)) WHERE id = 1;
END;
CREATE TRIGGER read_generation_catalogue_del AFTER DELETE ON procedure_current BEGIN
    UPDATE services_read_generations SET catalogue = MAX(catalogue + 1, CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)) WHERE id = 1;
END;
--@ postgres
INSERT INTO services_read_generations (id, calendar, catalogue) VALUES (1,
    (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
    (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
CREATE FUNCTION read_generation_calendar() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE services_read_generations SET calendar = GREATEST(calendar + 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint) WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE FUNCTION read_generation_catalogue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE services_read_generations SET catalogue = GREATEST(catalogue + 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint) WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER read_generation_calendar AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON calendar_overrides FOR EACH STATEMENT EXECUTE FUNCTION read_generation_calendar();
CREATE TRIGGER read_generation_catalogue AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON procedure_current FOR EACH STATEMENT EXECUTE FUNCTION read_generation_catalogue();
--@ all
