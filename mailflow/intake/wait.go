package intake

import (
	"context"
	"errors"
	"fmt"
	"time"
)

var errConnClosed = errors.New("connection closed by the server")

// waitForMail returns when there may be new mail: an EXISTS arrived during
// IDLE, or the poll interval passed (the only signal without IDLE, and a
// safety net with it). Errors mean the connection is unusable.
func (in *Intake) waitForMail(ctx context.Context, s *session) error {
	poll := time.NewTimer(in.opts.PollInterval)
	defer poll.Stop()
	if !s.canIdle() {
		s.conn.nothingDue() // silence is normal until the next poll
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.c.Closed():
			return errConnClosed
		case <-poll.C:
			return nil
		}
	}
	for {
		newMail, err := in.idleOnce(ctx, s, poll.C)
		if err != nil || newMail {
			return err
		}
		// IDLE reached IdleRefresh: prove the connection still answers
		// before idling again, so a dead or silent one is noticed and
		// replaced (DONE and NOOP each have the command deadline).
		if err := s.c.Noop().Wait(); err != nil {
			return fmt.Errorf("noop: %w", err)
		}
	}
}

// idleOnce runs one IDLE command until new mail, the poll timer or the
// refresh timer; commands can only be sent again after IDLE is stopped.
func (in *Intake) idleOnce(ctx context.Context, s *session, poll <-chan time.Time) (newMail bool, err error) {
	idle, err := s.c.Idle()
	if err != nil {
		return false, fmt.Errorf("start idle: %w", err)
	}
	// The server may say nothing while idling: the refresh timer, not the
	// command deadline, bounds how long a silent server goes unnoticed.
	s.conn.nothingDue()
	refresh := time.NewTimer(in.opts.IdleRefresh)
	defer refresh.Stop()
	select {
	case <-ctx.Done():
		// The ctx watcher closes the connection, which ends IDLE.
		return false, ctx.Err()
	case <-s.c.Closed():
		return false, errConnClosed
	case <-s.wake:
		newMail = true
	case <-poll:
		newMail = true
	case <-refresh.C:
	}
	if err := idle.Close(); err != nil {
		return false, fmt.Errorf("stop idle: %w", err)
	}
	if err := idle.Wait(); err != nil {
		return false, fmt.Errorf("idle: %w", err)
	}
	return newMail, nil
}
