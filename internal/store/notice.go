package store

import "time"

// Notice is one outgoing mail as the outbox holds it. Everything needed to
// build the exact same message again is stored, so that a resend after a
// crash carries the same Message-ID and Date.
type Notice struct {
	ID        int64
	MessageID string // without angle brackets, e.g. "MDG-2026-000123.1.abcd@desk.example"
	Date      time.Time
	From      string   // desk address, "Name <addr>" allowed
	To        []string // bare addresses
	Cc        []string // bare addresses
	Subject   string
	Body      string // plain text, UTF-8
	// InReplyTo and References thread the notice (message IDs without brackets).
	InReplyTo  string
	References []string
	// Charset is "utf-8" (default) or "iso-2022-jp".
	Charset     string
	Attachments []NoticeAttachment
	Attempts    int
}

// NoticeAttachment is a file sent with a notice (a printable form, a result CSV).
type NoticeAttachment struct {
	Filename    string
	ContentType string
	Data        []byte
}
