package config

import (
	"strings"
	"testing"
)

const twoDesks = `desk: {address: touroku@example.jp, domain: example.jp}
imap: {address: "imap.example.jp:993", username: touroku, password: x}
smtp: {address: "smtp.example.jp:587"}
database: {path: /var/lib/madoguchi/desk.db}
operators: [ops@example.jp]
operator_auth: {authserv_id: mx.example.jp}
desks:
  - name: facility
    service: facility
    desk: {address: canreg@example.jp}
    imap: {username: canreg}
    operators: [canreg-ops@example.jp]
    facility: {facility_list: /etc/madoguchi/facilities.csv}
`

// A second desk overrides only what differs; the rest comes from the top
// level, and it gets its own database.
func TestSecondDeskInheritsAndOverrides(t *testing.T) {
	c, err := Parse([]byte(twoDesks), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Desks) != 1 || len(c.AllDesks()) != 2 {
		t.Fatalf("desks: %d", len(c.Desks))
	}
	f := c.Desks[0]
	if f.Service != "facility" || f.Name != "facility" || c.Name != "id" {
		t.Errorf("service %q name %q / %q", f.Service, f.Name, c.Name)
	}
	if f.Desk.Address != "canreg@example.jp" || f.Desk.Domain != "example.jp" || f.IMAP.Username != "canreg" || f.IMAP.Address != "imap.example.jp:993" {
		t.Errorf("not merged: %+v %+v", f.Desk, f.IMAP)
	}
	if f.Database.Path != "/var/lib/madoguchi/desk-facility.db" {
		t.Errorf("database %q", f.Database.Path)
	}
	if f.Desk.ReferencePrefix != "GAN" || f.Desk.Name != "医療機関オンライン接続サービス" || len(f.Facility.MobileDomains) == 0 {
		t.Errorf("facility defaults: %+v", f.Desk)
	}
}

// Problems of a second desk are named with its place in the list.
func TestSecondDeskProblemsNamed(t *testing.T) {
	bad := strings.Replace(twoDesks, "    facility: {facility_list: /etc/madoguchi/facilities.csv}\n", "", 1)
	_, err := Parse([]byte(bad), func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "desks[0].facility.facility_list") {
		t.Fatalf("error %v", err)
	}
}
