-- The process that bears an instance's name: a second process started
-- under a name whose heartbeat is still fresh (two machines given the same
-- cluster.instance) is refused instead of sharing the first one's leases
-- and claimed notices.
ALTER TABLE instances ADD COLUMN process TEXT NOT NULL DEFAULT '';
