-- The facility connection service desk (seed 004).

-- The number mailed for the main application: kept as a salted hash.
CREATE TABLE request_tokens (
    request_id INTEGER PRIMARY KEY REFERENCES requests(id),
    salt       TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

-- Users of the facility connection service; the applicant of an
-- approved application is the facility's filing manager.
CREATE TABLE facility_users (
    id            INTEGER PRIMARY KEY,
    user_id       TEXT    NOT NULL UNIQUE, -- 8 digits
    vpn_id        TEXT    NOT NULL UNIQUE,
    prefecture    TEXT    NOT NULL,
    facility      TEXT    NOT NULL,
    facility_code TEXT    NOT NULL DEFAULT '',
    email         TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    initial       INTEGER NOT NULL DEFAULT 1, -- still the initial password
    request_id    INTEGER REFERENCES requests(id),
    created_at    INTEGER NOT NULL
);
CREATE INDEX facility_users_by_email ON facility_users(email);

-- Services a facility user applied for (the national cancer registry
-- filing service).
CREATE TABLE facility_services (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES facility_users(id),
    service    TEXT    NOT NULL,
    state      TEXT    NOT NULL, -- active, cancelled
    request_id INTEGER REFERENCES requests(id),
    updated_at INTEGER NOT NULL
);
