package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// cluster: lease defaults to 15s and must be at least 3s; the instance is
// named by the host and process unless given.
func TestClusterSection(t *testing.T) {
	const base = `
desk: {address: d@example.jp, domain: example.jp}
imap: {address: "127.0.0.1:143", username: u, password: p}
smtp: {address: "127.0.0.1:25"}
database: {path: /tmp/x.db}
operators: [o@example.jp]
operator_auth: {authserv_id: mx.example.jp}
`
	cfg, err := Parse([]byte(base), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if cfg.Cluster.Lease != 15*time.Second || cfg.Cluster.InstanceName() != fmt.Sprintf("%s:%d", host, os.Getpid()) {
		t.Errorf("defaults: lease %s, instance %q", cfg.Cluster.Lease, cfg.Cluster.InstanceName())
	}
	cfg, err = Parse([]byte(base+"cluster: {instance: host-a, lease: 5s}\n"), env(nil))
	if err != nil || cfg.Cluster.InstanceName() != "host-a" || cfg.Cluster.Lease != 5*time.Second {
		t.Fatalf("given: %v, %+v", err, cfg.Cluster)
	}
	for value, problem := range map[string]string{
		"{lease: 2s}":           "cluster.lease: 2s is too short (at least 3s",
		`{instance: " host-a"}`: `cluster.instance: " host-a" must not start or end with blanks`,
	} {
		if _, err := Parse([]byte(base+"cluster: "+value+"\n"), env(nil)); err == nil || !strings.Contains(err.Error(), problem) {
			t.Errorf("cluster: %s: error %v; want %q", value, err, problem)
		}
	}
}

// cluster: belongs to the process: a desk's entry may not set it.
func TestClusterOnlyAtTopLevel(t *testing.T) {
	_, err := Parse([]byte(`
desk: {address: d@example.jp, domain: example.jp}
imap: {address: "127.0.0.1:143", username: u, password: p}
smtp: {address: "127.0.0.1:25"}
database: {path: /tmp/x.db}
operators: [o@example.jp]
operator_auth: {authserv_id: mx.example.jp}
desks:
  - name: second
    desk: {address: d2@example.jp}
    cluster: {lease: 30s}
`), env(nil))
	if err == nil || !strings.Contains(err.Error(), "cluster: is the process's, not a desk's") {
		t.Fatalf("error %v", err)
	}
}
