package desk

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/teststore"
)

// testStoreAndConfig opens a fresh database and parses a desk's
// configuration (the desk's own address, operators, our MX's id; extra
// adds top-level lines), for the tests that drive the desk without the
// IMAP and SMTP servers.
func testStoreAndConfig(t *testing.T, extra string) (*store.Store, *config.Config) {
	t.Helper()
	st := teststore.Open(t, teststore.FromEnv(t))
	cfg, err := config.Parse([]byte(`desk: {address: desk@madoguchi.test, domain: id.madoguchi.test, fax: 03-0000-0000}
imap: {address: "127.0.0.1:1", tls: none, username: desk, password: pw}
smtp: {address: "127.0.0.1:1", tls: none}
database: {path: `+filepath.Join(t.TempDir(), "unused.db")+`}
operators: [ops@madoguchi.test]
operator_auth: {authserv_id: mx.madoguchi.test}
`+extra), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return st, cfg
}
