-- PostgreSQL twin of ../0008_scrub_suppressed_secrets.sql (the same statement).
-- A sensitive notice held back by the reply cap is never sent, so it was
-- never scrubbed and kept its secret for good. New ones are stored without
-- it (store.suppressedSensitiveBody); this drops it from the old ones.
UPDATE outbox
SET body = '(this notice carried an access code and was held back by the reply cap; its text was not kept)',
    attachments = '[]'
WHERE sensitive = 1 AND state = 'suppressed';
