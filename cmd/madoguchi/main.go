// Command madoguchi runs the registration desk: it reads the desk mailbox
// over IMAP, answers over SMTP, and keeps its state in SQLite.
//
//	madoguchi run -config FILE           the daemon (IDLE, sender, jobs) until SIGTERM
//	madoguchi once -config FILE          process the mailbox and the outbox now, then exit
//	madoguchi check-config -config FILE  check a configuration file and say what is wrong
//	madoguchi demo [--serve]             the whole desk against in-process servers
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/madoguchi/madoguchi/internal/testkit/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(runCommand(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: madoguchi <command> [flags]

commands:
  run -config FILE           run the desk until SIGTERM
  once -config FILE          process everything in the mailbox, deliver the outbox, exit
  check-config -config FILE  check a configuration file
  demo [--serve] [-v] [-imap ADDR] [-sink ADDR] [-submit ADDR]
                             run the desk against in-process IMAP and SMTP servers;
                             -v prints every notice in full, --serve keeps it running
                             on fixed ports for a real mail client
  jobs list [-config FILE]   list the scheduled jobs and their schedules
  jobs run NAME -config FILE run a job now (idempotent: it sends nothing twice)
  forwarding export -config FILE
                             write the forwarding map of renamed IDs (Postfix table and CSV)
  bench [-n 10000] [-password-share 0.2] [-replies 20]
                             benchmark the desk on in-process IMAP and SMTP servers: stage rates,
                             bound, ratio, access-code latency, peak RSS
  import -config FILE [-o RESULT.csv] [-lang ja|en] FILE.csv
                             bulk registration from a CSV, with a progress bar
  policy                     print who may change what: every request's states and
                             transitions, the party that may cause each and its proof
  version                    the module version, VCS revision and Go version of this build

operators' commands (-config FILE; -desk NAME for one desk, default every desk;
--json for JSON instead of a table; changes are audited as cli:<os user>):
  requests [--state S] [--kind K]
                             open requests (or every request in state S)
  request REF                a request with its thread, notices, state changes and audit
  outbox [--failed]          notices pending, failed or held back
  outbox retry ID|--failed   put failed notices back to pending
  quarantine                 the quarantined messages
  quarantine requeue UID     move one back to the mailbox for the desk to handle afresh
  backup FILE [-desk NAME]   consistent copy of a desk's database while it runs, and
                             its seal key as FILE.key
  migrate-db --to postgres://... --key-file FILE [-desk NAME]
                             copy each desk's SQLite database into its schema of an
                             empty PostgreSQL database, with its seal key
`

// runCommand is main without the process: it returns the exit status.
func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "run", "once", "check-config":
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		fs.SetOutput(stderr)
		path := fs.String("config", "", "configuration file (YAML)")
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if *path == "" {
			fmt.Fprintf(stderr, "madoguchi %s: -config FILE is required\n", cmd)
			return 2
		}
		switch cmd {
		case "run":
			err = runDaemon(ctx, *path, stderr)
		case "once":
			err = runOnce(ctx, *path, stdout, stderr)
		default:
			err = checkConfigFile(*path, stdout)
		}
	case "demo":
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		fs.SetOutput(stderr)
		var opts demo.Options
		fs.BoolVar(&opts.Serve, "serve", false, "keep the servers and the desks running for a real mail client")
		fs.BoolVar(&opts.Verbose, "v", false, "print the full text of every notice")
		fs.StringVar(&opts.IMAPAddr, "imap", "", "IMAP server address (with --serve default "+demo.DefaultIMAPAddr+")")
		fs.StringVar(&opts.SinkAddr, "sink", "", "SMTP sink the desks send through (with --serve default "+demo.DefaultSinkAddr+")")
		fs.StringVar(&opts.SubmitAddr, "submit", "", "SMTP server a mail client sends through (--serve; default "+demo.DefaultSubmitAddr+")")
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		err = runDemo(ctx, opts, stdout)
	case "jobs":
		if len(rest) == 0 || (rest[0] != "list" && rest[0] != "run") {
			fmt.Fprintf(stderr, "madoguchi jobs: list or run NAME\n\n%s", usage)
			return 2
		}
		sub, name := rest[0], ""
		flagArgs := rest[1:]
		if sub == "run" {
			if len(flagArgs) == 0 || strings.HasPrefix(flagArgs[0], "-") {
				fmt.Fprintln(stderr, "madoguchi jobs run: the job's NAME comes first (see madoguchi jobs list)")
				return 2
			}
			name, flagArgs = flagArgs[0], flagArgs[1:]
		}
		fs := flag.NewFlagSet("jobs "+sub, flag.ContinueOnError)
		fs.SetOutput(stderr)
		path := fs.String("config", "", "configuration file (YAML)")
		if err := fs.Parse(flagArgs); err != nil {
			return 2
		}
		if sub == "run" && *path == "" {
			fmt.Fprintln(stderr, "madoguchi jobs run: -config FILE is required")
			return 2
		}
		err = runJobs(ctx, sub, name, *path, stdout, stderr)
	case "forwarding":
		if len(rest) == 0 || rest[0] != "export" {
			fmt.Fprintf(stderr, "madoguchi forwarding: the only subcommand is export\n\n%s", usage)
			return 2
		}
		fs := flag.NewFlagSet("forwarding export", flag.ContinueOnError)
		fs.SetOutput(stderr)
		path := fs.String("config", "", "configuration file (YAML)")
		if err := fs.Parse(rest[1:]); err != nil {
			return 2
		}
		if *path == "" {
			fmt.Fprintln(stderr, "madoguchi forwarding export: -config FILE is required")
			return 2
		}
		err = exportForwarding(ctx, *path, stdout, stderr)
	case "import":
		return runImport(ctx, rest, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "requests", "request", "outbox", "quarantine":
		return runOps(ctx, cmd, rest, stdout, stderr)
	case "backup":
		return runBackup(ctx, rest, stdout, stderr)
	case "migrate-db":
		return runMigrateDB(ctx, rest, stdout, stderr)
	case "policy":
		err = printPolicy(stdout)
	case "version":
		err = printVersion(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "madoguchi: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return 0
		}
		fmt.Fprintf(stderr, "madoguchi %s: %v\n", cmd, err)
		return 1
	}
	return 0
}
