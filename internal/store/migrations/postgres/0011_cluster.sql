-- PostgreSQL twin of ../0011_cluster.sql.
-- Several instances on one database. Times here are milliseconds of the
-- database's own clock, so the instances' clocks do not matter.
--
-- desk_leases: which instance reads the desk's mailbox and runs its jobs,
-- until expires_at unless it renews.
CREATE TABLE desk_leases (
    desk        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    acquired_at BIGINT  NOT NULL,
    renewed_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);

-- instances: every running instance, seen_at renewed by its heartbeat; a
-- claim on an outbox row is valid while its instance's heartbeat is fresh.
CREATE TABLE instances (
    name       TEXT    PRIMARY KEY,
    started_at BIGINT  NOT NULL,
    seen_at    BIGINT  NOT NULL
);

-- The instance whose sender took the pending notice ('' for none).
ALTER TABLE outbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
