package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/madoguchi/madoguchi/internal/config"

	"github.com/madoguchi/madoguchi/internal/testkit/benchmark"
)

// runBench is `madoguchi bench`: the whole desk on in-process IMAP and
// SMTP servers over loopback, with the raw rate of every stage measured on
// the same messages in the same run. Exit 0 when the run completed (the
// targets are reported, not enforced), 1 when it failed, 2 on bad usage.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", benchmark.DefaultN, "messages already in the mailbox when the desk starts")
	share := fs.Float64("password-share", benchmark.DefaultPasswordShare, "share of the messages that are new-ID applications carrying a password (0 < share <= 1)")
	replies := fs.Int("replies", benchmark.DefaultReplies, "access-code replies that arrive while the backlog is processed (1..100)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	db := fs.String("db", "", "run the desk on this PostgreSQL server (postgres://...; the role needs CREATEDB: the run uses a database of its own and drops it) instead of SQLite")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: madoguchi bench [-n 10000] [-password-share 0.2] [-replies 20] [-db postgres://...] [-cpuprofile FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// The same runtime settings as `run` (memory limit, Ps), so the figures
	// are the daemon's.
	applyRuntime(&config.Config{})
	if fs.NArg() != 0 || *n < 1 || !(*share > 0 && *share <= 1) || *replies < 1 || *replies > 100 {
		fs.Usage()
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "madoguchi bench: -cpuprofile: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "madoguchi bench: -cpuprofile: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	_, err := benchmark.Run(ctx, benchmark.Options{N: *n, PasswordShare: *share, Replies: *replies, Out: stdout, DatabaseURL: *db})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "madoguchi bench: interrupted")
		} else {
			fmt.Fprintf(stderr, "madoguchi bench: %v\n", err)
		}
		return 1
	}
	return 0
}
