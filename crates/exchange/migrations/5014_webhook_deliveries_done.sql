-- Retention of delivered webhooks (thời hạn lưu lần gửi thành công): the daily job deletes the
-- deliveries delivered longer than `[exchange.webhooks] delivered_webhooks_days` ago, by status
-- and the time of delivery.
CREATE INDEX exchange_webhook_deliveries_done ON exchange_webhook_deliveries (status, updated_at);
