-- PostgreSQL twin of ../0009_trust.sql.
-- Named counters for the rate limits: one row an event (a request that
-- sends a code, an unproved code check, the bytes of a stored document),
-- summed over a window, so a limit never depends on the words of a
-- recorded reason.
CREATE TABLE limit_events (
    counter TEXT    NOT NULL,
    subject TEXT    NOT NULL,
    amount  BIGINT  NOT NULL,
    at      BIGINT  NOT NULL
);
CREATE INDEX limit_events_by_subject ON limit_events(counter, subject, at);

-- An address change is confirmed by the new address; for a while after it
-- codes also go to the old address, so a takeover is noticed.
ALTER TABLE accounts ADD COLUMN previous_email TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN email_changed_at BIGINT;

-- The fast lane asks whether a sender got a notice on a request's thread.
CREATE INDEX outbox_by_request ON outbox(request_id);
