package store

import "strings"

// AccountsByAddress lists the accounts an address belongs to: the
// registered address, or the ID's own mailbox (login@domain). For what
// operators see beside a question; never for deciding who may change an
// account.
func (t *Tx) AccountsByAddress(addr, domain string) ([]*Account, error) {
	addr = strings.ToLower(addr)
	login := ""
	if at := strings.LastIndexByte(addr, '@'); at > 0 && strings.EqualFold(addr[at+1:], domain) {
		login = addr[:at]
	}
	rows, err := t.query(`SELECT `+accountColumns+` FROM accounts WHERE email = ? OR login = ? ORDER BY created_at, id`, addr, login)
	return scanAll(rows, err, scanAccount)
}
