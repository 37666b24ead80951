package config_test

import (
	"strings"
	"testing"

	"github.com/madoguchi/madoguchi/internal/config"
	"github.com/madoguchi/madoguchi/scheduler"
)

// Load accepts exactly the schedules the scheduler starts with: config
// keeps its own copy of the scheduler's cron parser.
func TestSchedulesAsTheSchedulerParsesThem(t *testing.T) {
	for _, spec := range []string{"0 9 * * *", "@every 1m", "@daily", "*/5 8-18 * * 1-5", "0 0 1 */2 *",
		"0 25 * * *", "61 * * * *", "0 9 * *", "0 0 9 * * *", "@every", "@every 0s", "@hourly", "TZ=Asia/Tokyo 0 9 * * *", "nonsense", ""} {
		yaml := `desk: {address: d@example.jp, domain: example.jp}
imap: {address: "127.0.0.1:143", username: u, password: p}
smtp: {address: "127.0.0.1:25"}
database: {path: /tmp/x.db}
operators: [o@example.jp]
operator_auth: {authserv_id: mx.example.jp}
jobs: {digest: "` + spec + `"}
`
		_, loadErr := config.Parse([]byte(yaml), func(string) string { return "" })
		_, startErr := scheduler.New(scheduler.Options{}, scheduler.Job{Name: "digest", Schedule: spec})
		if spec == "" { // an empty key takes the default
			startErr = nil
		}
		if (loadErr == nil) != (startErr == nil) {
			t.Errorf("%q: load says %v, the scheduler says %v", spec, loadErr, startErr)
		}
		if loadErr != nil && !strings.Contains(loadErr.Error(), "jobs.digest:") {
			t.Errorf("%q: the problem does not name jobs.digest: %v", spec, loadErr)
		}
	}
}
