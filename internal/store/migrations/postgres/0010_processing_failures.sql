-- PostgreSQL twin of ../0010_processing_failures.sql.
-- Failed attempts at handling a message (the desk returned an error, not a
-- refusal), so that one bad message waits with a growing delay while the
-- rest of the mailbox is handled, and ends in quarantine after a few
-- attempts. Kept here so a restart between attempts does not reset the
-- count. The row goes once the message is recorded in seen_messages.
CREATE TABLE processing_failures (
    mailbox         TEXT    NOT NULL,
    uid_validity    BIGINT  NOT NULL,
    uid             BIGINT  NOT NULL,
    attempts        BIGINT  NOT NULL,
    first_failed_at BIGINT  NOT NULL,
    last_failed_at  BIGINT  NOT NULL,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (mailbox, uid_validity, uid)
);
