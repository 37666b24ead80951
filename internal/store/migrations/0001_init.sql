-- Times are Unix seconds (UTC). Addresses are stored lower-cased.

-- Every message taken from the mailbox, so that each is acted on once.
CREATE TABLE seen_messages (
    id                INTEGER PRIMARY KEY,
    mailbox           TEXT    NOT NULL,
    uid_validity      INTEGER NOT NULL,
    uid               INTEGER NOT NULL,
    message_id        TEXT    NOT NULL DEFAULT '',
    content_sha256    TEXT    NOT NULL,
    from_addr         TEXT    NOT NULL DEFAULT '',
    subject           TEXT    NOT NULL DEFAULT '',
    received_at       INTEGER NOT NULL,
    outcome           TEXT    NOT NULL, -- answered, ignored, quarantined, duplicate
    reason            TEXT    NOT NULL DEFAULT '',
    request_id        INTEGER REFERENCES requests(id),
    destination       TEXT    NOT NULL, -- processed | quarantine
    replacement       BLOB,             -- masked copy filed instead of the original
    replacement_filed INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX seen_by_uid ON seen_messages(mailbox, uid_validity, uid);
CREATE INDEX seen_by_hash ON seen_messages(content_sha256);
CREATE INDEX seen_by_message_id ON seen_messages(message_id) WHERE message_id <> '';

CREATE TABLE mailbox_state (
    mailbox      TEXT PRIMARY KEY,
    uid_validity INTEGER NOT NULL
);

CREATE TABLE reference_counters (
    year INTEGER PRIMARY KEY,
    last INTEGER NOT NULL
);

-- One application or request; fields is JSON without any secret.
CREATE TABLE requests (
    id            INTEGER PRIMARY KEY,
    reference     TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    applicant     TEXT    NOT NULL,
    lang          TEXT    NOT NULL DEFAULT 'ja',
    fields        TEXT    NOT NULL DEFAULT '{}',
    password_hash TEXT    NOT NULL DEFAULT '',
    desired_id    TEXT    NOT NULL DEFAULT '',
    identity_key  TEXT    NOT NULL DEFAULT '',
    thread_root   TEXT    NOT NULL DEFAULT '', -- Message-ID of the mail that opened it
    account_id    INTEGER REFERENCES accounts(id),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    closed_at     INTEGER
);
CREATE INDEX requests_open_by_kind ON requests(kind, state, created_at) WHERE closed_at IS NULL;
CREATE INDEX requests_open_desired_id ON requests(desired_id) WHERE closed_at IS NULL AND desired_id <> '';
CREATE INDEX requests_open_identity ON requests(identity_key) WHERE closed_at IS NULL AND identity_key <> '';
CREATE INDEX requests_by_applicant ON requests(applicant, created_at);

-- Message-IDs of a thread (our notices and the mail we received), for
-- matching replies by In-Reply-To/References when the subject tag is gone.
CREATE TABLE thread_messages (
    message_id TEXT PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests(id)
);

CREATE TABLE accounts (
    id                 INTEGER PRIMARY KEY,
    login              TEXT    NOT NULL UNIQUE,
    kind               TEXT    NOT NULL,
    family_name        TEXT    NOT NULL DEFAULT '',
    given_name         TEXT    NOT NULL DEFAULT '',
    family_reading     TEXT    NOT NULL DEFAULT '',
    given_reading      TEXT    NOT NULL DEFAULT '',
    identity_key       TEXT    NOT NULL DEFAULT '',
    sex                TEXT    NOT NULL DEFAULT '',
    birth_date         TEXT    NOT NULL DEFAULT '',
    institution        TEXT    NOT NULL DEFAULT '',
    department         TEXT    NOT NULL DEFAULT '',
    email              TEXT    NOT NULL DEFAULT '',
    eligibility        INTEGER NOT NULL DEFAULT 0,
    password_hash      TEXT    NOT NULL DEFAULT '',
    password_active_at INTEGER,
    indice_password_hash TEXT  NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    request_id         INTEGER REFERENCES requests(id)
);
CREATE INDEX accounts_by_identity ON accounts(identity_key);

-- Attachments kept as evidence (signed forms, identity documents).
CREATE TABLE documents (
    id           INTEGER PRIMARY KEY,
    request_id   INTEGER REFERENCES requests(id),
    seen_id      INTEGER REFERENCES seen_messages(id),
    filename     TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    data         BLOB    NOT NULL,
    accepted     INTEGER NOT NULL,
    received_at  INTEGER NOT NULL
);
CREATE INDEX documents_by_request ON documents(request_id);

-- Notices to send. A row is written in the same transaction as the state
-- change it reports, so a crash can neither lose it nor invent it.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT    NOT NULL UNIQUE,
    request_id      INTEGER REFERENCES requests(id),
    notice          TEXT    NOT NULL, -- template name
    recipient       TEXT    NOT NULL, -- primary To, for the per-sender reply cap
    created_at      INTEGER NOT NULL,
    date            INTEGER NOT NULL,
    from_addr       TEXT    NOT NULL,
    to_addrs        TEXT    NOT NULL, -- JSON list
    cc_addrs        TEXT    NOT NULL, -- JSON list
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    in_reply_to     TEXT    NOT NULL DEFAULT '',
    refs            TEXT    NOT NULL DEFAULT '[]',
    charset         TEXT    NOT NULL DEFAULT 'utf-8',
    attachments     TEXT    NOT NULL DEFAULT '[]',
    state           TEXT    NOT NULL, -- pending, sent, failed, suppressed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    sent_at         INTEGER,
    last_error      TEXT    NOT NULL DEFAULT '',
    bounced_at      INTEGER,
    bounce_detail   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_by_recipient ON outbox(recipient, created_at);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL, -- address, or "desk" / "scheduler"
    request_id INTEGER REFERENCES requests(id),
    action     TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_request ON audit_log(request_id);
