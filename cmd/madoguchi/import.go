package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/mailflow/bulk"
)

// importMaxRows bounds one file: the reply to a mailed CSV must stay a
// reasonable attachment, and the whole file is checked in memory.
const importMaxRows = 100000

// runImport is `madoguchi import`: the bulk registration a program
// administrator mails in, from the command line. Exit 0 when the file was
// processed (refused rows are in the result file), 1 when the
// configuration, the file or the database failed, 2 on bad usage.
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	out := fs.String("o", "", "result CSV (default: FILE with .result.csv)")
	lang := fs.String("lang", "", "language of the result CSV: ja or en (default: desk.language, else ja)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: madoguchi import -config FILE [-o RESULT.csv] [-lang ja|en] FILE.csv")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cfgPath == "" || fs.NArg() != 1 || *lang != "" && *lang != "ja" && *lang != "en" {
		fs.Usage()
		return 2
	}
	in := fs.Arg(0)
	if *out == "" {
		*out = strings.TrimSuffix(in, filepath.Ext(in)) + ".result.csv"
	}
	fail := func(err error) int {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "madoguchi import: interrupted; nothing was registered")
		} else {
			fmt.Fprintf(stderr, "madoguchi import: %v\n", err)
		}
		return 1
	}

	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return fail(err)
	}
	if *lang == "" {
		*lang = "ja"
		if cfg.Desk.Language == "en" {
			*lang = "en"
		}
	}
	f, err := os.Open(in)
	if err != nil {
		return fail(err)
	}
	rows, err := bulk.ReadCSV(f, importMaxRows)
	f.Close()
	if err != nil {
		var fe *bulk.FileError
		if errors.As(err, &fe) {
			return fail(fmt.Errorf("%s: %s\n  (%s)", in, fe.Reason, fe.ReasonJA))
		}
		return fail(fmt.Errorf("%s: %w", in, err))
	}
	st, err := app.OpenStore(ctx, cfg, nil)
	if err != nil {
		return fail(err)
	}
	defer st.Close()

	bar := newProgressBar(stderr, time.Now)
	prepared, err := bulk.Prepare(ctx, rows, bulk.Options{
		Now: time.Now().In(cfg.Desk.Location), Hash: secret.DefaultParams(), Progress: bar.update,
	})
	bar.finish()
	if err != nil {
		return fail(err)
	}
	var results []bulk.Result
	err = st.Tx(ctx, func(tx *store.Tx) error {
		results, err = bulk.Commit(tx, prepared, bulk.CommitOptions{
			Now: time.Now().UTC(), Actor: "cli:" + userName(), ReferencePrefix: cfg.Desk.ReferencePrefix,
			Location: cfg.Desk.Location, Lang: *lang,
		})
		return err
	})
	if err != nil {
		return fail(fmt.Errorf("registration rolled back, nothing was registered: %w", err))
	}
	// The accounts exist now; a result file that cannot be written is
	// still an error, but the summary says what happened.
	created := 0
	for _, r := range results {
		if r.Created {
			created++
		}
	}
	fmt.Fprintf(stdout, "%s: %d rows, created %d, refused %d\n", in, len(results), created, len(results)-created)
	if err := os.WriteFile(*out, bulk.ResultCSV(results, *lang), 0o600); err != nil {
		return fail(fmt.Errorf("write result file: %w", err))
	}
	fmt.Fprintf(stdout, "result file: %s\n", *out)
	return 0
}

func userName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if n := os.Getenv("USER"); n != "" {
		return n
	}
	return "unknown"
}

// progressBar draws `[=====>    ] 4200/10000 rows  1234 rows/s` on one
// line, at most ten times a second so a terminal over ssh keeps up.
type progressBar struct {
	w           io.Writer
	now         func() time.Time
	start, last time.Time
	done, total int
	drawn       bool
}

const barWidth = 30

func newProgressBar(w io.Writer, now func() time.Time) *progressBar {
	return &progressBar{w: w, now: now, start: now()}
}

func (p *progressBar) update(done, total int) {
	p.done, p.total = done, total
	t := p.now()
	if p.drawn && t.Sub(p.last) < 100*time.Millisecond && done < total {
		return
	}
	p.last, p.drawn = t, true
	p.draw(t)
}

func (p *progressBar) draw(t time.Time) {
	filled := barWidth
	if p.total > 0 {
		filled = p.done * barWidth / p.total
	}
	bar := strings.Repeat("=", filled)
	if filled < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-filled-1)
	}
	rate := 0.0
	if s := t.Sub(p.start).Seconds(); s > 0 {
		rate = float64(p.done) / s
	}
	fmt.Fprintf(p.w, "\r[%s] %d/%d rows  %.0f rows/s", bar, p.done, p.total, rate)
}

// finish draws the last state, if it was skipped, and ends the line.
func (p *progressBar) finish() {
	if !p.drawn {
		return
	}
	p.draw(p.now())
	fmt.Fprintln(p.w)
}
