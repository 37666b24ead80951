-- Renames, deletions and merges keep the account row (an ID is never
-- issued twice); forwarding of a renamed ID's old address lasts a year.
ALTER TABLE accounts ADD COLUMN renamed_at INTEGER;
ALTER TABLE accounts ADD COLUMN closed_at INTEGER;
ALTER TABLE accounts ADD COLUMN merged_into INTEGER REFERENCES accounts(id);
CREATE INDEX accounts_by_email ON accounts(email);

CREATE TABLE forwardings (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    request_id INTEGER REFERENCES requests(id),
    old_login  TEXT    NOT NULL,
    new_login  TEXT    NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    ended_at   INTEGER
);
CREATE UNIQUE INDEX forwardings_active_old ON forwardings(old_login) WHERE ended_at IS NULL;
CREATE INDEX forwardings_active_end ON forwardings(ends_at) WHERE ended_at IS NULL;
CREATE INDEX forwardings_by_account ON forwardings(account_id);
