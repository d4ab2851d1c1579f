-- Crossing slots (khung giờ thông quan), bookings, the standby queue and queue calls.
-- Capacities are never stored here: they are computed at booking time from
-- border_gate_capacity, the gate's opening hours and border_slot_overrides, and passed to the
-- conditional UPDATEs below (`booked < capacity`), which makes the last seat race-safe on
-- both engines. Times are Unix microseconds; hour_start is the UTC instant an hour begins.

-- Per-hour capacity set by the management board (e.g. the Chinese side closes an hour).
CREATE TABLE border_slot_overrides (
    gate_code TEXT NOT NULL REFERENCES border_gates (code),
    -- export | import | transit | transshipment
    direction TEXT NOT NULL,
    hour_start BIGINT NOT NULL,
    -- Vehicles this hour; 0 closes the hour.
    capacity BIGINT NOT NULL,
    reason TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at BIGINT NOT NULL,
    PRIMARY KEY (gate_code, direction, hour_start)
);

-- Seats taken per gate, direction and hour (created on the first booking).
CREATE TABLE border_slots (
    gate_code TEXT NOT NULL REFERENCES border_gates (code),
    direction TEXT NOT NULL,
    hour_start BIGINT NOT NULL,
    booked BIGINT NOT NULL,
    booked_perishable BIGINT NOT NULL,
    PRIMARY KEY (gate_code, direction, hour_start)
);

-- Seats taken per gate, direction and local day (days since 1970-01-01, UTC+7), against per_day.
CREATE TABLE border_slot_days (
    gate_code TEXT NOT NULL REFERENCES border_gates (code),
    direction TEXT NOT NULL,
    day BIGINT NOT NULL,
    booked BIGINT NOT NULL,
    PRIMARY KEY (gate_code, direction, day)
);

CREATE TABLE border_bookings (
    id TEXT PRIMARY KEY,
    trip_id TEXT NOT NULL REFERENCES border_trips (id),
    gate_code TEXT NOT NULL REFERENCES border_gates (code),
    direction TEXT NOT NULL,
    hour_start BIGINT NOT NULL,
    perishable BIGINT NOT NULL,
    -- active | cancelled | rescheduled | no_show | released (trip cancelled) | used (crossed)
    status TEXT NOT NULL,
    -- 1 once the trip's one grace extension (gia hạn) was granted; carried to a rescheduled slot.
    grace_used BIGINT NOT NULL,
    -- The latest arrival before the booking is a no-show (slot end + grace, + extension).
    arrive_by BIGINT NOT NULL,
    -- from_standby when a standby truck was given a freed seat.
    source TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A trip holds at most one active booking (a racing second booking is a unique violation).
CREATE UNIQUE INDEX border_bookings_one_active ON border_bookings (trip_id) WHERE status = 'active';
CREATE INDEX border_bookings_due ON border_bookings (status, arrive_by);
CREATE INDEX border_bookings_slot ON border_bookings (gate_code, direction, hour_start, status);

-- The standby queue (hàng chờ dự phòng): trucks without a seat, seated first-come (perishables
-- first) when a seat frees.
CREATE TABLE border_standby (
    trip_id TEXT PRIMARY KEY REFERENCES border_trips (id),
    gate_code TEXT NOT NULL REFERENCES border_gates (code),
    direction TEXT NOT NULL,
    perishable BIGINT NOT NULL,
    since BIGINT NOT NULL,
    -- no_show | joined
    reason TEXT NOT NULL,
    -- waiting | seated | left
    status TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX border_standby_waiting ON border_standby (gate_code, direction, status, since);

-- A truck called forward when it became N-th in line: once per trip.
CREATE TABLE border_queue_calls (
    trip_id TEXT PRIMARY KEY REFERENCES border_trips (id),
    position BIGINT NOT NULL,
    called_at BIGINT NOT NULL
);

-- The queue and the wait-time feed read trips by stage across gates, and crossings of the last
-- hour by stage and time: without these both would scan every trip and stage ever recorded.
CREATE INDEX border_trips_stage ON border_trips (stage, gate_code, direction);
CREATE INDEX border_trip_stages_stage_at ON border_trip_stages (stage, at);
