package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/mailflow/desk"
	"github.com/madoguchi/madoguchi/mailflow/facility"
	"github.com/madoguchi/madoguchi/templates"
)

// checkConfigFile is `madoguchi check-config`: it checks, for every desk,
// what run and once need before they start (the file, the directories the
// desk writes to, the facility list, every notice rendered through the
// template overrides) and reports every problem in one pass, each with its
// key, its line and its desk, so that fixing one does not reveal the next.
func checkConfigFile(path string, stdout io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read configuration: %w", err)
	}
	cfg, findings := config.Check(data, os.Getenv)
	if cfg != nil {
		for _, dc := range cfg.AllDesks() {
			checkDeskInstall(dc, findings)
		}
	}
	if p := findings.Problems(); p != nil {
		return p
	}
	fmt.Fprintf(stdout, "%s: configuration is valid\n", path)
	for _, dc := range cfg.AllDesks() {
		auth := "operators must pass DKIM or SPF per Authentication-Results from " + dc.OperatorAuth.AuthservID
		if !dc.OperatorAuthRequired() {
			auth = "WARNING: operator commands are trusted on the From header alone (operator_auth.required: false)"
		}
		fmt.Fprintf(stdout, "  desk %s (%s): %s (IDs @%s, %s)\n  imap %s (%s) %s -> %s / %s\n  smtp %s (%s)\n  database %s\n  %d operators; %s\n",
			dc.Name, dc.Service, dc.Desk.Address, dc.Desk.Domain, dc.Desk.Timezone, dc.IMAP.Address, dc.IMAP.TLS, dc.IMAP.Mailbox,
			dc.IMAP.Processed, dc.IMAP.Quarantine, dc.SMTP.Address, dc.SMTP.TLS, databaseShown(dc), len(dc.Operators), auth)
		var files []string
		for _, w := range dc.WrittenFiles() {
			if w.Key != "database.path" { // shown above
				files = append(files, w.Key+" "+w.Path)
			}
		}
		if len(files) > 0 {
			fmt.Fprintf(stdout, "  writes %s\n", strings.Join(files, ", "))
		}
		overrides := "built-in templates"
		if dc.Templates.Dir != "" {
			overrides = "overrides from " + dc.Templates.Dir
		}
		fmt.Fprintf(stdout, "  every notice renders in ja and en (%s)\n", overrides)
	}
	// Permissions were tried as this user; the daemon's may differ.
	if u, err := user.Current(); err == nil {
		fmt.Fprintf(stdout, "files and directories checked as user %s: run check-config as the daemon's user\n", u.Username)
	}
	return nil
}

// installProblems is what run and once refuse to start with, beyond the
// configuration itself: the same checks as check-config, every desk at once.
func installProblems(cfg *config.Config) error {
	f := &config.Findings{}
	for _, dc := range cfg.AllDesks() {
		checkDeskInstall(dc, f)
	}
	if p := f.Problems(); p != nil {
		return p
	}
	return nil
}

// checkDeskInstall adds the problems a desk would meet at start: files it
// cannot write, a facility list it cannot read, notices that do not render.
func checkDeskInstall(dc *config.Config, f *config.Findings) {
	for _, w := range dc.WrittenFiles() {
		if w.Path == ":memory:" {
			continue
		}
		if err := checkWritable(w.Path); err != nil {
			f.Add(dc, w.Key, "%v", err)
		}
	}
	if p := dc.Database.Path; p != "" && p != ":memory:" {
		// An existing database in a writable directory can still be
		// read-only to us; SQLite then fails with "unable to open database
		// file" and no path.
		if db, err := os.OpenFile(p, os.O_RDWR, 0); err == nil {
			db.Close()
		} else if !errors.Is(err, fs.ErrNotExist) {
			f.Add(dc, "database.path", "%s cannot be opened for writing: %v", p, unwrapPath(err))
		}
	}
	if list := dc.Facility.FacilityList; dc.Service == "facility" && list != "" {
		// Read with the loader the desk starts with.
		var pe *fs.PathError
		if _, err := facility.LoadList(list); errors.As(err, &pe) {
			f.Add(dc, "facility.facility_list", "%s cannot be read: %v", list, pe.Err)
		} else if err != nil {
			f.Add(dc, "facility.facility_list", "%s: %v (the list is CSV: prefecture,name[,code])", list, err)
		}
	}
	set, err := templates.Load(dc.Templates.Dir, dc.Desk.Location)
	if err != nil {
		f.Add(dc, "templates.dir", "%v", err)
		return
	}
	for _, err := range desk.TemplateProblems(set, dc) {
		f.Add(dc, "templates.dir", "%v", err)
	}
}

// checkWritable reports whether path can be written the way the daemon
// writes it: created in its directory, or replaced by a temporary file
// renamed over it (SQLite also puts its -wal, -shm and .key files there).
func checkWritable(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("the directory %s does not exist (create it, writable by the daemon's user)", dir)
	case err != nil:
		return fmt.Errorf("the directory %s: %v", dir, unwrapPath(err))
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory; the key names a file", path)
	}
	probe, err := os.CreateTemp(dir, ".madoguchi-check-*")
	if err != nil {
		return fmt.Errorf("the directory %s is not writable by this user: %v", dir, unwrapPath(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// unwrapPath drops the operation and path of a *fs.PathError, which the
// message names already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// databaseShown names a desk's database for check-config: the SQLite file,
// or the PostgreSQL server, database and schema without the password.
func databaseShown(dc *config.Config) string {
	if !dc.Database.Postgres() {
		return dc.Database.Path
	}
	u, err := url.Parse(dc.Database.URL)
	if err != nil {
		return "PostgreSQL (schema " + dc.PostgresSchema() + ")"
	}
	return fmt.Sprintf("PostgreSQL %s%s, schema %s, key %s", u.Host, u.Path, dc.PostgresSchema(), dc.Database.KeyFile)
}
