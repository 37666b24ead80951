-- PostgreSQL twin of ../0005_job_indexes.sql (the same statements).
-- The nightly jobs read only what is due: open requests by state and age,
-- requests received or closed on one day.
CREATE INDEX requests_open_by_state ON requests(state, created_at) WHERE closed_at IS NULL;
CREATE INDEX requests_by_created ON requests(created_at);
CREATE INDEX requests_by_closed ON requests(closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX outbox_failed ON outbox(created_at) WHERE state = 'failed';
