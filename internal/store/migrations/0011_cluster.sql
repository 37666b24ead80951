-- Several instances on one database (PostgreSQL; with SQLite the one
-- process holds every lease). Times here are milliseconds of the
-- database's own clock, so the instances' clocks do not matter.
--
-- desk_leases: which instance reads the desk's mailbox and runs its jobs,
-- until expires_at unless it renews.
CREATE TABLE desk_leases (
    desk        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    acquired_at INTEGER NOT NULL,
    renewed_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- instances: every running instance, seen_at renewed by its heartbeat; a
-- claim on an outbox row is valid while its instance's heartbeat is fresh.
CREATE TABLE instances (
    name       TEXT    PRIMARY KEY,
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL
);

-- The instance whose sender took the pending notice ('' for none).
ALTER TABLE outbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
