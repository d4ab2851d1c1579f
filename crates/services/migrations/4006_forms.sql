-- Form 04 (phiếu xin lỗi và hẹn lại ngày trả kết quả): an apology moves `due_date` to the new
-- promised date; the date first promised is kept here (set on the first apology, moved with
-- supplement pauses like `due_date`) and stays the measure of the Decision 766 on-time rate.
ALTER TABLE dossiers ADD COLUMN original_due_date TEXT;
-- The finished-dossiers covering index, now with the measured date.
DROP INDEX dossiers_finished_cover;
CREATE INDEX dossiers_finished_cover ON dossiers (agency_code, finished_at, status, supplement_count, due_date, original_due_date);
