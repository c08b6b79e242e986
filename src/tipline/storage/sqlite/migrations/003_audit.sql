-- The audit log: who did what to which tip, and when. Append-only and hash-chained (see tipline/audit.py).
-- actor_id is an internal staff id, a police unit id, or '' for the anonymous tipster: never a chat id.
-- detail is a short note (a reason code, a unit id), never tip text or personal data.

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,    -- AUTOINCREMENT: an id is never reused
    at          TEXT    NOT NULL,                     -- ISO 8601 with offset (UTC)
    actor_role  TEXT    NOT NULL CHECK (actor_role IN ('admin', 'moderator', 'unit', 'tipster', 'system')),
    actor_id    TEXT    NOT NULL DEFAULT '',
    tip_code    TEXT,                                 -- NULL for actions on no tip
    action      TEXT    NOT NULL,
    from_status TEXT,
    to_status   TEXT,
    detail      TEXT    NOT NULL DEFAULT '',
    prev_hash   TEXT    NOT NULL UNIQUE,              -- UNIQUE: one chain, no forks
    hash        TEXT    NOT NULL UNIQUE,
    mac         TEXT,                                 -- HMAC of hash under a key derived from the server secret
    CHECK (actor_role <> 'tipster' OR actor_id = '')
);
CREATE INDEX audit_log_tip ON audit_log (tip_code, id);

-- Append-only for everyone using SQL: changing or removing an entry aborts the statement.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
