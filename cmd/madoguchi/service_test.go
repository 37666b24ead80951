package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The real daemon speaks systemd's notify protocol to NOTIFY_SOCKET:
// READY=1 once its desks run (with the metrics address in STATUS=),
// WATCHDOG=1 at half WATCHDOG_USEC while it is well, STOPPING=1 on
// SIGTERM, then a clean exit. Its JSON log writes durations as text.
func TestNotifyProtocol(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	bin, _, _, cfgPath := binaryFixture(t, "http: {address: \"127.0.0.1:0\"}\nlog: {format: json}\n")
	dir := filepath.Dir(cfgPath)

	// systemd's end of the protocol: a datagram socket.
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	messages := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(messages)
				return
			}
			messages <- string(buf[:n])
		}
	}()
	expect := func(state string) string {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case m, ok := <-messages:
				if !ok {
					t.Fatalf("socket closed before %s", state)
				}
				for _, line := range strings.Split(m, "\n") {
					if line == state {
						return m
					}
				}
				if strings.Contains(m, "STOPPING=1") && state != "STOPPING=1" {
					t.Fatalf("STOPPING=1 before %s", state)
				}
			case <-timeout:
				t.Fatalf("no %s within 30s", state)
			}
		}
	}

	cmd := exec.Command(bin, "run", "-config", cfgPath)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=200000") // pings every 100 ms
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	ready := expect("READY=1")
	if !strings.Contains(ready, "STATUS=1 desks running; metrics and health on http://127.0.0.1:") {
		t.Errorf("READY=1 came with %q", ready)
	}
	expect("WATCHDOG=1")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expect("STOPPING=1")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("still running 40s after SIGTERM\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"grace":"20s"`) {
		t.Errorf("the shutdown line's duration is not text:\n%s", logs.String())
	}
}

// `madoguchi version` names the build: module version, VCS revision (when
// the build was stamped) and Go version.
func TestVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := runCommand(context.Background(), []string{"version"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "madoguchi ") || !strings.Contains(out.String(), runtime.Version()) {
		t.Errorf("version printed %q", out.String())
	}

	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/madoguchi/madoguchi", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-11-25T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	want := "madoguchi v0.3.0\nrevision 0123abcd (2026-11-25T10:00:00Z, modified)\ngo1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if got := versionText(stamped); got != want {
		t.Errorf("stamped build:\n%s\nwant\n%s", got, want)
	}
	if got := versionText(&debug.BuildInfo{GoVersion: "go1.26.8"}); !strings.Contains(got, "madoguchi (devel)\nrevision unknown") {
		t.Errorf("unstamped build: %q", got)
	}
}

// The systemd unit passes `systemd-analyze verify` without a warning
// (where systemd-analyze is installed). verify insists that ExecStart's
// binary exists, so a copy of the unit points it at this test's binary.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	unit, err := os.ReadFile("../../dist/systemd/madoguchi.service")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("ExecStart=/usr/local/bin/madoguchi run ")) {
		t.Fatal("the unit's ExecStart is not the documented /usr/local/bin/madoguchi run ...")
	}
	path := filepath.Join(t.TempDir(), "madoguchi.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/madoguchi"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
