-- The operations centre's overdue counter (`tinhso_services::indicators::overdue_open`:
-- open dossiers — statuses 1, 2, 4, 6 — past their promised date) read every open dossier's
-- row of the whole dossiers table: no index leads with the status or the due date, so
-- PostgreSQL scanned the table (40–50 ms for 100,000 dossiers in a debug run, on every view
-- of the screen). A partial index over the open dossiers only: small (open dossiers are few
-- against the finished history), and both engines use it for the counter's exact predicate.
CREATE INDEX dossiers_open_due ON dossiers (due_date) WHERE status IN (1, 2, 4, 6);
