package benchmark

import (
	"context"
	"database/sql"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/madoguchi/madoguchi/internal/testkit/teststore"
)

// The benchmark runs end to end at a tiny N and fills every figure of its
// report. Timings are printed, never asserted.
func TestRunSmall(t *testing.T) {
	runSmall(t, "", 5)
}

// On PostgreSQL the same run adds the server's raw insert stage and the
// cost of a desk transaction against it, and leaves no database behind.
func TestRunSmallPostgres(t *testing.T) {
	server := os.Getenv(teststore.PostgresURLEnv)
	if server == "" {
		t.Skip(teststore.PostgresURLEnv + " is not set")
	}
	out := runSmall(t, server, 6)
	for _, want := range []string{"database: PostgreSQL ", "PostgreSQL inserts", "PostgreSQL raw", "a desk transaction (seen row + outbox row) costs"} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	db, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var left int
	if err := db.QueryRow(`SELECT count(*) FROM pg_database WHERE datname LIKE 'madoguchi_bench_%'`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d bench databases left behind (%v)", left, err)
	}
}

func runSmall(t *testing.T, databaseURL string, stages int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	r, err := Run(ctx, Options{N: 200, PasswordShare: 0.2, Replies: 5, Out: &out, DatabaseURL: databaseURL})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	v := reflect.ValueOf(r)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).IsZero() {
			t.Errorf("report field %s is zero", v.Type().Field(i).Name)
		}
	}
	if len(r.Stages) != stages {
		t.Fatalf("%d stages, want %d", len(r.Stages), stages)
	}
	for _, s := range r.Stages {
		sv := reflect.ValueOf(s)
		for i := 0; i < sv.NumField(); i++ {
			if sv.Field(i).IsZero() {
				t.Errorf("stage %s: field %s is zero", s.Name, sv.Type().Field(i).Name)
			}
		}
	}
	if !(r.Ratio > 0) || math.IsInf(r.Ratio, 0) {
		t.Errorf("ratio %v", r.Ratio)
	}
	// The mix is what it claims: every application accepted (one hash
	// each), every question an inquiry (acknowledged, copied to the
	// operators), every reply completed.
	if r.Applications != 40 || r.Attachments != 20 || r.Questions != 140 || r.ISO2022JP+r.UTF8 != 200 {
		t.Errorf("mix: %d applications, %d attachments, %d questions, %d+%d by charset", r.Applications, r.Attachments, r.Questions, r.ISO2022JP, r.UTF8)
	}
	questions := r.Attachments + r.Questions
	if r.Notices != r.Messages+questions || r.NoticeKinds["new_id_received"] != r.Applications ||
		r.NoticeKinds["inquiry_received"] != questions || r.NoticeKinds["inquiry_for_operators"] != questions {
		t.Errorf("%d notices for %d messages: %v", r.Notices, r.Messages, r.NoticeKinds)
	}
	if !strings.Contains(out.String(), "\nratio end-to-end/bound: ") {
		t.Error("no line with the ratio in the output")
	}
	// The CPU line: this process did work; on Linux the machine's share
	// is read from /proc/stat and lies within the machine's capacity.
	c := r.DeskCPU
	if c.Process <= 0 || !strings.Contains(out.String(), "\nCPU during the desk run: this process ") {
		t.Errorf("desk run CPU %+v, or no line with it", c)
	}
	if _, err := os.Stat("/proc/stat"); err == nil && !(c.Busy > 0 && c.Busy <= 1 && c.System >= 0 && c.System <= c.Busy) {
		t.Errorf("machine CPU shares %+v", c)
	}
	return out.String()
}
