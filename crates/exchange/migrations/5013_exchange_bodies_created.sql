-- Retention of kept bodies (thời hạn lưu nội dung): the daily job deletes those older than
-- `[exchange] kept_bodies_days` by their creation time.
CREATE INDEX exchange_bodies_created ON exchange_bodies (created_at);
