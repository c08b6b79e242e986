-- Prevention outreach: subscribers, campaigns, each recipient's delivery, poll tallies.
--
-- Subscribers are apart from tips: no column here names a tip, and no tip table names a subscriber.
-- A subscriber's chat is kept only sealed under the server secret (dropped when they stop), found again
-- through a separately keyed hash; consent and every change are dated to the day, never to the minute.
-- Poll answers are counted per place (tallies); no row says who chose what.

CREATE TABLE outreach_subscribers (
    id            INTEGER PRIMARY KEY,
    chat_key      TEXT    NOT NULL UNIQUE,      -- keyed hash of (channel, chat): finds the row, names nobody
    channel       TEXT    NOT NULL,
    sealed_ref    BLOB,                         -- the chat, sealed (AES-GCM); NULL once the subscriber stopped
    province_code INTEGER NOT NULL,
    commune_code  INTEGER,                      -- NULL: the whole province
    audience      TEXT    NOT NULL CHECK (audience IN ('general', 'parent', 'pupil', 'teacher')),
    lang          TEXT    NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    consented_on  TEXT    NOT NULL,             -- a day (YYYY-MM-DD, Vietnam time)
    changed_on    TEXT    NOT NULL
);
CREATE INDEX outreach_subscribers_place ON outreach_subscribers (active, province_code, commune_code);

-- Consent and every change, dated to the day: what was agreed to and when it ended.
CREATE TABLE outreach_subscriber_events (
    id            INTEGER PRIMARY KEY,
    subscriber_id INTEGER NOT NULL REFERENCES outreach_subscribers (id) ON DELETE CASCADE,
    on_day        TEXT    NOT NULL,
    event         TEXT    NOT NULL CHECK (event IN ('consent', 'change', 'stop', 'blocked')),
    detail        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outreach_subscriber_events_of ON outreach_subscriber_events (subscriber_id, id);

-- Campaigns written by broadcasters: content, audience and schedule as JSON, two-person approval.
CREATE TABLE outreach_campaigns (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL CHECK (kind IN ('message', 'poll')),
    status          TEXT    NOT NULL CHECK (status IN
                        ('draft', 'submitted', 'approved', 'running', 'paused', 'done', 'cancelled')),
    title           TEXT    NOT NULL DEFAULT '',
    content         TEXT    NOT NULL DEFAULT '{}',  -- texts by language, buttons, poll options
    image           BLOB,                           -- an image sent with the text, as uploaded
    image_ref       TEXT,                           -- the channel's id for it once uploaded (sent again by id)
    audience        TEXT    NOT NULL DEFAULT '{}',  -- provinces, communes, audiences, languages (empty: all)
    schedule        TEXT    NOT NULL DEFAULT '{}',  -- now | at | monthly
    next_run_at     TEXT,                           -- when the next delivery starts (UTC); NULL: none
    runs            INTEGER NOT NULL DEFAULT 0,     -- deliveries started (a monthly campaign has several)
    author_channel  TEXT    NOT NULL,
    author_ref      TEXT    NOT NULL,               -- the broadcaster's user id (staff are identified officials)
    approver_ref    TEXT,
    draft_step      TEXT,                           -- the guided flow's open question while drafting
    progress_chat   TEXT,                           -- the author's progress message, edited as delivery goes
    progress_message TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
);
CREATE INDEX outreach_campaigns_status ON outreach_campaigns (status, next_run_at);

-- Each delivery of a campaign (a monthly campaign has one per month).
CREATE TABLE outreach_runs (
    campaign_id INTEGER NOT NULL REFERENCES outreach_campaigns (id) ON DELETE CASCADE,
    run         INTEGER NOT NULL,
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    recipients  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, run)
);

-- One row per recipient of one delivery (run) of a campaign: the durable queue. A row goes
-- pending -> sending (leased) -> sent | blocked | failed; a lease that expired (a crash mid-send) makes it
-- 'unknown', never pending again, so nobody gets the same delivery twice. 'skipped': over the weekly cap,
-- stopped meanwhile, or the campaign was cancelled.
CREATE TABLE outreach_recipients (
    id              INTEGER PRIMARY KEY,
    campaign_id     INTEGER NOT NULL REFERENCES outreach_campaigns (id) ON DELETE CASCADE,
    run             INTEGER NOT NULL,
    subscriber_id   INTEGER NOT NULL REFERENCES outreach_subscribers (id) ON DELETE CASCADE,
    province_code   INTEGER NOT NULL,               -- where the subscriber was when the delivery started
    commune_code    INTEGER,
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN
                        ('pending', 'sending', 'sent', 'blocked', 'failed', 'unknown', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    lease_until     TEXT,
    finished_at     TEXT,
    answered        INTEGER NOT NULL DEFAULT 0 CHECK (answered IN (0, 1)),  -- a poll answer was counted
    UNIQUE (campaign_id, run, subscriber_id)
);
CREATE INDEX outreach_recipients_queue ON outreach_recipients (campaign_id, run, state, id);
CREATE INDEX outreach_recipients_week ON outreach_recipients (subscriber_id, finished_at);
CREATE INDEX outreach_recipients_leases ON outreach_recipients (state, lease_until) WHERE state = 'sending';

-- Poll answers as counts per place: who answered is never stored with what they chose.
CREATE TABLE outreach_poll_tallies (
    campaign_id   INTEGER NOT NULL REFERENCES outreach_campaigns (id) ON DELETE CASCADE,
    run           INTEGER NOT NULL,
    option        INTEGER NOT NULL,
    province_code INTEGER NOT NULL,
    commune_code  INTEGER NOT NULL DEFAULT 0,       -- 0: the whole province
    answers       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, run, option, province_code, commune_code)
);

-- The audit log learns one more role, 'broadcaster' (campaigns are audited like tips). SQLite cannot change a
-- CHECK in place: the table is copied as it is (ids, hashes, MACs unchanged, so the chain still verifies), its
-- id counter carried over (a cut-off tail stays detectable), and the append-only triggers recreated.
CREATE TABLE audit_log_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT    NOT NULL,
    actor_role  TEXT    NOT NULL CHECK (actor_role IN ('admin', 'moderator', 'unit', 'broadcaster', 'tipster', 'system')),
    actor_id    TEXT    NOT NULL DEFAULT '',
    tip_code    TEXT,
    action      TEXT    NOT NULL,
    from_status TEXT,
    to_status   TEXT,
    detail      TEXT    NOT NULL DEFAULT '',
    prev_hash   TEXT    NOT NULL UNIQUE,
    hash        TEXT    NOT NULL UNIQUE,
    mac         TEXT,
    CHECK (actor_role <> 'tipster' OR actor_id = '')
);
INSERT INTO audit_log_new (id, at, actor_role, actor_id, tip_code, action, from_status, to_status, detail, prev_hash,
                           hash, mac)
SELECT id, at, actor_role, actor_id, tip_code, action, from_status, to_status, detail, prev_hash, hash, mac
FROM audit_log ORDER BY id;
INSERT INTO sqlite_sequence (name, seq)
SELECT 'audit_log_new', seq FROM sqlite_sequence WHERE name = 'audit_log'
AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'audit_log_new');
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'audit_log')
WHERE name = 'audit_log_new' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'audit_log');
DROP TABLE audit_log;
ALTER TABLE audit_log_new RENAME TO audit_log;
CREATE INDEX audit_log_tip ON audit_log (tip_code, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
