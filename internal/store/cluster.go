package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Several instances share one PostgreSQL database: per desk one of them
// holds the desk's lease (desk_leases) and alone reads its mailbox and runs
// its jobs; every instance heartbeats (instances) and sends due notices,
// claiming them (outbox.claimed_by) while its heartbeat is fresh. Every
// time here is the database's clock (dialect.clockMillis), so the
// machines' clocks do not matter. With SQLite the one process holds every
// lease; the same code runs.

// DeskLease is a desk's lease as the database holds it.
type DeskLease struct {
	Desk       string
	Holder     string
	AcquiredAt time.Time
	RenewedAt  time.Time
	ExpiresAt  time.Time
	// Expired is read against the database's clock.
	Expired bool
}

// Instance is a running (or lately running) instance.
type Instance struct {
	Name      string
	StartedAt time.Time
	SeenAt    time.Time
	// Live: its heartbeat is fresher than the liveness window asked for.
	Live bool
}

// AcquireLease takes the desk's lease for holder, or renews it when holder
// has it, for ttl; it fails to when another holder's lease has not
// expired. One statement, so two instances racing for a free lease cannot
// both win. A lease that had lapsed counts as newly acquired.
func (s *Store) AcquireLease(ctx context.Context, desk, holder string, ttl time.Duration) (DeskLease, bool, error) {
	var l DeskLease
	var acquired, renewed, expires int64
	err := s.queryRow(ctx, `INSERT INTO desk_leases (desk, holder, acquired_at, renewed_at, expires_at)
		SELECT ?, ?, clock.ms, clock.ms, clock.ms + ? FROM `+s.dialect.clockMillis()+` AS clock WHERE true
		ON CONFLICT (desk) DO UPDATE SET
			holder = excluded.holder,
			acquired_at = CASE WHEN desk_leases.holder = excluded.holder AND desk_leases.expires_at > excluded.renewed_at
				THEN desk_leases.acquired_at ELSE excluded.acquired_at END,
			renewed_at = excluded.renewed_at,
			expires_at = excluded.expires_at
		WHERE desk_leases.holder = excluded.holder OR desk_leases.expires_at <= excluded.renewed_at
		RETURNING desk, holder, acquired_at, renewed_at, expires_at`,
		desk, holder, ttl.Milliseconds()).Scan(&l.Desk, &l.Holder, &acquired, &renewed, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		// Held by another: say by whom.
		leases, err := s.Leases(ctx)
		for _, other := range leases {
			if other.Desk == desk {
				return other, false, err
			}
		}
		return DeskLease{Desk: desk}, false, err
	}
	if err != nil {
		return DeskLease{}, false, fmt.Errorf("acquire lease of desk %s: %w", desk, err)
	}
	l.AcquiredAt, l.RenewedAt, l.ExpiresAt = time.UnixMilli(acquired).UTC(), time.UnixMilli(renewed).UTC(), time.UnixMilli(expires).UTC()
	return l, true, nil
}

// ReleaseLease gives up holder's lease of the desk at once (a clean
// shutdown), so another instance takes the desk without waiting for it to
// expire. It does nothing when holder does not hold it.
func (s *Store) ReleaseLease(ctx context.Context, desk, holder string) error {
	if _, err := s.exec(ctx, `DELETE FROM desk_leases WHERE desk = ? AND holder = ?`, desk, holder); err != nil {
		return fmt.Errorf("release lease of desk %s: %w", desk, err)
	}
	return nil
}

// Leases lists every desk lease of this database (one per desk), expired
// or not.
func (s *Store) Leases(ctx context.Context) ([]DeskLease, error) {
	rows, err := s.query(ctx, `SELECT desk, holder, acquired_at, renewed_at, expires_at, expires_at <= clock.ms
		FROM desk_leases, `+s.dialect.clockMillis()+` AS clock ORDER BY desk`)
	return scanAll(rows, err, func(row rowScanner) (DeskLease, error) {
		var l DeskLease
		var acquired, renewed, expires int64
		err := row.Scan(&l.Desk, &l.Holder, &acquired, &renewed, &expires, &l.Expired)
		l.AcquiredAt, l.RenewedAt, l.ExpiresAt = time.UnixMilli(acquired).UTC(), time.UnixMilli(renewed).UTC(), time.UnixMilli(expires).UTC()
		return l, err
	})
}

// Heartbeat records that the instance c.Instance, borne by this process
// (process: unique to it), is alive now; its outbox claims hold while its
// heartbeat is fresh. started is when the process started (shown to
// operators only). It fails with a *NameInUseError, and records nothing,
// when another process heartbeat under the same name within c.Window: two
// processes with one name would share its leases and claims, each reading
// the mailbox as its holder.
func (s *Store) Heartbeat(ctx context.Context, c Claimant, process string, started time.Time) error {
	var name string
	err := s.queryRow(ctx, `INSERT INTO instances (name, started_at, seen_at, process)
		SELECT ?, ?, clock.ms, ? FROM `+s.dialect.clockMillis()+` AS clock WHERE true
		ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at, seen_at = excluded.seen_at, process = excluded.process
		WHERE instances.process = excluded.process OR instances.seen_at <= excluded.seen_at - ?
		RETURNING name`,
		c.Instance, started.UnixMilli(), process, c.Window.Milliseconds()).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		inUse := &NameInUseError{Instance: c.Instance}
		var startedAt, age int64
		err = s.queryRow(ctx, `SELECT started_at, clock.ms - seen_at FROM instances, `+s.dialect.clockMillis()+` AS clock
			WHERE name = ?`, c.Instance).Scan(&startedAt, &age)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("heartbeat of instance %s: %w", c.Instance, err)
		}
		inUse.StartedAt, inUse.Seen = time.UnixMilli(startedAt).UTC(), time.Duration(age)*time.Millisecond
		return inUse
	}
	if err != nil {
		return fmt.Errorf("heartbeat of instance %s: %w", c.Instance, err)
	}
	return nil
}

// NameInUseError is a heartbeat refused because another process bears the
// instance's name.
type NameInUseError struct {
	Instance  string
	StartedAt time.Time     // when the other process started
	Seen      time.Duration // how long ago its last heartbeat was
}

func (e *NameInUseError) Error() string {
	return fmt.Sprintf("instance name %q is in use by another process (started %s, last heartbeat %s ago): "+
		"every instance needs a cluster.instance of its own", e.Instance, e.StartedAt.Format(time.RFC3339), e.Seen.Round(time.Millisecond))
}

// LeaveCluster removes the instance: at its clean shutdown, or for one
// known to be dead. Its row and any lease it still holds go, and the
// pending notices it had claimed but not sent are free for the others at
// once.
func (s *Store) LeaveCluster(ctx context.Context, instance string) error {
	return s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(`UPDATE outbox SET claimed_by = '' WHERE claimed_by = ? AND state = 'pending'`, instance); err != nil {
			return fmt.Errorf("free the notices of instance %s: %w", instance, err)
		}
		if _, err := tx.exec(`DELETE FROM desk_leases WHERE holder = ?`, instance); err != nil {
			return fmt.Errorf("free the leases of instance %s: %w", instance, err)
		}
		if _, err := tx.exec(`DELETE FROM instances WHERE name = ?`, instance); err != nil {
			return fmt.Errorf("remove instance %s: %w", instance, err)
		}
		return nil
	})
}

// Instances lists the instances that heartbeat here, Live when seen within
// the window (cluster.lease) by the database's clock.
func (s *Store) Instances(ctx context.Context, window time.Duration) ([]Instance, error) {
	rows, err := s.query(ctx, `SELECT name, started_at, seen_at, seen_at > clock.ms - ?
		FROM instances, `+s.dialect.clockMillis()+` AS clock ORDER BY name`, window.Milliseconds())
	return scanAll(rows, err, func(row rowScanner) (Instance, error) {
		var in Instance
		var started, seen int64
		err := row.Scan(&in.Name, &started, &seen, &in.Live)
		in.StartedAt, in.SeenAt = time.UnixMilli(started).UTC(), time.UnixMilli(seen).UTC()
		return in, err
	})
}

// Claimant is the instance whose sender claims due notices, and the
// window within which other instances' heartbeats keep their claims.
type Claimant struct {
	Instance string
	Window   time.Duration
}
