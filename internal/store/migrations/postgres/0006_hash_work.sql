-- PostgreSQL twin of ../0006_hash_work.sql.
-- Password hashes computed for each sender: argon2id is the expensive
-- stage, so one sender's flood of forms is capped per hour.
CREATE TABLE hash_work (
    sender TEXT    NOT NULL,
    at     BIGINT  NOT NULL
);
CREATE INDEX hash_work_by_sender ON hash_work(sender, at);
