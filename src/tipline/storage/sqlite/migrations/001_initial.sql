-- Tips and everything derived from them hold no chat id, user id, name, username or phone number.

CREATE TABLE tips (
    id                 INTEGER PRIMARY KEY,
    code               TEXT    NOT NULL UNIQUE,
    status             TEXT    NOT NULL DEFAULT 'new',
    category           TEXT    NOT NULL,
    urgency            TEXT    NOT NULL,
    province_code      INTEGER NOT NULL,
    commune_code       INTEGER,
    address            TEXT,
    latitude           REAL,
    longitude          REAL,
    description        TEXT    NOT NULL,
    language           TEXT    NOT NULL,
    channel            TEXT    NOT NULL,
    passphrase_hash    TEXT    NOT NULL,
    sender_recent_tips INTEGER NOT NULL DEFAULT 0,
    priority           INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL
);
CREATE INDEX tips_status ON tips (status, priority DESC, created_at);
CREATE INDEX tips_commune ON tips (commune_code, created_at);

CREATE TABLE evidence (
    id          INTEGER PRIMARY KEY,
    tip_id      INTEGER NOT NULL REFERENCES tips (id) ON DELETE CASCADE,
    followup_id INTEGER REFERENCES followups (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    ref         TEXT    NOT NULL,
    size        INTEGER,
    mime        TEXT,
    name        TEXT,
    added_at    TEXT    NOT NULL
);
CREATE INDEX evidence_tip ON evidence (tip_id);

CREATE TABLE followups (
    id         INTEGER PRIMARY KEY,
    tip_id     INTEGER NOT NULL REFERENCES tips (id) ON DELETE CASCADE,
    text       TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX followups_tip ON followups (tip_id);

-- Messages between moderators and the tipster, relayed without either side's identity.
CREATE TABLE tip_messages (
    id           INTEGER PRIMARY KEY,
    tip_id       INTEGER NOT NULL REFERENCES tips (id) ON DELETE CASCADE,
    direction    TEXT    NOT NULL CHECK (direction IN ('to_tipster', 'from_tipster')),
    text         TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    delivered_at TEXT
);
CREATE INDEX tip_messages_tip ON tip_messages (tip_id);

-- The only link from a chat to a tip, for tipsters who opted in to updates: sealed with the server
-- secret, indexed by a keyed hash, deleted when the tip closes or with /forget.
CREATE TABLE subscriptions (
    id         INTEGER PRIMARY KEY,
    tip_id     INTEGER NOT NULL REFERENCES tips (id) ON DELETE CASCADE,
    chat_key   TEXT    NOT NULL,
    sealed_ref BLOB    NOT NULL,
    created_at TEXT    NOT NULL,
    UNIQUE (tip_id, chat_key)
);
CREATE INDEX subscriptions_chat ON subscriptions (chat_key);

-- Per-chat conversation state (drafts, language), keyed by a keyed pseudonym, purged when it expires.
CREATE TABLE sessions (
    pseudonym  TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Expiring counters for flood control and rate limits (keys are pseudonyms or tip codes).
CREATE TABLE counters (
    key        TEXT    NOT NULL,
    window     INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key, window)
);
CREATE INDEX counters_expiry ON counters (expires_at);
