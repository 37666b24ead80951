package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	systemd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
)

// runService runs the desks under systemd's notify protocol (Type=notify
// in dist/systemd/madoguchi.service): READY=1 once the desks run and the
// HTTP listener is bound, WATCHDOG=1 every half WatchdogSec while no
// desk's loops have stalled, STOPPING=1 as soon as SIGTERM ends ctx.
// Without NOTIFY_SOCKET (not under systemd) the notifications do nothing.
func runService(ctx context.Context, g *app.Group, log *slog.Logger) error {
	addr, err := g.Listen()
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()

	status := fmt.Sprintf("%d desks running", len(g.Apps))
	if addr != nil {
		status += "; metrics and health on http://" + addr.String()
	}
	notify(log, systemd.SdNotifyReady+"\nSTATUS="+status)

	var ping <-chan time.Time
	if interval, err := systemd.SdWatchdogEnabled(false); err != nil {
		log.Warn("systemd watchdog settings unreadable; not pinging it", "err", err)
	} else if interval > 0 {
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		ping = t.C
	}
	for {
		select {
		case err := <-done: // the desks stopped on their own
			notify(log, systemd.SdNotifyStopping)
			return err
		case <-ctx.Done():
			notify(log, systemd.SdNotifyStopping)
			return <-done
		case <-ping:
			// A stalled loop is what a restart mends; a mail server that is
			// down is not (the loops keep retrying), so that keeps pinging.
			if stalled := g.Telemetry.Stalled(); len(stalled) > 0 {
				log.Error("not pinging the systemd watchdog: the desk is stalled", "stalled", strings.Join(stalled, "; "))
				continue
			}
			notify(log, systemd.SdNotifyWatchdog)
		}
	}
}

func notify(log *slog.Logger, state string) {
	if _, err := systemd.SdNotify(false, state); err != nil {
		log.Warn("systemd notification failed", "state", state, "err", err)
	}
}

// printVersion writes the module version, the VCS revision the binary was
// built from and the Go version, so a report can name the exact build.
func printVersion(w io.Writer) error {
	info, _ := debug.ReadBuildInfo()
	_, err := io.WriteString(w, versionText(info))
	return err
}

func versionText(info *debug.BuildInfo) string {
	version, goVersion := "(unknown)", runtime.Version()
	settings := map[string]string{}
	if info != nil {
		version = info.Main.Version
		goVersion = info.GoVersion
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
	}
	if version == "" {
		version = "(devel)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "madoguchi %s\n", version)
	if rev := settings["vcs.revision"]; rev != "" {
		detail := settings["vcs.time"]
		if settings["vcs.modified"] == "true" {
			detail = strings.TrimPrefix(detail+", modified", ", ")
		}
		if detail != "" {
			detail = " (" + detail + ")"
		}
		fmt.Fprintf(&b, "revision %s%s\n", rev, detail)
	} else {
		b.WriteString("revision unknown (built without VCS stamping: -buildvcs=false, or outside a git checkout)\n")
	}
	fmt.Fprintf(&b, "%s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
