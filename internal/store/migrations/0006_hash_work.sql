-- Password hashes computed for each sender: argon2id is the expensive
-- stage, so one sender's flood of forms is capped per hour.
CREATE TABLE hash_work (
    sender TEXT    NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX hash_work_by_sender ON hash_work(sender, at);
