-- Informant protection. Nothing beside a tip may be derived from a chat, timestamps kept next to
-- pseudonyms say no more than the hour, a changed server secret is noticed, and deleted data does not
-- linger in the file (secure_delete is set on every connection).

-- Tip updates: the sealed chat reference only. /forget finds a chat's links by unsealing them.
CREATE TABLE subscriptions_new (
    id         INTEGER PRIMARY KEY,
    tip_id     INTEGER NOT NULL REFERENCES tips (id) ON DELETE CASCADE,
    sealed_ref BLOB    NOT NULL,
    created_at TEXT    NOT NULL                 -- the hour only
);
INSERT INTO subscriptions_new (id, tip_id, sealed_ref, created_at)
SELECT id, tip_id, sealed_ref, strftime('%Y-%m-%dT%H:00:00+00:00', created_at) FROM subscriptions;
DROP TABLE subscriptions;
ALTER TABLE subscriptions_new RENAME TO subscriptions;
CREATE INDEX subscriptions_tip ON subscriptions (tip_id);

-- Sessions say no more than the hour; counters keyed by a pseudonym are kept in memory from now on.
UPDATE sessions SET updated_at = strftime('%Y-%m-%dT%H:00:00+00:00', updated_at),
                    expires_at = strftime('%Y-%m-%dT%H:00:00+00:00', expires_at);
DELETE FROM counters WHERE key LIKE 'flood:%' OR key LIKE 'pass:%' OR key LIKE 'passcode:%';

-- Slowdowns that decay with time (a code's wrong passphrases from anywhere): keyed by a keyed hash, never
-- by a pseudonym.
CREATE TABLE throttles (
    key        TEXT PRIMARY KEY,
    level      REAL NOT NULL,
    updated_at TEXT NOT NULL
);

-- Facts about the database itself: the fingerprint of the server secret it was written with.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- A linked unit's chat moves to another chat only once an admin confirms.
CREATE TABLE unit_relinks (
    unit_id      INTEGER PRIMARY KEY REFERENCES units (id) ON DELETE CASCADE,
    channel      TEXT    NOT NULL,
    chat         TEXT    NOT NULL,
    requested_at TEXT    NOT NULL
);

-- Closed tips lose their free text, evidence and messages after the retention period; code, status,
-- place and dates stay for the statistics.
ALTER TABLE tips ADD COLUMN redacted_at TEXT;
