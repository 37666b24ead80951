package store

import "context"

// OpenRequestsOfKind lists the open requests of a kind, oldest first, at
// most limit: the digest lists every open inquiry with its age. It walks
// the (kind, state, created_at) index of open requests.
func (s *Store) OpenRequestsOfKind(ctx context.Context, kind string, limit int) ([]*Request, error) {
	rows, err := s.query(ctx, `SELECT `+requestColumns+` FROM requests
		WHERE kind = ? AND closed_at IS NULL ORDER BY created_at, id LIMIT ?`, kind, limit)
	return scanAll(rows, err, scanRequest)
}
