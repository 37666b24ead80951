package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/madoguchi/madoguchi/cmd/madoguchi/app"
	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/internal/testkit/loopback"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

// The daemon's HTTP listener, on a real desk with the loopback servers:
// /metrics carries the desk's series and they move when a message is
// answered; /healthz is 200 while the mailbox answers and 503 once the
// IMAP server is gone for longer than http.health.imap_down_after; the
// listener stops with the daemon.
func TestMetricsAndHealth(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	imapSrv, err := loopback.StartIMAP(loopback.IMAPOptions{Users: map[string]string{"desk": "pw"}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imapSrv.Close() })
	sink, err := loopback.StartSMTP(loopback.SinkOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	cfg, err := config.Parse(fmt.Appendf(nil, `desk: {address: desk@madoguchi.test, domain: id.madoguchi.test, fax: 03-0000-0000}
imap: {address: "%s", tls: none, username: desk, password: pw, poll_interval: 1s}
smtp: {address: "%s", tls: none}
database: {path: %s, synchronous: normal}
operators: [ops@madoguchi.test]
operator_auth: {required: false}
limits: {code_requests_per_sender_per_hour: 1, hashes_per_sender_per_hour: 1}
http: {address: "127.0.0.1:0", health: {imap_down_after: 3s, notice_age: 1m}}
`, imapSrv.Addr, sink.Addr, filepath.Join(t.TempDir(), "desk.db")), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	g, err := app.NewGroup(context.Background(), cfg, app.Options{Logger: quiet, Hash: secret.Params{MemoryKiB: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	addr, err := g.Listen()
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- g.Run(ctx) }()

	metrics := scrape(t, base)
	for _, series := range []string{
		`madoguchi_messages_total{desk="id",outcome="answered"}`,
		`madoguchi_refusals_total{desk="id",limit="hashes"}`,
		`madoguchi_smtp_replies_total{class="2xx",desk="id"}`,
		`madoguchi_imap_reconnects_total{desk="id"}`,
		`madoguchi_notices{desk="id",state="pending"}`,
		`madoguchi_notices{desk="id",state="failed"}`,
		`madoguchi_oldest_due_notice_age_seconds{desk="id"}`,
		`madoguchi_imap_last_event_age_seconds{desk="id"}`,
		`madoguchi_job_runs_total{desk="id",job="expire-codes"}`,
		`madoguchi_notice_deliveries_total{desk="id",result="sent"}`,
	} {
		if _, ok := metrics[series]; !ok {
			t.Errorf("no series %s", series)
		}
	}
	if metrics[`madoguchi_messages_total{desk="id",outcome="answered"}`] != 0 {
		t.Errorf("answered before any mail: %v", metrics)
	}

	// A question; two reset requests from one sender, the second over
	// limits.code_requests_per_sender_per_hour; two applications with
	// passwords from another, the second over limits.hashes_per_sender_per_hour.
	for _, m := range []samples.Mail{
		{From: "applicant@hosp.example", Subject: "質問"},
		{From: "taro@hosp.example", Subject: "パスワード再設定", Body: samples.ResetForm("yamada-tk")},
		{From: "taro@hosp.example", Subject: "パスワード再設定", Body: samples.ResetForm("yamada-tk")},
		{From: "hanako@hosp.example", Subject: "新規ID申請", Body: samples.NewIDJapanese("suzuki-hk", "鈴木", "花子")},
		{From: "hanako@hosp.example", Subject: "新規ID申請", Body: samples.NewIDJapanese("suzuki-hn", "鈴木", "花奈")},
	} {
		m.To = "desk@madoguchi.test"
		if err := imapSrv.Append("desk", "INBOX", m.Build()); err != nil {
			t.Fatal(err)
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := sink.Wait(wctx, 5); err != nil {
		t.Fatalf("the answers did not reach the sink: %v", err)
	}
	moved := func(m map[string]float64) bool {
		return m[`madoguchi_messages_total{desk="id",outcome="answered"}`] == 5 &&
			m[`madoguchi_refusals_total{desk="id",limit="requests"}`] == 1 &&
			m[`madoguchi_refusals_total{desk="id",limit="hashes"}`] == 1 &&
			m[`madoguchi_smtp_replies_total{class="2xx",desk="id"}`] >= 5 &&
			m[`madoguchi_notice_deliveries_total{desk="id",result="sent"}`] >= 5 &&
			m[`madoguchi_notices{desk="id",state="pending"}`] == 0
	}
	for deadline := time.Now().Add(10 * time.Second); !moved(metrics); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the series did not move after a message was answered: %v", metrics)
		}
		metrics = scrape(t, base)
	}

	// The one instance holds the desk's lease and says so.
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || !strings.HasPrefix(body, "ok\ndesk id: held by "+g.Instance()+" (this instance) until ") {
		t.Fatalf("/healthz with the desk working: %d %q", code, body)
	}
	if held := metrics[`madoguchi_desk_lease_held{desk="id"}`]; held != 1 {
		t.Errorf("madoguchi_desk_lease_held = %v, want 1", held)
	}
	imapSrv.Close()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, body := get(t, base+"/healthz")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "desk id: no answer from IMAP for") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz with the IMAP server gone: %d %q", code, body)
		}
	}
	if m := scrape(t, base); m[`madoguchi_imap_reconnects_total{desk="id"}`] < 1 || m[`madoguchi_imap_last_event_age_seconds{desk="id"}`] < 3 {
		t.Errorf("after the IMAP server stopped: reconnects %v, last event %vs ago",
			m[`madoguchi_imap_reconnects_total{desk="id"}`], m[`madoguchi_imap_last_event_age_seconds{desk="id"}`])
	}

	cancel()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if resp, err := http.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("the listener still answers after the daemon stopped")
	}
}

// scrape reads /metrics with Prometheus's own text parser, as
// `name{label="value",...}` -> value (labels sorted by name).
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() { // sorted by name in the exposition
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			out[key] = sampleValue(f.GetType(), m)
		}
	}
	return out
}

func sampleValue(typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	default:
		return m.GetUntyped().GetValue()
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}
