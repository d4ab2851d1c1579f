-- Daily roll-up of the Decision 766 counts (tổng hợp chỉ số theo ngày): one row per agency and
-- local day, each counter on the day its own date falls (finished, received, returned, rated),
-- as in `indicators::counts_from_dossiers`. Triggers mark every day a change touches in
-- `rollup_marks` (store migration 1002); `indicators::refresh_rollup` recomputes the marked days.
CREATE TABLE dossier_day_counts (
    agency_code TEXT NOT NULL,
    day BIGINT NOT NULL,
    finished BIGINT NOT NULL,
    on_time BIGINT NOT NULL,
    complained BIGINT NOT NULL,
    received BIGINT NOT NULL,
    online BIGINT NOT NULL,
    with_fee BIGINT NOT NULL,
    paid_online BIGINT NOT NULL,
    returned BIGINT NOT NULL,
    electronic BIGINT NOT NULL,
    digitised BIGINT NOT NULL,
    rated_very BIGINT NOT NULL,
    rated_satisfied BIGINT NOT NULL,
    rated_unsatisfied BIGINT NOT NULL,
    PRIMARY KEY (agency_code, day)
--@ sqlite
-- Stored in key order (no rowid): a window's rows are read straight from the table, in
-- agency order, with no second lookup and no sort for the grouping.
) WITHOUT ROWID;
--@ postgres
);
--@ all
CREATE INDEX dossier_day_counts_day ON dossier_day_counts (day, agency_code);

-- The days already in the data are marked, so the first refresh builds them.
INSERT INTO rollup_marks (rollup, scope, day, gen, done)
SELECT 'services', a, d, 1, 0 FROM (
    SELECT agency_code AS a, ((submitted_at + 25200000000) / 86400000000) AS d FROM dossiers
    UNION SELECT agency_code, ((finished_at + 25200000000) / 86400000000) FROM dossiers
    UNION SELECT agency_code, ((returned_at + 25200000000) / 86400000000) FROM dossiers
    UNION SELECT agency_code, ((rated_at + 25200000000) / 86400000000) FROM dossier_ratings
) AS k WHERE d IS NOT NULL
ON CONFLICT (rollup, scope, day) DO NOTHING;

--@ sqlite
CREATE TRIGGER rollup_dossiers_ins AFTER INSERT ON dossiers BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT NEW.agency_code AS a, ((NEW.submitted_at + 25200000000) / 86400000000) AS d UNION SELECT NEW.agency_code, ((NEW.finished_at + 25200000000) / 86400000000) UNION SELECT NEW.agency_code, ((NEW.returned_at + 25200000000) / 86400000000)) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_dossiers_upd AFTER UPDATE OF status, agency_code, channel, submitted_at, finished_at, returned_at, supplement_count, due_date, original_due_date, fee_vnd, paid_vnd ON dossiers BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT OLD.agency_code AS a, ((OLD.submitted_at + 25200000000) / 86400000000) AS d UNION SELECT OLD.agency_code, ((OLD.finished_at + 25200000000) / 86400000000) UNION SELECT OLD.agency_code, ((OLD.returned_at + 25200000000) / 86400000000)) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT NEW.agency_code AS a, ((NEW.submitted_at + 25200000000) / 86400000000) AS d UNION SELECT NEW.agency_code, ((NEW.finished_at + 25200000000) / 86400000000) UNION SELECT NEW.agency_code, ((NEW.returned_at + 25200000000) / 86400000000)) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_feedback_ins AFTER INSERT ON feedback BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.finished_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = NEW.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_feedback_upd AFTER UPDATE OF kind, status, dossier_code ON feedback BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.finished_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = OLD.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.finished_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = NEW.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_feedback_del AFTER DELETE ON feedback BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.finished_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = OLD.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_dossier_results_ins AFTER INSERT ON dossier_results BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.returned_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = NEW.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_dossier_results_upd AFTER UPDATE OF revoked_at, dossier_code ON dossier_results BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.returned_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = OLD.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.returned_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = NEW.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_dossier_results_del AFTER DELETE ON dossier_results BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.returned_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = OLD.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_dossier_files_ins AFTER INSERT ON dossier_files BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.returned_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = NEW.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_dossier_files_del AFTER DELETE ON dossier_files BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.returned_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = OLD.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_dossier_ratings_ins AFTER INSERT ON dossier_ratings BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT NEW.agency_code AS a, ((NEW.rated_at + 25200000000) / 86400000000) AS d) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_dossier_ratings_upd AFTER UPDATE ON dossier_ratings BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT OLD.agency_code AS a, ((OLD.rated_at + 25200000000) / 86400000000) AS d) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT NEW.agency_code AS a, ((NEW.rated_at + 25200000000) / 86400000000) AS d) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_dossier_ratings_del AFTER DELETE ON dossier_ratings BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT OLD.agency_code AS a, ((OLD.rated_at + 25200000000) / 86400000000) AS d) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
--@ postgres
CREATE FUNCTION rollup_dossiers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT OLD.agency_code AS a, ((OLD.submitted_at + 25200000000) / 86400000000) AS d UNION SELECT OLD.agency_code, ((OLD.finished_at + 25200000000) / 86400000000) UNION SELECT OLD.agency_code, ((OLD.returned_at + 25200000000) / 86400000000)) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT NEW.agency_code AS a, ((NEW.submitted_at + 25200000000) / 86400000000) AS d UNION SELECT NEW.agency_code, ((NEW.finished_at + 25200000000) / 86400000000) UNION SELECT NEW.agency_code, ((NEW.returned_at + 25200000000) / 86400000000)) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER rollup_dossiers_ins AFTER INSERT ON dossiers FOR EACH ROW EXECUTE FUNCTION rollup_dossiers();
CREATE TRIGGER rollup_dossiers_upd AFTER UPDATE OF status, agency_code, channel, submitted_at, finished_at, returned_at, supplement_count, due_date, original_due_date, fee_vnd, paid_vnd ON dossiers FOR EACH ROW EXECUTE FUNCTION rollup_dossiers();
CREATE FUNCTION rollup_feedback() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.finished_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = OLD.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.finished_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = NEW.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER rollup_feedback_ins AFTER INSERT ON feedback FOR EACH ROW EXECUTE FUNCTION rollup_feedback();
CREATE TRIGGER rollup_feedback_upd AFTER UPDATE OF kind, status, dossier_code ON feedback FOR EACH ROW EXECUTE FUNCTION rollup_feedback();
CREATE TRIGGER rollup_feedback_del AFTER DELETE ON feedback FOR EACH ROW EXECUTE FUNCTION rollup_feedback();
CREATE FUNCTION rollup_dossier_results() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.returned_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = OLD.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.returned_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = NEW.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER rollup_dossier_results_ins AFTER INSERT ON dossier_results FOR EACH ROW EXECUTE FUNCTION rollup_dossier_results();
CREATE TRIGGER rollup_dossier_results_upd AFTER UPDATE OF revoked_at, dossier_code ON dossier_results FOR EACH ROW EXECUTE FUNCTION rollup_dossier_results();
CREATE TRIGGER rollup_dossier_results_del AFTER DELETE ON dossier_results FOR EACH ROW EXECUTE FUNCTION rollup_dossier_results();
CREATE FUNCTION rollup_dossier_files() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.returned_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = OLD.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT x.agency_code AS a, ((x.returned_at + 25200000000) / 86400000000) AS d FROM dossiers x WHERE x.code = NEW.dossier_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER rollup_dossier_files_ins AFTER INSERT ON dossier_files FOR EACH ROW EXECUTE FUNCTION rollup_dossier_files();
CREATE TRIGGER rollup_dossier_files_del AFTER DELETE ON dossier_files FOR EACH ROW EXECUTE FUNCTION rollup_dossier_files();
CREATE FUNCTION rollup_dossier_ratings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT OLD.agency_code AS a, ((OLD.rated_at + 25200000000) / 86400000000) AS d) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'services', a, d, 1, 0 FROM (SELECT NEW.agency_code AS a, ((NEW.rated_at + 25200000000) / 86400000000) AS d) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER rollup_dossier_ratings_ins AFTER INSERT ON dossier_ratings FOR EACH ROW EXECUTE FUNCTION rollup_dossier_ratings();
CREATE TRIGGER rollup_dossier_ratings_upd AFTER UPDATE ON dossier_ratings FOR EACH ROW EXECUTE FUNCTION rollup_dossier_ratings();
CREATE TRIGGER rollup_dossier_ratings_del AFTER DELETE ON dossier_ratings FOR EACH ROW EXECUTE FUNCTION rollup_dossier_ratings();
--@ all
