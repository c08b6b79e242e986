-- The moderator queue: triage results, claims, forwarding, deadlines, staff and the messages (cards)
-- that show a tip to moderators and police. Staff are identified people; tipsters still are not.

ALTER TABLE tips ADD COLUMN claimed_by INTEGER REFERENCES staff (id);
ALTER TABLE tips ADD COLUMN triage TEXT NOT NULL DEFAULT '{}';       -- JSON: priority reasons, spam signals
ALTER TABLE tips ADD COLUMN duplicate_of INTEGER REFERENCES tips (id);
ALTER TABLE tips ADD COLUMN unit_id INTEGER;                          -- the police unit it was forwarded to
ALTER TABLE tips ADD COLUMN outcome TEXT;                             -- verified / not_verified / transferred
ALTER TABLE tips ADD COLUMN forwarded_at TEXT;
ALTER TABLE tips ADD COLUMN acknowledged_at TEXT;
ALTER TABLE tips ADD COLUMN closed_at TEXT;
ALTER TABLE tips ADD COLUMN search_text TEXT NOT NULL DEFAULT '';     -- folded description, for /find

CREATE TABLE staff (
    id         INTEGER PRIMARY KEY,
    channel    TEXT    NOT NULL,
    user_ref   TEXT    NOT NULL,              -- the staff member's Telegram user id
    name       TEXT    NOT NULL DEFAULT '',
    role       TEXT    NOT NULL CHECK (role IN ('admin', 'moderator', 'broadcaster')),
    active     INTEGER NOT NULL DEFAULT 1,    -- 0: removed by an admin (also overrides group membership)
    added_at   TEXT    NOT NULL,
    UNIQUE (channel, user_ref, role)
);

CREATE TABLE duplicate_candidates (
    tip_id   INTEGER NOT NULL REFERENCES tips (id) ON DELETE CASCADE,
    other_id INTEGER NOT NULL REFERENCES tips (id) ON DELETE CASCADE,
    score    REAL    NOT NULL,
    PRIMARY KEY (tip_id, other_id)
);

-- Where a tip is shown: the moderators' card (or forum topic) and the police unit's card.
CREATE TABLE cards (
    tip_id     INTEGER NOT NULL REFERENCES tips (id) ON DELETE CASCADE,
    audience   TEXT    NOT NULL CHECK (audience IN ('moderators', 'unit')),
    chat_id    INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    thread_id  INTEGER,
    rendered   TEXT    NOT NULL DEFAULT '',   -- hash of what the card shows, to skip edits that change nothing
    PRIMARY KEY (tip_id, audience)
);

-- Deadlines, kept in the database so that reminders and escalations survive restarts.
CREATE TABLE deadlines (
    id      INTEGER PRIMARY KEY,
    tip_id  INTEGER NOT NULL REFERENCES tips (id) ON DELETE CASCADE,
    kind    TEXT    NOT NULL CHECK (kind IN ('acknowledge', 'outcome')),
    due_at  TEXT    NOT NULL,
    reminded_at  TEXT,
    escalated_at TEXT,
    met_at  TEXT,
    UNIQUE (tip_id, kind)
);
CREATE INDEX deadlines_due ON deadlines (met_at, due_at);

-- Everything the bot must still tell someone, written in the same transaction as the change that
-- caused it, and delivered (then marked) by the channel adapter: nothing is lost to a crash or an
-- outage. kind 'card' asks for the tip's card to be posted or refreshed; 'text' carries a message.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    audience     TEXT    NOT NULL CHECK (audience IN ('moderators', 'unit', 'tipster')),
    tip_id       INTEGER REFERENCES tips (id) ON DELETE CASCADE,
    unit_id      INTEGER,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL DEFAULT '{}',
    created_at   TEXT    NOT NULL,
    delivered_at TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_pending ON outbox (delivered_at, id);
