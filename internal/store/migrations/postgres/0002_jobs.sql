-- PostgreSQL twin of ../0002_jobs.sql.
-- One row per job and schedule slot: claiming the slot is an INSERT, so two
-- processes (or a run by hand beside the daemon) never run one slot twice.
CREATE TABLE job_runs (
    job         TEXT    NOT NULL,
    slot        BIGINT  NOT NULL, -- the scheduled time this run stands for
    started_at  BIGINT  NOT NULL,
    finished_at BIGINT,
    outcome     TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (job, slot)
);

-- What a job already did, under a key per request and step (for example
-- "reminder-1:MDG-2026-000123"): the key is claimed in the same transaction
-- as the notice it guards, so nothing is sent twice.
CREATE TABLE job_steps (
    key        TEXT PRIMARY KEY,
    job        TEXT    NOT NULL,
    request_id BIGINT  REFERENCES requests(id),
    done_at    BIGINT  NOT NULL
);
