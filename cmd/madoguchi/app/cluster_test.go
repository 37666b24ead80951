package app_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
	"github.com/madoguchi/madoguchi/internal/testkit/teststore"
)

// clusterLease is short, so a takeover is quick to wait for.
const clusterLease = 3 * time.Second

// clusterFixture is the mail servers and the one PostgreSQL database that
// the instances of a test share.
type clusterFixture struct {
	imap     *loopback.IMAPServer
	sink     *loopback.SMTPSink
	database string // the database: value
	desks    string // a desks: section, or ""
}

func newClusterFixture(t *testing.T, users ...string) *clusterFixture {
	t.Helper()
	database := teststore.DatabaseYAML(t, teststore.Postgres) // skips without a server
	quiet := slog.New(slog.DiscardHandler)
	accounts := map[string]string{}
	for _, u := range users {
		accounts[u] = "pw"
	}
	imapSrv, err := loopback.StartIMAP(loopback.IMAPOptions{Users: accounts, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imapSrv.Close() })
	sink, err := loopback.StartSMTP(loopback.SinkOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	return &clusterFixture{imap: imapSrv, sink: sink, database: database}
}

// instance is one madoguchi run of the cluster, named name.
type instance struct {
	name    string
	group   *app.Group
	cancel  context.CancelFunc
	stopped chan error
}

func (f *clusterFixture) start(t *testing.T, name string, crashOnStop bool) *instance {
	t.Helper()
	cfg, err := config.Parse(fmt.Appendf(nil, `desk: {address: desk@madoguchi.test, domain: id.madoguchi.test, fax: 03-0000-0000}
imap: {address: "%s", tls: none, username: desk, password: pw, poll_interval: 1s}
smtp: {address: "%s", tls: none}
database: %s
operators: [ops@madoguchi.test]
operator_auth: {required: false}
cluster: {instance: %s, lease: %s}
shutdown_grace: 10s
%s`, f.imap.Addr, f.sink.Addr, f.database, name, clusterLease, f.desks), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	g, err := app.NewGroup(context.Background(), cfg, app.Options{Logger: slog.New(slog.DiscardHandler),
		Hash: secret.Params{MemoryKiB: 64, Time: 1, Threads: 1}, Instance: cfg.Cluster.InstanceName()})
	if err != nil {
		t.Fatal(err)
	}
	if crashOnStop {
		g.AbandonOnStop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{name: name, group: g, cancel: cancel, stopped: make(chan error, 1)}
	go func() { in.stopped <- g.Run(ctx) }()
	t.Cleanup(func() { in.stop(t); g.Close() })
	return in
}

// stop ends the instance (as SIGTERM does, or as SIGKILL when it was
// started to crash) and waits for it.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	if in.cancel == nil {
		return
	}
	in.cancel()
	in.cancel = nil
	select {
	case err := <-in.stopped:
		if err != nil {
			t.Errorf("instance %s: %v", in.name, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("instance %s did not stop", in.name)
	}
}

// holders reads who holds each desk's lease, as the database has it
// (expired leases count as none).
func holders(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	leases, err := st.Leases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range leases {
		if !l.Expired {
			out[l.Desk] = l.Holder
		}
	}
	return out
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// deliver appends questions from n new senders and returns their addresses.
func (f *clusterFixture) deliver(t *testing.T, user, to string, first, n int) []string {
	t.Helper()
	var senders []string
	for i := first; i < first+n; i++ {
		from := fmt.Sprintf("asker%02d@hosp.example", i)
		if err := f.imap.Append(user, "INBOX", samples.Mail{From: from, To: to, Subject: "質問"}.Build()); err != nil {
			t.Fatal(err)
		}
		senders = append(senders, from)
	}
	return senders
}

// answeredOnce checks that every sender got exactly one answer.
func (f *clusterFixture) answeredOnce(t *testing.T, senders []string) {
	t.Helper()
	want := map[string]bool{}
	for _, s := range senders {
		want[s] = true
	}
	got := map[string]int{}
	for _, m := range f.sink.Messages() {
		for _, to := range m.To {
			if want[strings.ToLower(to)] {
				got[strings.ToLower(to)]++
			}
		}
	}
	for _, s := range senders {
		if got[s] != 1 {
			t.Errorf("%s got %d answers, want 1", s, got[s])
		}
	}
}

// Two instances on one PostgreSQL database and one mailbox: one holds the
// desk, mail is answered once; when the holder dies without a word, the
// other takes the desk over within the lease and answers what comes next;
// the holder that stops cleanly hands the desk over at once.
func TestClusterTakeoverPostgres(t *testing.T) {
	f := newClusterFixture(t, "desk")
	a := f.start(t, "a", true)
	st := a.group.Apps[0].Store
	waitFor(t, 5*time.Second, "a holds the desk", func() bool { return holders(t, st)["id"] == "a" })
	b := f.start(t, "b", false)

	before := f.deliver(t, "desk", "desk@madoguchi.test", 0, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.sink.Wait(ctx, len(before)); err != nil {
		t.Fatalf("answers: %v", err)
	}
	if h := holders(t, st)["id"]; h != "a" {
		t.Fatalf("desk held by %q while a runs, want a", h)
	}

	// a dies: its lease is not released.
	a.stop(t)
	took := waitFor(t, 2*clusterLease, "b takes the desk over", func() bool { return holders(t, st)["id"] == "b" })
	t.Logf("b took the desk %s after a stopped (lease %s)", took.Round(time.Millisecond), clusterLease)
	if took > clusterLease {
		t.Errorf("takeover after %s, longer than the lease %s", took, clusterLease)
	}
	after := f.deliver(t, "desk", "desk@madoguchi.test", 100, 4)
	if err := f.sink.Wait(ctx, len(before)+len(after)); err != nil {
		t.Fatalf("answers after the takeover: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // time for a doubled answer to show
	f.answeredOnce(t, append(before, after...))
	if inbox, _ := f.imap.List("desk", "INBOX"); len(inbox) != 0 {
		t.Errorf("%d messages left in the INBOX", len(inbox))
	}

	// b stops cleanly: the lease is free at once, and b is gone.
	b.stop(t)
	if h := holders(t, st); len(h) != 0 {
		t.Errorf("leases after a clean stop: %v", h)
	}
	ins, err := st.Instances(context.Background(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range ins {
		if in.Name == "b" {
			t.Errorf("b still listed after a clean stop: %+v", in)
		}
	}
}

// Two desks and two instances: each instance ends up with one desk, even
// when the first took both before the second came.
func TestClusterSpreadsDesksPostgres(t *testing.T) {
	f := newClusterFixture(t, "desk", "desk2")
	f.desks = `desks:
  - name: second
    desk: {address: desk2@madoguchi.test}
    imap: {username: desk2}
`
	a := f.start(t, "a", false)
	st := a.group.Apps[0].Store
	second := a.group.Apps[1].Store
	both := func() map[string]string {
		h := holders(t, st)
		for k, v := range holders(t, second) {
			h[k] = v
		}
		return h
	}
	waitFor(t, 5*time.Second, "a holds both desks", func() bool {
		h := both()
		return h["id"] == "a" && h["second"] == "a"
	})
	f.start(t, "b", false)
	took := waitFor(t, 4*clusterLease, "one desk each", func() bool {
		h := both()
		return len(h) == 2 && h["id"] != h["second"]
	})
	t.Logf("desks spread after %s: %v", took.Round(time.Millisecond), both())
	// Both desks answer, whoever holds them.
	senders := f.deliver(t, "desk", "desk@madoguchi.test", 0, 2)
	senders2 := f.deliver(t, "desk2", "desk2@madoguchi.test", 50, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.sink.Wait(ctx, 4); err != nil {
		t.Fatalf("answers: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	f.answeredOnce(t, append(senders, senders2...))
}

// A second process given a running instance's name (two machines with one
// cluster.instance) stops with an error naming the problem, without taking,
// releasing or leaving anything of the first one's; a process that
// replaces a crashed one of the same name waits for its heartbeat to lapse
// and carries on.
func TestClusterDuplicateInstanceNamePostgres(t *testing.T) {
	f := newClusterFixture(t, "desk")
	a := f.start(t, "a", true)
	st := a.group.Apps[0].Store
	waitFor(t, 5*time.Second, "a holds the desk", func() bool { return holders(t, st)["id"] == "a" })

	dup := f.start(t, "a", false)
	select {
	case err := <-dup.stopped:
		var inUse *store.NameInUseError
		if !errors.As(err, &inUse) || inUse.Instance != "a" || !strings.Contains(err.Error(), "cluster.instance") {
			t.Fatalf("the second process named a stopped with %v, want the name in use", err)
		}
		dup.cancel()
		dup.cancel = nil // stopped already
	case <-time.After(4*clusterLease + 5*time.Second):
		t.Fatal("the second process named a is still running")
	}
	before := f.deliver(t, "desk", "desk@madoguchi.test", 0, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.sink.Wait(ctx, len(before)); err != nil {
		t.Fatalf("answers from the first process: %v", err)
	}
	if h := holders(t, st)["id"]; h != "a" {
		t.Errorf("desk held by %q after the duplicate stopped, want a", h)
	}
	ins, err := st.Instances(ctx, clusterLease)
	if err != nil || len(ins) != 1 || !ins[0].Live {
		t.Errorf("instances after the duplicate stopped: %+v %v", ins, err)
	}

	// a crashes; a new process of the same name waits for the old
	// heartbeat to lapse, then takes the desk and answers.
	a.stop(t)
	restarted := f.start(t, "a", false)
	after := f.deliver(t, "desk", "desk@madoguchi.test", 100, 3)
	if err := f.sink.Wait(ctx, len(before)+len(after)); err != nil {
		t.Fatalf("answers after the restart: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // time for a doubled answer to show
	f.answeredOnce(t, append(before, after...))
	restarted.stop(t) // its Run returns no error
}
