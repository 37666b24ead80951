package intake

import (
	"context"
	"fmt"

	"github.com/emersion/go-imap/v2"
)

// copyHeader marks a masked copy with the original's place, so that after
// a cut between its APPEND and its record intake can tell whether it was
// filed (findCopy). The place is no secret; a digest of the original would
// be one, as the copy holds everything but the password.
const copyHeader = "X-Madoguchi-Copy-Of"

func copyMarker(d Delivery) string { return fmt.Sprintf("<%d.%d>", d.UIDValidity, d.UID) }

// withCopyMarker is the masked copy as it is appended.
func withCopyMarker(d Delivery, replacement []byte) []byte {
	return append([]byte(copyHeader+": "+copyMarker(d)+"\r\n"), replacement...)
}

// findCopy reports whether the masked copy of d is already in dest. It
// runs only for a message handled before (after a crash or a cut), so it
// may cost a mailbox switch: the handled messages are filed first (their
// UIDs are the selected mailbox's), then dest is searched and the desk's
// mailbox selected again.
func (in *Intake) findCopy(ctx context.Context, s *session, files *filing, dest string, d Delivery) (bool, error) {
	if err := in.file(ctx, s, files); err != nil {
		return false, err
	}
	if _, err := s.c.Select(dest, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return false, fmt.Errorf("examine: %w", err)
	}
	criteria := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: copyHeader, Value: copyMarker(d)}}}
	data, searchErr := s.c.UIDSearch(criteria, nil).Wait()
	sel, err := s.c.Select(in.opts.Mailbox, nil).Wait()
	if err != nil {
		return false, fmt.Errorf("select %s again: %w", in.opts.Mailbox, err)
	}
	if sel.UIDValidity != s.uidValidity {
		return false, fmt.Errorf("%s changed UIDVALIDITY from %d to %d", in.opts.Mailbox, s.uidValidity, sel.UIDValidity)
	}
	if searchErr != nil {
		return false, fmt.Errorf("search: %w", searchErr)
	}
	return len(data.AllUIDs()) > 0, nil
}
