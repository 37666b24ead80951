-- One-time access codes (password reset, and later rename and deletion
-- confirmations). Only a salted hash of the code is kept.
CREATE TABLE access_codes (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    request_id  INTEGER NOT NULL REFERENCES requests(id),
    purpose     TEXT    NOT NULL, -- password_reset, rename, deletion
    salt        TEXT    NOT NULL,
    code_hash   TEXT    NOT NULL, -- cleared when the code is used, locked, expired or replaced
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    wrong_tries INTEGER NOT NULL DEFAULT 0,
    state       TEXT    NOT NULL, -- active, used, locked, expired, replaced
    closed_at   INTEGER
);
CREATE INDEX access_codes_active ON access_codes(account_id, purpose) WHERE state = 'active';
CREATE INDEX access_codes_by_request ON access_codes(request_id);
CREATE INDEX access_codes_expiry ON access_codes(expires_at) WHERE state = 'active';
CREATE INDEX access_codes_by_account_time ON access_codes(account_id, created_at);

-- Who asked for what, for the per-sender and per-account rate limits.
CREATE INDEX requests_by_kind_applicant ON requests(kind, applicant, created_at);

ALTER TABLE accounts ADD COLUMN indice_password_active_at INTEGER;
ALTER TABLE accounts ADD COLUMN status TEXT NOT NULL DEFAULT 'active';

-- A notice that carries an access code keeps its body only until it is
-- sent or given up: afterwards the code exists nowhere in the database.
ALTER TABLE outbox ADD COLUMN sensitive INTEGER NOT NULL DEFAULT 0;

-- Per-sender counts of recent messages of one kind (rate limits).
CREATE INDEX seen_by_sender ON seen_messages(from_addr, received_at);

-- Notices that someone waits for (an access code, its outcome) go out
-- before the backlog of ordinary notices.
ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
CREATE INDEX outbox_due_priority ON outbox(priority, next_attempt_at) WHERE state = 'pending';
