-- The police unit directory: commune police units ("Công an xã/phường/đặc khu"), the communes each one
-- covers, and one-time invites that link a unit's Telegram chat. These are identified officials, not
-- tipsters: their chat ids are kept in clear so that forwarded tips reach them.

CREATE TABLE units (
    id            INTEGER PRIMARY KEY,
    code          TEXT    NOT NULL COLLATE NOCASE UNIQUE,   -- as given by the CSV, e.g. CA-31117
    name          TEXT    NOT NULL,
    province_code INTEGER NOT NULL,                         -- official province code (34 since 2025-07-01)
    chat_id       INTEGER UNIQUE,                           -- the unit's Telegram chat, once linked
    linked_at     TEXT,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);
CREATE INDEX units_province ON units (province_code, code);

-- A commune is covered by at most one unit.
CREATE TABLE unit_communes (
    unit_id      INTEGER NOT NULL REFERENCES units (id) ON DELETE CASCADE,
    commune_code INTEGER NOT NULL UNIQUE
);
CREATE INDEX unit_communes_unit ON unit_communes (unit_id);

-- One-time codes a moderator gives a unit, sent to the bot from the unit's chat (/link UNIT-XXXX-XXXX).
-- Only a keyed hash of the code is stored, never the code.
CREATE TABLE unit_invites (
    id         INTEGER PRIMARY KEY,
    unit_id    INTEGER NOT NULL REFERENCES units (id) ON DELETE CASCADE,
    code_hash  TEXT    NOT NULL UNIQUE,
    created_by TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    used_at    TEXT
);
CREATE INDEX unit_invites_unit ON unit_invites (unit_id);
