-- Webhook updates already taken in, so that one the platform posts again (it timed out waiting for our
-- answer, or retried) is processed once, also across a restart. The key is a hash of the channel and the
-- update's own id (Telegram's update_id, Zalo's message_id), never a chat id; rows are purged after a few days.
CREATE TABLE webhook_updates (
    key     TEXT PRIMARY KEY,
    seen_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX webhook_updates_seen ON webhook_updates (seen_at);
