-- Camera events: one more index less to write per event (issue #4: events ingested per
-- second). `border_events_trip (trip_id, at)` was read by no query (events are looked up by
-- `event_id` only: duplicates, review decisions), and its random leaf page per event was the
-- largest share of the pages a 1,000-event batch writes to the WAL. A trip's times are in
-- `border_trip_stages`; a page listing a trip's raw reads would add an index back.
DROP INDEX IF EXISTS border_events_trip;
