package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to read the shared database as the checks do

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/testkit/demo"
	"github.com/madoguchi/madoguchi/internal/testkit/teststore"
)

// failoverLease is the instances' cluster.lease: the shortest allowed, so
// ten takeovers fit in a test.
const failoverLease = 3 * time.Second

// TestFailoverDovecotPostgres runs two instances of the real binary on one
// PostgreSQL database and one Dovecot mailbox, with the fault test's mix
// of 2,000 submissions. The instance holding the desk is killed with
// SIGKILL ten times at random moments; the other must take the desk over
// within the lease, and the killed one is restarted. The SMTP sink answers
// 4xx for a while and 550 for some recipients. At the end the fault
// test's checks hold: every message filed and recorded exactly once,
// nothing left in the INBOX or pending, a repeated notice only after a kill
// and with the same Message-ID, no sender answered under two Message-IDs.
// MADOGUCHI_FAILOVER=N changes the number of submissions.
func TestFailoverDovecotPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	if os.Getenv(teststore.PostgresURLEnv) == "" {
		t.Skip(teststore.PostgresURLEnv + " is not set: the failover test needs PostgreSQL (eval \"$(scripts/postgres.sh)\")")
	}
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("MADOGUCHI_FAILOVER")); err == nil && v >= 20 {
		n = v
	}
	const kills = 10
	addr, user, pass, c := dovecot(t)
	for _, box := range []string{"INBOX", "Processed", "Quarantine"} {
		emptyMailbox(t, c, box)
	}
	box := dovecotMailbox{c}
	bin := buildBinary(t)

	subs := faultSubmissions("fov", n)
	sink, reject := faultSink(t, subs)

	// One configuration for both instances but their names; the database
	// is the test's own on the server (teststore drops it at the end).
	dir := t.TempDir()
	base := demo.Config(addr, sink.Addr, "UNUSED")
	// Retries must outlast the 4xx phase, or its notices would be given up.
	base = strings.Replace(base, "  tls: none\ndatabase:", "  tls: none\n  backoff: [1s, 2s, 3s, 5s, 8s]\ndatabase:", 1)
	base = strings.Replace(base, "database:\n  path: UNUSED\n", "database: "+teststore.DatabaseYAML(t, teststore.Postgres)+"\n", 1)
	base = strings.Replace(base, "  username: desk\n  password: deskpass\n", fmt.Sprintf("  username: %s\n  password_env: TEST_IMAP_PASSWORD\n", user), 1)
	env := append(os.Environ(), "TEST_IMAP_PASSWORD="+pass)
	instances := map[string]*daemon{}
	var cfgPath string
	for _, name := range []string{"alpha", "beta"} {
		cfg := base + fmt.Sprintf("cluster:\n  instance: %s\n  lease: %s\n", name, failoverLease)
		cfgPath = filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		instances[name] = &daemon{t: t, bin: bin, cfgPath: cfgPath, env: env}
	}
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := config.Parse(raw, func(k string) string {
		if k == "TEST_IMAP_PASSWORD" {
			return pass
		}
		return os.Getenv(k)
	})
	if err != nil {
		t.Fatal(err)
	}
	// The checks read the desk's schema of the shared database.
	u, err := url.Parse(parsed.Database.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", parsed.PostgresSchema())
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	queryInt := func(query string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRow(query, args...).Scan(&n); err != nil {
			if strings.Contains(err.Error(), "does not exist") {
				return -1 // not migrated yet
			}
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	// holder is the instance whose lease is live by the database's clock.
	holder := func() string {
		var name string
		err := db.QueryRow(`SELECT holder FROM desk_leases WHERE desk = $1 AND expires_at > CAST(extract(epoch FROM clock_timestamp())*1000 AS BIGINT)`,
			parsed.Name).Scan(&name)
		if err != nil {
			return ""
		}
		return name
	}
	waitHolder := func(not string, limit time.Duration) (string, time.Duration) {
		t.Helper()
		start := time.Now()
		for time.Since(start) < limit {
			if h := holder(); h != "" && h != not {
				return h, time.Since(start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return "", time.Since(start)
	}

	began := time.Now()
	for _, d := range instances {
		d.start()
	}
	if h, _ := waitHolder("", 30*time.Second); h == "" {
		t.Fatalf("no instance took the desk; logs:\n%s\n%s", tail(instances["alpha"].logs.String(), 30), tail(instances["beta"].logs.String(), 30))
	}

	rng := rand.New(rand.NewPCG(uint64(n), kills))
	batches := 2 * kills
	killIn := map[int]bool{}
	for _, b := range rng.Perm(batches)[:kills] {
		killIn[b] = true
	}
	var killTimes []time.Time
	var takeovers []time.Duration
	batchTook := time.Second
	waitInbox := func(what string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for box.count(t, "INBOX") > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: INBOX still holds %d messages; logs:\n%s\n%s", what, box.count(t, "INBOX"),
					tail(instances["alpha"].logs.String(), 40), tail(instances["beta"].logs.String(), 40))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for b := 0; b < batches; b++ {
		start := time.Now()
		for i := b * len(subs) / batches; i < (b+1)*len(subs)/batches; i++ {
			box.append(t, subs[i].mail.Build())
		}
		if b == batches/3 {
			sink.SetTempFail(true)
			time.AfterFunc(3*time.Second, func() { sink.SetTempFail(false) })
		}
		if killIn[b] {
			time.Sleep(time.Duration(rng.Int64N(int64(batchTook + batchTook/5))))
			victim := holder()
			if victim == "" {
				victim, _ = waitHolder("", 2*failoverLease)
			}
			instances[victim].stop(syscall.SIGKILL)
			killTimes = append(killTimes, time.Now())
			// The other instance must take the desk within the lease; the
			// killed one comes back after that (under its own name it would
			// otherwise take back its unexpired lease at once).
			next, took := waitHolder(victim, 3*failoverLease)
			if next == "" {
				t.Fatalf("kill %d of %s: no takeover after %s", len(killTimes), victim, took)
			}
			takeovers = append(takeovers, took)
			instances[victim].start()
		}
		waitInbox(fmt.Sprintf("batch %d", b))
		batchTook = max(100*time.Millisecond, time.Since(start))
	}
	sink.SetTempFail(false)

	deadline := time.Now().Add(2 * time.Minute)
	for queryInt(`SELECT count(*) FROM outbox WHERE state = 'pending'`) != 0 || box.count(t, "INBOX") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the desk did not settle: %d notices pending, %d messages in INBOX", queryInt(`SELECT count(*) FROM outbox WHERE state = 'pending'`), box.count(t, "INBOX"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, d := range instances {
		d.stop(syscall.SIGTERM)
	}
	workDone := time.Since(began)
	if n := queryInt(`SELECT count(*) FROM desk_leases WHERE expires_at > CAST(extract(epoch FROM clock_timestamp())*1000 AS BIGINT)`); n != 0 {
		t.Errorf("%d leases still held after both instances stopped with SIGTERM", n)
	}

	st, err := app.OpenStore(context.Background(), parsed, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The checks' queries have no parameters but the one they format in.
	out := faultOutcome{messages: n, subs: subs, reject: reject, box: box, queryInt: queryInt, db: db, st: st,
		sink: sink, killTimes: killTimes}.check(t)

	longest := time.Duration(0)
	for i, took := range takeovers {
		longest = max(longest, took)
		if took > failoverLease {
			t.Errorf("takeover %d took %s, longer than the lease of %s", i+1, took.Round(time.Millisecond), failoverLease)
		}
	}
	if len(takeovers) != kills {
		t.Errorf("%d takeovers for %d kills", len(takeovers), kills)
	}
	takeLines := regexp.MustCompile(`cluster: desk taken`)
	var allLogs strings.Builder
	for _, d := range instances {
		allLogs.Write(d.allLogs.Bytes())
	}
	t.Logf("%d messages, %d kills of the holding instance, %d takeovers (%d logged), longest %s (lease %s); SMTP 4xx for 3s",
		n, len(killTimes), len(takeovers), len(takeLines.FindAllString(allLogs.String(), -1)), longest.Round(time.Millisecond), failoverLease)
	t.Logf("%d notices sent, %d failed on 550, %d answers in reply to messages; %d repeated notices after kills (same Message-ID): %v; run took %s",
		len(out.sent), out.failed, out.answers, out.repeats, out.repeatIDs, workDone.Round(time.Second))
}
