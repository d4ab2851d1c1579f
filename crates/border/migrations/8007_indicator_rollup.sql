-- Daily roll-up of the border gate's counts (tổng hợp cửa khẩu theo ngày), one set of rows per
-- gate and local day, as `indicators::shares` counts them from the raw rows:
--   crossed / booked / fee_paid   trips whose crossing fell on the day, per quarantine class
--   check                         their checks decided on the platform, per quarantine and kind
--   undeclared                    crossing-camera reads of the day that matched no declared trip
--   agency                        checks decided on the day, per deciding agency
-- Triggers mark every (gate, day) a change touches in `rollup_marks` (store migration 1002);
-- `indicators::refresh_rollup` recomputes the marked days.
CREATE TABLE border_day_counts (
    gate_code TEXT NOT NULL,
    day BIGINT NOT NULL,
    measure TEXT NOT NULL,
    quarantine TEXT NOT NULL,
    -- The check kind (measure check) or the agency code (measure agency); '' otherwise.
    item TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (gate_code, day, measure, quarantine, item)
--@ sqlite
-- Stored in key order (no rowid): a window's rows are read straight from the table, in
-- agency order, with no second lookup and no sort for the grouping.
) WITHOUT ROWID;
--@ postgres
);
--@ all
CREATE INDEX border_day_counts_day ON border_day_counts (day, gate_code);

-- The days already in the data are marked, so the first refresh builds them.
INSERT INTO rollup_marks (rollup, scope, day, gen, done)
SELECT 'border', a, d, 1, 0 FROM (
    SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s
        JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed'
    UNION SELECT gate_code, ((at + 25200000000) / 86400000000) FROM border_review_queue WHERE stage = 'crossed'
    UNION SELECT gate_code, ((decided_at + 25200000000) / 86400000000) FROM border_checks
) AS k WHERE d IS NOT NULL
ON CONFLICT (rollup, scope, day) DO NOTHING;

--@ sqlite
CREATE TRIGGER rollup_border_trip_stages_ins AFTER INSERT ON border_trip_stages WHEN NEW.stage = 'crossed' BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((NEW.at + 25200000000) / 86400000000) AS d FROM border_trips t WHERE t.id = NEW.trip_id AND NEW.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_border_trip_stages_upd AFTER UPDATE ON border_trip_stages BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((OLD.at + 25200000000) / 86400000000) AS d FROM border_trips t WHERE t.id = OLD.trip_id AND OLD.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((NEW.at + 25200000000) / 86400000000) AS d FROM border_trips t WHERE t.id = NEW.trip_id AND NEW.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_border_trip_stages_del AFTER DELETE ON border_trip_stages BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((OLD.at + 25200000000) / 86400000000) AS d FROM border_trips t WHERE t.id = OLD.trip_id AND OLD.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_border_trips_upd AFTER UPDATE OF gate_code, quarantine ON border_trips BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT OLD.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s WHERE s.trip_id = OLD.id AND s.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT NEW.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s WHERE s.trip_id = NEW.id AND s.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_border_bookings_ins AFTER INSERT ON border_bookings BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND s.trip_id = NEW.trip_id) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_border_bookings_upd AFTER UPDATE OF status, trip_id ON border_bookings BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND s.trip_id = OLD.trip_id) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND s.trip_id = NEW.trip_id) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_border_bookings_del AFTER DELETE ON border_bookings BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND s.trip_id = OLD.trip_id) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_border_fee_payments_ins AFTER INSERT ON border_fee_payments BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND t.code = NEW.trip_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_border_fee_payments_upd AFTER UPDATE OF status, trip_code ON border_fee_payments BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND t.code = OLD.trip_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND t.code = NEW.trip_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_border_fee_payments_del AFTER DELETE ON border_fee_payments BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND t.code = OLD.trip_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_border_checks_ins AFTER INSERT ON border_checks BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND s.trip_id = NEW.trip_id UNION SELECT NEW.gate_code, ((NEW.decided_at + 25200000000) / 86400000000)) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_border_checks_upd AFTER UPDATE ON border_checks BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND s.trip_id = OLD.trip_id UNION SELECT OLD.gate_code, ((OLD.decided_at + 25200000000) / 86400000000)) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND s.trip_id = NEW.trip_id UNION SELECT NEW.gate_code, ((NEW.decided_at + 25200000000) / 86400000000)) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_border_checks_del AFTER DELETE ON border_checks BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND s.trip_id = OLD.trip_id UNION SELECT OLD.gate_code, ((OLD.decided_at + 25200000000) / 86400000000)) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_border_review_queue_ins AFTER INSERT ON border_review_queue WHEN NEW.stage = 'crossed' BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT NEW.gate_code AS a, ((NEW.at + 25200000000) / 86400000000) AS d WHERE NEW.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_border_review_queue_upd AFTER UPDATE OF status, stage, reason, at, gate_code ON border_review_queue BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT OLD.gate_code AS a, ((OLD.at + 25200000000) / 86400000000) AS d WHERE OLD.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT NEW.gate_code AS a, ((NEW.at + 25200000000) / 86400000000) AS d WHERE NEW.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
CREATE TRIGGER rollup_border_review_queue_del AFTER DELETE ON border_review_queue BEGIN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT OLD.gate_code AS a, ((OLD.at + 25200000000) / 86400000000) AS d WHERE OLD.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
END;
--@ postgres
CREATE FUNCTION rollup_border_trip_stages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((OLD.at + 25200000000) / 86400000000) AS d FROM border_trips t WHERE t.id = OLD.trip_id AND OLD.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((NEW.at + 25200000000) / 86400000000) AS d FROM border_trips t WHERE t.id = NEW.trip_id AND NEW.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER rollup_border_trip_stages_ins AFTER INSERT ON border_trip_stages FOR EACH ROW WHEN (NEW.stage = 'crossed') EXECUTE FUNCTION rollup_border_trip_stages();
CREATE TRIGGER rollup_border_trip_stages_upd AFTER UPDATE ON border_trip_stages FOR EACH ROW EXECUTE FUNCTION rollup_border_trip_stages();
CREATE TRIGGER rollup_border_trip_stages_del AFTER DELETE ON border_trip_stages FOR EACH ROW EXECUTE FUNCTION rollup_border_trip_stages();
CREATE FUNCTION rollup_border_trips() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT OLD.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s WHERE s.trip_id = OLD.id AND s.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT NEW.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s WHERE s.trip_id = NEW.id AND s.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER rollup_border_trips_upd AFTER UPDATE OF gate_code, quarantine ON border_trips FOR EACH ROW EXECUTE FUNCTION rollup_border_trips();
CREATE FUNCTION rollup_border_bookings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND s.trip_id = OLD.trip_id) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND s.trip_id = NEW.trip_id) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER rollup_border_bookings_ins AFTER INSERT ON border_bookings FOR EACH ROW EXECUTE FUNCTION rollup_border_bookings();
CREATE TRIGGER rollup_border_bookings_upd AFTER UPDATE OF status, trip_id ON border_bookings FOR EACH ROW EXECUTE FUNCTION rollup_border_bookings();
CREATE TRIGGER rollup_border_bookings_del AFTER DELETE ON border_bookings FOR EACH ROW EXECUTE FUNCTION rollup_border_bookings();
CREATE FUNCTION rollup_border_fee_payments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND t.code = OLD.trip_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND t.code = NEW.trip_code) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER rollup_border_fee_payments_ins AFTER INSERT ON border_fee_payments FOR EACH ROW EXECUTE FUNCTION rollup_border_fee_payments();
CREATE TRIGGER rollup_border_fee_payments_upd AFTER UPDATE OF status, trip_code ON border_fee_payments FOR EACH ROW EXECUTE FUNCTION rollup_border_fee_payments();
CREATE TRIGGER rollup_border_fee_payments_del AFTER DELETE ON border_fee_payments FOR EACH ROW EXECUTE FUNCTION rollup_border_fee_payments();
CREATE FUNCTION rollup_border_checks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND s.trip_id = OLD.trip_id UNION SELECT OLD.gate_code, ((OLD.decided_at + 25200000000) / 86400000000)) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT t.gate_code AS a, ((s.at + 25200000000) / 86400000000) AS d FROM border_trip_stages s JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND s.trip_id = NEW.trip_id UNION SELECT NEW.gate_code, ((NEW.decided_at + 25200000000) / 86400000000)) AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER rollup_border_checks_ins AFTER INSERT ON border_checks FOR EACH ROW EXECUTE FUNCTION rollup_border_checks();
CREATE TRIGGER rollup_border_checks_upd AFTER UPDATE ON border_checks FOR EACH ROW EXECUTE FUNCTION rollup_border_checks();
CREATE TRIGGER rollup_border_checks_del AFTER DELETE ON border_checks FOR EACH ROW EXECUTE FUNCTION rollup_border_checks();
CREATE FUNCTION rollup_border_review_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT OLD.gate_code AS a, ((OLD.at + 25200000000) / 86400000000) AS d WHERE OLD.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_marks (rollup, scope, day, gen, done)
    SELECT 'border', a, d, 1, 0 FROM (SELECT NEW.gate_code AS a, ((NEW.at + 25200000000) / 86400000000) AS d WHERE NEW.stage = 'crossed') AS k WHERE d IS NOT NULL
    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER rollup_border_review_queue_ins AFTER INSERT ON border_review_queue FOR EACH ROW WHEN (NEW.stage = 'crossed') EXECUTE FUNCTION rollup_border_review_queue();
CREATE TRIGGER rollup_border_review_queue_upd AFTER UPDATE OF status, stage, reason, at, gate_code ON border_review_queue FOR EACH ROW EXECUTE FUNCTION rollup_border_review_queue();
CREATE TRIGGER rollup_border_review_queue_del AFTER DELETE ON border_review_queue FOR EACH ROW EXECUTE FUNCTION rollup_border_review_queue();
--@ all
