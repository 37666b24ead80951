package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/madoguchi/madoguchi/internal/store"
)

// runBackup is `madoguchi backup FILE -config CFG [-desk NAME]`: a
// consistent copy of a desk's database, taken while the daemon runs, and
// its seal key beside it as FILE.key. Exit 0 when both were written, 1 on
// failure, 2 on bad usage.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	deskName := fs.String("desk", "", "the desk whose database to copy (needed when the configuration has several)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 || *cfgPath == "" {
		fmt.Fprintf(stderr, "usage: madoguchi backup FILE -config CFG [-desk NAME]\n\n%s", usage)
		return 2
	}
	if err := backupDesk(ctx, *cfgPath, *deskName, pos[0], stdout); err != nil {
		fmt.Fprintf(stderr, "madoguchi backup: %v\n", err)
		return 1
	}
	return 0
}

func backupDesk(ctx context.Context, cfgPath, deskName, dest string, stdout io.Writer) error {
	cfg, err := loadOpsConfig(cfgPath, false)
	if err != nil {
		return err
	}
	desks, err := selectDesks(cfg, deskName)
	if err != nil {
		return err
	}
	if len(desks) > 1 {
		return fmt.Errorf("the configuration has %d desks (%s), each with its own database: name one with -desk", len(desks), deskNames(desks))
	}
	dc := desks[0]
	if dc.Database.Postgres() {
		return fmt.Errorf("desk %s: %w (the desk's schema is %s)", dc.Name, store.ErrBackupPostgres, dc.PostgresSchema())
	}
	keyDest := dest + ".key"
	// Both names are checked before anything is written, so a refusal
	// leaves no half backup behind.
	for _, p := range []string{dest, keyDest} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists: a backup never overwrites a file; choose another name", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("check %s: %w", p, err)
		}
	}
	st, err := store.Open(ctx, dc.Database.Path, store.Options{Synchronous: dc.Database.Synchronous})
	if err != nil {
		return fmt.Errorf("desk %s: %w", dc.Name, err)
	}
	defer st.Close()
	if err := st.Backup(ctx, dest); err != nil {
		return fmt.Errorf("desk %s: %w", dc.Name, err)
	}
	keySrc := store.KeyPathFor(dc.Database.Path)
	if err := copyPrivateFile(keySrc, keyDest); err != nil {
		return fmt.Errorf("desk %s: the database copy %s was written, but not its key: %w", dc.Name, dest, err)
	}
	version, err := st.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	pending, err := st.OutboxByState(ctx, store.OutboxPending)
	if err != nil {
		return err
	}
	sealed := 0
	for _, o := range pending {
		if o.Sensitive {
			sealed++
		}
	}
	// A copy of every applicant's data left the database: that is worth
	// an audit line like any change.
	abs, _ := filepath.Abs(dest)
	err = st.Tx(ctx, func(tx *store.Tx) error {
		return tx.Audit(time.Now().UTC(), "cli:"+userName(), 0, "backup",
			fmt.Sprintf("database (schema version %d) copied to %s, its seal key to %s.key", version, abs, abs))
	})
	if err != nil {
		return fmt.Errorf("audit the backup: %w", err)
	}
	size := int64(0)
	if fi, err := os.Stat(dest); err == nil {
		size = fi.Size()
	}
	fmt.Fprintf(stdout, "desk %s: %s copied to %s (%d bytes, schema version %d)\n", dc.Name, dc.Database.Path, dest, size, version)
	fmt.Fprintf(stdout, "seal key %s copied to %s\n", keySrc, keyDest)
	fmt.Fprintf(stdout, "Keep %s with %s, as private as it: without the key a restored copy cannot send the pending notices that carry a secret (access codes, initial passwords; %d waiting now); they would be marked failed.\n",
		keyDest, dest, sealed)
	fmt.Fprintf(stdout, "To restore: stop madoguchi, remove %[2]s-wal and %[2]s-shm if left, put %[1]s at %[2]s and %[3]s at %[2]s.key (mode 0600), and start it.\n",
		dest, dc.Database.Path, keyDest)
	return nil
}

// copyPrivateFile copies src to a new file dst (0600, never overwriting)
// and syncs it.
func copyPrivateFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("read key file: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}
