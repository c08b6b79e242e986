-- One core, many channels: chats are (channel, chat) pairs in text (Telegram's integers and Zalo's hex
-- strings alike), the outbox carries a kind with a priority, a next attempt and a lease, and the
-- prompts staff answer are kept on the server instead of being read back out of message text.
-- (Run with foreign keys off; the runner checks them before committing.)

-- The outbox: most urgent first, retried with backoff, leased so that two workers never send one item.
CREATE TABLE outbox_new (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL,
    priority        INTEGER NOT NULL,
    channel         TEXT,                 -- the channel it goes out on, when known: only its workers take it
    audience        TEXT    NOT NULL CHECK (audience IN ('moderators', 'unit', 'tipster')),
    tip_id          INTEGER REFERENCES tips (id) ON DELETE CASCADE,
    unit_id         INTEGER,
    payload         TEXT    NOT NULL DEFAULT '{}',
    created_at      TEXT    NOT NULL,
    next_attempt_at TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_until     TEXT,
    delivered_at    TEXT,
    failed_at       TEXT,
    failure         TEXT
);
INSERT INTO outbox_new (id, kind, priority, audience, tip_id, unit_id, payload, created_at, next_attempt_at,
                        attempts, delivered_at, failed_at, failure)
SELECT id,
       CASE WHEN audience = 'tipster' THEN 'tipster_news' WHEN kind = 'card' THEN 'card' ELSE 'staff_text' END,
       CASE WHEN audience = 'tipster' THEN 1 ELSE 0 END,
       audience, tip_id, unit_id, payload, created_at, created_at, attempts, delivered_at,
       CASE WHEN delivered_at IS NULL AND attempts >= 10 THEN created_at END,
       CASE WHEN delivered_at IS NULL AND attempts >= 10 THEN 'gave up before the upgrade' END
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (priority, next_attempt_at, id) WHERE delivered_at IS NULL AND failed_at IS NULL;
UPDATE outbox SET channel = 'telegram' WHERE audience = 'moderators';

-- Where each tip's card is, as the channel names it.
CREATE TABLE cards_new (
    tip_id   INTEGER NOT NULL REFERENCES tips (id) ON DELETE CASCADE,
    audience TEXT    NOT NULL CHECK (audience IN ('moderators', 'unit')),
    channel  TEXT    NOT NULL,
    chat     TEXT    NOT NULL,
    thread   TEXT,
    message  TEXT    NOT NULL,
    digest   TEXT    NOT NULL DEFAULT '',   -- what the card shows, to skip edits that change nothing
    PRIMARY KEY (tip_id, audience)
);
INSERT INTO cards_new (tip_id, audience, channel, chat, thread, message, digest)
SELECT tip_id, audience, 'telegram', CAST(chat_id AS TEXT), CAST(thread_id AS TEXT), CAST(message_id AS TEXT), rendered
FROM cards;
DROP TABLE cards;
ALTER TABLE cards_new RENAME TO cards;
CREATE INDEX cards_message ON cards (channel, chat, message);

-- A police unit's chat on any channel.
CREATE TABLE units_new (
    id            INTEGER PRIMARY KEY,
    code          TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    name          TEXT    NOT NULL,
    province_code INTEGER NOT NULL,
    chat_channel  TEXT,
    chat          TEXT,
    linked_at     TEXT,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    UNIQUE (chat_channel, chat)
);
INSERT INTO units_new (id, code, name, province_code, chat_channel, chat, linked_at, active, created_at, updated_at)
SELECT id, code, name, province_code, CASE WHEN chat_id IS NOT NULL THEN 'telegram' END, CAST(chat_id AS TEXT),
       linked_at, active, created_at, updated_at
FROM units;
DROP TABLE units;
ALTER TABLE units_new RENAME TO units;
CREATE INDEX units_province ON units (province_code, code);

-- Questions the bot asked a staff member or a unit: only a reply to that very message, by the person
-- who asked for it, before it expires, acts. Nothing is ever parsed back out of message text.
CREATE TABLE prompts (
    id         INTEGER PRIMARY KEY,
    channel    TEXT    NOT NULL,
    chat       TEXT    NOT NULL,
    message    TEXT    NOT NULL,
    thread     TEXT,
    action     TEXT    NOT NULL,
    tip_id     INTEGER NOT NULL REFERENCES tips (id) ON DELETE CASCADE,
    actor_role TEXT    NOT NULL,
    actor_id   INTEGER NOT NULL,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    used_at    TEXT,
    UNIQUE (channel, chat, message)
);
CREATE INDEX prompts_expiry ON prompts (expires_at);
