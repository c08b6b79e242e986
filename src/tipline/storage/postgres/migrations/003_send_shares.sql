-- The campaign senders delivering at this moment, one row each, so that the workers sharing this database
-- split the channel's global send rate among themselves (one budget, not one per process). A row is renewed
-- every second while its sender delivers and is dropped when it stops; a row not renewed for a few seconds
-- (its worker died) no longer counts. Nothing here names a person.
CREATE TABLE send_shares (
    owner   TEXT PRIMARY KEY,  -- host:pid:random of one sender
    channel TEXT NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL
);

-- The text the author's progress message shows (or is being changed to): workers delivering one campaign
-- change it in turn, each only when its text differs (compare and set), so that the message is sent once and
-- never edited to the text it already shows (Telegram refuses that).
ALTER TABLE outreach_campaigns ADD COLUMN progress_text TEXT;

-- A stopped subscriber's row leads to no chat: its keyed hash goes when it stops (a random key takes its place),
-- also for those who stopped before this migration.
UPDATE outreach_subscribers SET chat_key = 'stopped:' || md5(random()::text || id::text) WHERE NOT active;
