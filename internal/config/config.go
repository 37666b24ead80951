// Package config loads madoguchi's YAML configuration: it is decoded into a
// typed struct, unknown keys are refused, defaults are applied, secrets are
// read from the environment, and every problem is reported at once by key.
package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/madoguchi/madoguchi/internal/workhours"
	"github.com/robfig/cron/v3"
)

// Config is the whole configuration file. The yaml tags are the key names
// documented in config.example.yaml.
type Config struct {
	Desk      Desk     `yaml:"desk"`
	IMAP      IMAP     `yaml:"imap"`
	SMTP      SMTP     `yaml:"smtp"`
	Database  Database `yaml:"database"`
	Operators []string `yaml:"operators"`
	// ProgramAdministrators may send bulk registrations (a CSV attached).
	ProgramAdministrators []string   `yaml:"program_administrators"`
	Forwarding            Forwarding `yaml:"forwarding"`
	Jobs                  Jobs       `yaml:"jobs"`
	Inquiries             Inquiries  `yaml:"inquiries"`
	// MemoryLimit is the Go runtime's soft memory limit, in bytes; 0
	// takes the default 100 MiB, -1 sets none, and GOMEMLIMIT, when set,
	// wins. Under a limit the collector is paced by it alone (GOGC off
	// unless set), since every argon2id hash allocates 19 MiB; the limit
	// is never below the hashes in flight (19 MiB per core plus one) plus
	// 32 MiB for the heap.
	MemoryLimit int64 `yaml:"memory_limit"`
	// Name tells desks apart (logs, database file); Service is what the
	// desk does: "id" (the ID registration desk) or "facility" (the
	// cancer registry's facility connection service, seed 004).
	Name     string       `yaml:"name"`
	Service  string       `yaml:"service"`
	Facility FacilityDesk `yaml:"facility"`
	// Desks are the other desks one process serves (config key desks:
	// a list of overrides of this file's keys), each complete.
	Desks         []*Config     `yaml:"-"`
	OperatorAuth  OperatorAuth  `yaml:"operator_auth"`
	Limits        Limits        `yaml:"limits"`
	AccessCodes   AccessCodes   `yaml:"access_codes"`
	Templates     Templates     `yaml:"templates"`
	Institutions  []Institution `yaml:"institutions_with_staff"`
	Log           Log           `yaml:"log"`
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	HTTP          HTTP          `yaml:"http"`
	// Cluster is this process among the instances that share a
	// PostgreSQL database; read from the top level (it is the process's).
	Cluster Cluster `yaml:"cluster"`

	// src is where this desk's keys are written, to place its problems.
	src *source
}

// Desk describes the registration desk itself.
type Desk struct {
	Address         string `yaml:"address"`
	Name            string `yaml:"name"`
	Domain          string `yaml:"domain"`
	Timezone        string `yaml:"timezone"`
	ReferencePrefix string `yaml:"reference_prefix"`
	Fax             string `yaml:"fax"`
	PostalAddress   string `yaml:"postal_address"`
	Language        string `yaml:"language"`

	Location *time.Location `yaml:"-"`
}

// IMAP is the mailbox the desk reads.
type IMAP struct {
	Address         string        `yaml:"address"`
	TLS             string        `yaml:"tls"`
	Username        string        `yaml:"username"`
	Password        string        `yaml:"password"`
	PasswordEnv     string        `yaml:"password_env"`
	Mailbox         string        `yaml:"mailbox"`
	Processed       string        `yaml:"processed"`
	Quarantine      string        `yaml:"quarantine"`
	PollInterval    time.Duration `yaml:"poll_interval"`
	IdleRefresh     time.Duration `yaml:"idle_refresh"`
	MaxMessageBytes int64         `yaml:"max_message_bytes"`
	InsecureSkipTLS bool          `yaml:"insecure_skip_verify"`
}

// SMTP is the submission server notices are sent through.
type SMTP struct {
	Address         string          `yaml:"address"`
	TLS             string          `yaml:"tls"`
	Username        string          `yaml:"username"`
	Password        string          `yaml:"password"`
	PasswordEnv     string          `yaml:"password_env"`
	Helo            string          `yaml:"helo"`
	Charset         string          `yaml:"charset"`
	Timeout         time.Duration   `yaml:"timeout"`
	Backoff         []time.Duration `yaml:"backoff"`
	InsecureSkipTLS bool            `yaml:"insecure_skip_verify"`
}

// Database is where all state is kept: a SQLite file (Path, the default)
// or a PostgreSQL database (URL), exactly one of them.
type Database struct {
	Path        string `yaml:"path"`
	Synchronous string `yaml:"synchronous"` // SQLite only
	// URL (postgres://user:password@host:port/dbname) selects PostgreSQL.
	// Each desk keeps its tables in its own schema of that database
	// (Schema), so several desks and instances share one server.
	URL string `yaml:"url"`
	// KeyFile holds the key that seals sensitive notices (32 bytes),
	// required with URL. SQLite keeps its key beside its file; with
	// PostgreSQL every instance must read the same key, so it is a file
	// the operator makes once and copies, never one an instance makes.
	KeyFile string `yaml:"key_file"`
}

// Postgres reports whether the desk's state is in PostgreSQL.
func (d Database) Postgres() bool { return d.URL != "" }

// postgresSchemaPrefix starts the name of every desk's schema.
const postgresSchemaPrefix = "madoguchi_"

// maxPostgresIdentifier is PostgreSQL's identifier length (NAMEDATALEN-1
// bytes); a longer name would be cut, and two desks could share a schema.
const maxPostgresIdentifier = 63

// PostgresSchema is the schema that holds the desk's tables in PostgreSQL:
// madoguchi_ and the desk's name, one per desk as each SQLite desk has its
// own file.
func (c *Config) PostgresSchema() string { return postgresSchemaPrefix + c.Name }

// Cluster names this instance and sets the desks' lease. With SQLite the
// one process holds every lease; the keys matter when several instances
// share a PostgreSQL database.
type Cluster struct {
	// Instance names this process among the instances; it must be unique
	// among those running. Default: host name and process ID (InstanceName).
	Instance string `yaml:"instance"`
	// Lease is how long a desk stays with an instance that stops renewing
	// before another takes it over (and how long a silent instance's
	// claimed notices wait for another sender).
	Lease time.Duration `yaml:"lease"`
}

// minClusterLease keeps the renewals (every third of the lease) well
// apart from database round trips and pauses.
const minClusterLease = 3 * time.Second

// InstanceName is cluster.instance, or the host name and process ID
// ("host-a:12345"), unique among the processes running.
func (c Cluster) InstanceName() string {
	if c.Instance != "" {
		return c.Instance
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// OperatorAuth decides when a mail from an operator address may act.
type OperatorAuth struct {
	// AuthservID is the authserv-id our own MX writes into
	// Authentication-Results; headers from anyone else are ignored.
	AuthservID string `yaml:"authserv_id"`
	// Required false trusts the From header alone: only for closed test
	// installations (the demo), never on a server reachable from outside.
	Required *bool `yaml:"required"`
}

// Limits bound what one message or one sender can cost.
type Limits struct {
	RepliesPerSenderPerHour int   `yaml:"replies_per_sender_per_hour"`
	MaxAttachments          int   `yaml:"max_attachments"`
	MaxAttachmentBytes      int64 `yaml:"max_attachment_bytes"`
	MaxNestingDepth         int   `yaml:"max_nesting_depth"`
	// Self-service requests that send an access code (password reset,
	// rename, deletion) per sender per hour and per account per day.
	CodeRequestsPerSenderPerHour int `yaml:"code_requests_per_sender_per_hour"`
	CodesPerAccountPerDay        int `yaml:"codes_per_account_per_day"`
	// Password hashes (argon2id, the expensive stage) computed for one
	// sender per hour; further password-bearing forms are refused unhashed.
	HashesPerSenderPerHour int `yaml:"hashes_per_sender_per_hour"`
	// UnauthenticatedHashesPerHour is the hashes all senders without an
	// aligned pass from our MX share per hour: From addresses cost nothing
	// to rotate, so the per-sender cap alone does not bound them.
	UnauthenticatedHashesPerHour int `yaml:"unauthenticated_hashes_per_hour"`
	// Documents stored per request and per sender per day (bytes); beyond
	// them attachments are refused with the reason.
	DocumentBytesPerRequest      int64 `yaml:"document_bytes_per_request"`
	DocumentBytesPerSenderPerDay int64 `yaml:"document_bytes_per_sender_per_day"`
}

// AccessCodes are the one-time codes mailed to a registered address.
type AccessCodes struct {
	ValidFor time.Duration `yaml:"valid_for"`
	MaxTries int           `yaml:"max_tries"`
	Digits   int           `yaml:"digits"`
}

// Templates points at optional notice template overrides.
type Templates struct {
	Dir string `yaml:"dir"`
}

// Institution is one with its own registration staff: its applicants send
// their signed forms there instead of to the central desk.
type Institution struct {
	Name  string `yaml:"name"`
	Staff string `yaml:"staff_address"`
}

// Log chooses the log output.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// HTTP is the optional listener for Prometheus (/metrics) and health
// checks (/healthz), one per process: the top level's is used.
type HTTP struct {
	Address string     `yaml:"address"` // host:port; empty (the default) listens nowhere
	Health  HTTPHealth `yaml:"health"`
}

// HTTPHealth are the limits past which /healthz answers 503.
type HTTPHealth struct {
	IMAPDownAfter time.Duration `yaml:"imap_down_after"` // default 5m
	NoticeAge     time.Duration `yaml:"notice_age"`      // default 15m
}

// OperatorAuthRequired reports whether operator commands need a trusted
// Authentication-Results header (the default).
func (c *Config) OperatorAuthRequired() bool {
	return c.OperatorAuth.Required == nil || *c.OperatorAuth.Required
}

// Forwarding is where the mail server's forwarding map of renamed IDs is
// written, and how long a forwarding lasts.
type Forwarding struct {
	PostfixMap string        `yaml:"postfix_map"` // Postfix virtual alias table (run postmap on it)
	CSV        string        `yaml:"csv"`         // the same as CSV: old,new,ends
	Duration   time.Duration `yaml:"duration"`    // default one year (8760h)
}

// Jobs are the scheduled jobs' timetable (cron specs in the desk's time
// zone) and their parameters.
type Jobs struct {
	ExpireCodes string `yaml:"expire_codes"` // default "@every 1m"
	Reminders   string `yaml:"reminders"`    // default "0 9 * * *"
	Forwarding  string `yaml:"forwarding"`   // default "0 3 * * *"
	Digest      string `yaml:"digest"`       // default "0 8 * * *"
	// Operators' reminders of unanswered inquiries; default "*/15 * * * *".
	InquiryReminders string `yaml:"inquiry_reminders"`
	// Reminders for a signed form that has not arrived: after these many
	// days, then again; the application expires this many days after
	// it was received (after the last reminder).
	FirstReminderDays  int `yaml:"first_reminder_days"`  // default 7
	SecondReminderDays int `yaml:"second_reminder_days"` // default 14
	ExpireAfterDays    int `yaml:"expire_after_days"`    // default 30
	// Days before a forwarding ends that the holder is told.
	ForwardingNoticeDays int `yaml:"forwarding_notice_days"` // default 30
	// Status files for the web site, written by the digest job.
	StatusText string `yaml:"status_text"`
	StatusHTML string `yaml:"status_html"`
}

// Inquiries are the questions operators answer by mail: how long one may
// wait unanswered, counted in the desk's working hours in desk.timezone.
type Inquiries struct {
	RemindAfter  time.Duration `yaml:"remind_after"`  // working time; default 8h
	WorkingHours string        `yaml:"working_hours"` // "HH:MM-HH:MM", default "09:00-17:00"
	WorkingDays  []string      `yaml:"working_days"`  // mon..sun; default mon to fri
	Holidays     []string      `yaml:"holidays"`      // YYYY-MM-DD
}

// weekdayNames are the names inquiries.working_days takes.
var weekdayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// parseWorkingHours reads "09:00-17:00" into wall-clock times of day;
// the end may be 24:00.
func parseWorkingHours(s string) (open, close time.Duration, err error) {
	clock := func(hm string, maxHour int) (time.Duration, bool) {
		if len(hm) != 5 || hm[2] != ':' {
			return 0, false
		}
		for _, i := range []int{0, 1, 3, 4} {
			if hm[i] < '0' || hm[i] > '9' {
				return 0, false
			}
		}
		h, m := int(hm[0]-'0')*10+int(hm[1]-'0'), int(hm[3]-'0')*10+int(hm[4]-'0')
		if m > 59 || h > maxHour || h == 24 && m != 0 {
			return 0, false
		}
		return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, true
	}
	from, to, found := strings.Cut(strings.TrimSpace(s), "-")
	open, okOpen := clock(strings.TrimSpace(from), 23)
	close, okClose := clock(strings.TrimSpace(to), 24)
	if !found || !okOpen || !okClose {
		return 0, 0, fmt.Errorf("%q is not HH:MM-HH:MM like 09:00-17:00", s)
	}
	if open >= close {
		return 0, 0, fmt.Errorf("%q must start before it ends", s)
	}
	return open, close, nil
}

// InquiryCalendar is the desk's working time in desk.timezone, which
// inquiries.remind_after counts in. It fails only for a configuration that
// did not pass validation.
func (c *Config) InquiryCalendar() (workhours.Calendar, error) {
	open, close, err := parseWorkingHours(c.Inquiries.WorkingHours)
	if err != nil {
		return workhours.Calendar{}, fmt.Errorf("inquiries.working_hours: %w", err)
	}
	var days []time.Weekday
	for _, name := range c.Inquiries.WorkingDays {
		w, ok := weekdayNames[strings.ToLower(strings.TrimSpace(name))]
		if !ok {
			return workhours.Calendar{}, fmt.Errorf("inquiries.working_days: %q is not one of mon, tue, wed, thu, fri, sat, sun", name)
		}
		days = append(days, w)
	}
	var holidays []workhours.Date
	for _, h := range c.Inquiries.Holidays {
		d, err := workhours.ParseDate(strings.TrimSpace(h))
		if err != nil {
			return workhours.Calendar{}, fmt.Errorf("inquiries.holidays: %w", err)
		}
		holidays = append(holidays, d)
	}
	return workhours.New(c.Desk.Location, open, close, days, holidays)
}

// FacilityDesk configures the facility connection service desk.
type FacilityDesk struct {
	// Mobile carriers' domains, refused for applications (the seed).
	MobileDomains []string `yaml:"mobile_domains"`
	// The facility list: CSV prefecture,name[,code].
	FacilityList string `yaml:"facility_list"`
	// How long the number sent for the main application is valid.
	TokenValidFor time.Duration `yaml:"token_valid_for"`
	// Operators are reminded of applications not phone-verified after
	// these many days.
	VerifyReminderDays int    `yaml:"verify_reminder_days"`
	VerifyReminders    string `yaml:"verify_reminders"` // cron spec, default "0 10 * * *"
	// Where the initial password is changed (in the approved notice).
	PasswordChangeURL string `yaml:"password_change_url"`
	// Where to ask about the facility list, for "no such facility".
	Contact string `yaml:"contact"`
}

// AllDesks is this desk followed by the others.
func (c *Config) AllDesks() []*Config { return append([]*Config{c}, c.Desks...) }

// IsProgramAdministrator reports whether addr may send bulk registrations.
func (c *Config) IsProgramAdministrator(addr string) bool {
	for _, a := range c.ProgramAdministrators {
		if strings.EqualFold(a, addr) {
			return true
		}
	}
	return false
}

// IsOperator reports whether addr is a configured operator address.
func (c *Config) IsOperator(addr string) bool {
	for _, op := range c.Operators {
		if strings.EqualFold(op, addr) {
			return true
		}
	}
	return false
}

// Problems is every problem found in a configuration, one line each.
type Problems []string

func (p Problems) Error() string {
	return "configuration problems:\n  " + strings.Join(p, "\n  ")
}

// Load reads and checks a configuration file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(data, os.Getenv)
}

// Parse decodes, fills defaults and validates every desk. getenv supplies
// the *_env secrets so tests need no process environment.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	c, findings := Check(data, getenv)
	if p := findings.Problems(); p != nil {
		return nil, p
	}
	return c, nil
}

func (c *Config) applyDefaults() {
	setDefault(&c.Service, "id")
	setDefault(&c.Name, c.Service)
	if c.Service == "facility" {
		setDefault(&c.Desk.Name, "医療機関オンライン接続サービス")
		setDefault(&c.Desk.ReferencePrefix, "GAN")
		if len(c.Facility.MobileDomains) == 0 {
			c.Facility.MobileDomains = []string{"docomo.ne.jp", "softbank.ne.jp", "ezweb.ne.jp", "i.softbank.jp", "au.com",
				"disney.ne.jp", "vodafone.ne.jp", "willcom.com", "ymobile.ne.jp", "y-mobile.ne.jp", "emnet.ne.jp", "rakuten.jp", "uqmobile.jp"}
		}
	}
	setDefault(&c.Facility.TokenValidFor, 24*time.Hour)
	setDefault(&c.Facility.VerifyReminderDays, 7)
	setDefault(&c.Facility.VerifyReminders, "0 10 * * *")
	setDefault(&c.Desk.Timezone, "Asia/Tokyo")
	setDefault(&c.Desk.ReferencePrefix, "MDG")
	setDefault(&c.Desk.Language, "ja")
	setDefault(&c.Desk.Name, "ID登録窓口")
	setDefault(&c.IMAP.Mailbox, "INBOX")
	setDefault(&c.IMAP.Processed, "Processed")
	setDefault(&c.IMAP.Quarantine, "Quarantine")
	setDefault(&c.IMAP.TLS, "tls")
	setDefault(&c.SMTP.TLS, "starttls")
	setDefault(&c.SMTP.Charset, "utf-8")
	setDefault(&c.Database.Synchronous, "full")
	setDefault(&c.Log.Level, "info")
	setDefault(&c.Log.Format, "text")
	setDefault(&c.IMAP.PollInterval, time.Minute)
	setDefault(&c.IMAP.IdleRefresh, 4*time.Minute)
	setDefault(&c.IMAP.MaxMessageBytes, 25<<20)
	setDefault(&c.SMTP.Timeout, 30*time.Second)
	if len(c.SMTP.Backoff) == 0 {
		c.SMTP.Backoff = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour}
	}
	setDefault(&c.Limits.RepliesPerSenderPerHour, 10)
	setDefault(&c.Limits.MaxAttachments, 10)
	setDefault(&c.Limits.MaxAttachmentBytes, 10<<20)
	setDefault(&c.Limits.MaxNestingDepth, 10)
	setDefault(&c.Limits.CodeRequestsPerSenderPerHour, 5)
	setDefault(&c.Limits.HashesPerSenderPerHour, 5)
	setDefault(&c.Limits.UnauthenticatedHashesPerHour, 200)
	setDefault(&c.Limits.DocumentBytesPerRequest, 30<<20)
	setDefault(&c.Limits.DocumentBytesPerSenderPerDay, 50<<20)
	setDefault(&c.Limits.CodesPerAccountPerDay, 5)
	setDefault(&c.Jobs.ExpireCodes, "@every 1m")
	setDefault(&c.Jobs.Reminders, "0 9 * * *")
	setDefault(&c.Jobs.Forwarding, "0 3 * * *")
	setDefault(&c.Jobs.Digest, "0 8 * * *")
	setDefault(&c.Jobs.InquiryReminders, "*/15 * * * *")
	setDefault(&c.Inquiries.RemindAfter, 8*time.Hour)
	setDefault(&c.Inquiries.WorkingHours, "09:00-17:00")
	if len(c.Inquiries.WorkingDays) == 0 {
		c.Inquiries.WorkingDays = []string{"mon", "tue", "wed", "thu", "fri"}
	}
	setDefault(&c.Jobs.FirstReminderDays, 7)
	setDefault(&c.Jobs.SecondReminderDays, 14)
	setDefault(&c.Jobs.ExpireAfterDays, 30)
	setDefault(&c.Jobs.ForwardingNoticeDays, 30)
	setDefault(&c.Forwarding.Duration, 365*24*time.Hour)
	setDefault(&c.AccessCodes.ValidFor, 10*time.Minute)
	setDefault(&c.AccessCodes.MaxTries, 3)
	setDefault(&c.AccessCodes.Digits, 10)
	setDefault(&c.ShutdownGrace, 20*time.Second)
	setDefault(&c.Cluster.Lease, 15*time.Second)
	setDefault(&c.HTTP.Health.IMAPDownAfter, 5*time.Minute)
	setDefault(&c.HTTP.Health.NoticeAge, 15*time.Minute)
}

// setDefault fills an unset key (zero, or blank text) with its default.
func setDefault[T comparable](field *T, value T) {
	var zero T
	if s, ok := any(*field).(string); ok && strings.TrimSpace(s) == "" || *field == zero {
		*field = value
	}
}

func (c *Config) validate(getenv func(string) string, f *Findings) {
	add := func(key, format string, args ...any) {
		f.Add(c, key, format, args...)
	}
	checkAddress := func(key, v string) {
		if v == "" {
			add(key, "is required (an e-mail address)")
			return
		}
		a, err := mail.ParseAddress(v)
		if err != nil || a.Name != "" || !strings.Contains(a.Address, "@") {
			add(key, "%q is not a bare e-mail address like desk@example.jp", v)
		}
	}
	checkHostPort := func(key, v string) {
		if v == "" {
			add(key, "is required (host:port)")
			return
		}
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			add(key, "%q is not host:port", v)
		}
	}
	checkOneOf := func(key, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		add(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	secret := func(key string, plain *string, env string) {
		if env == "" {
			return
		}
		if *plain != "" {
			add(key, "set either password or password_env, not both")
			return
		}
		v := getenv(env)
		if v == "" {
			add(key+"_env", "environment variable %s is empty or unset", env)
			return
		}
		*plain = v
	}

	checkAddress("desk.address", c.Desk.Address)
	if c.Desk.Domain == "" {
		add("desk.domain", "is required (IDs are ID@domain)")
	} else if strings.ContainsAny(c.Desk.Domain, "@ ") || !strings.Contains(c.Desk.Domain, ".") {
		add("desk.domain", "%q is not a domain name", c.Desk.Domain)
	}
	if loc, err := time.LoadLocation(c.Desk.Timezone); err != nil {
		add("desk.timezone", "%q is not a known time zone (e.g. Asia/Tokyo)", c.Desk.Timezone)
	} else {
		c.Desk.Location = loc
	}
	checkOneOf("desk.language", c.Desk.Language, "ja", "en")
	if strings.ContainsAny(c.Desk.ReferencePrefix, "[]- ") {
		add("desk.reference_prefix", "%q must not contain brackets, hyphens or spaces", c.Desk.ReferencePrefix)
	}

	checkHostPort("imap.address", c.IMAP.Address)
	checkOneOf("imap.tls", c.IMAP.TLS, "none", "starttls", "tls")
	if c.IMAP.Username == "" {
		add("imap.username", "is required")
	}
	secret("imap.password", &c.IMAP.Password, c.IMAP.PasswordEnv)
	if c.IMAP.Password == "" && c.IMAP.PasswordEnv == "" {
		add("imap.password", "is required (or imap.password_env naming an environment variable)")
	}
	folders := map[string]string{}
	for key, v := range map[string]string{"imap.mailbox": c.IMAP.Mailbox, "imap.processed": c.IMAP.Processed, "imap.quarantine": c.IMAP.Quarantine} {
		if prev, dup := folders[strings.ToLower(v)]; dup {
			add(key, "%q is the same folder as %s", v, prev)
		}
		folders[strings.ToLower(v)] = key
	}
	if c.IMAP.IdleRefresh >= 29*time.Minute {
		add("imap.idle_refresh", "%s must be under 29m (RFC 2177 servers drop IDLE after 30 minutes)", c.IMAP.IdleRefresh)
	}
	if c.IMAP.PollInterval < time.Second {
		add("imap.poll_interval", "%s is too short (at least 1s)", c.IMAP.PollInterval)
	}

	checkHostPort("smtp.address", c.SMTP.Address)
	checkOneOf("smtp.tls", c.SMTP.TLS, "none", "starttls", "tls")
	// Without AUTH no password is sent: an inherited password_env must not
	// demand its variable.
	if c.SMTP.Username != "" {
		secret("smtp.password", &c.SMTP.Password, c.SMTP.PasswordEnv)
	}
	if c.SMTP.Username != "" && c.SMTP.Password == "" && c.SMTP.PasswordEnv == "" {
		add("smtp.password", "is required when smtp.username is set")
	}
	checkOneOf("smtp.charset", c.SMTP.Charset, "utf-8", "iso-2022-jp")

	c.validateDatabase(add)
	checkOneOf("database.synchronous", strings.ToLower(c.Database.Synchronous), "full", "normal")

	if len(c.Operators) == 0 {
		add("operators", "list at least one operator address")
	}
	for i, op := range c.Operators {
		checkAddress(fmt.Sprintf("operators[%d]", i), op)
	}
	for i, a := range c.ProgramAdministrators {
		checkAddress(fmt.Sprintf("program_administrators[%d]", i), a)
	}
	if c.OperatorAuthRequired() && c.OperatorAuth.AuthservID == "" {
		add("operator_auth.authserv_id", "is required unless operator_auth.required is false (the authserv-id your MX writes in Authentication-Results)")
	}
	for i, inst := range c.Institutions {
		if strings.TrimSpace(inst.Name) == "" {
			add(fmt.Sprintf("institutions_with_staff[%d].name", i), "is required")
		}
		checkAddress(fmt.Sprintf("institutions_with_staff[%d].staff_address", i), inst.Staff)
	}
	if c.Limits.RepliesPerSenderPerHour < 1 {
		add("limits.replies_per_sender_per_hour", "must be at least 1")
	}
	if !(c.Jobs.FirstReminderDays < c.Jobs.SecondReminderDays && c.Jobs.SecondReminderDays < c.Jobs.ExpireAfterDays) {
		add("jobs.first_reminder_days", "must be less than jobs.second_reminder_days, which must be less than jobs.expire_after_days")
	}
	if c.Limits.CodeRequestsPerSenderPerHour < 1 {
		add("limits.code_requests_per_sender_per_hour", "must be at least 1")
	}
	if c.Limits.CodesPerAccountPerDay < 1 {
		add("limits.codes_per_account_per_day", "must be at least 1")
	}
	if c.AccessCodes.ValidFor < time.Minute || c.AccessCodes.ValidFor > 24*time.Hour {
		add("access_codes.valid_for", "must be between 1m and 24h")
	}
	if c.AccessCodes.MaxTries < 1 {
		add("access_codes.max_tries", "must be at least 1")
	}
	if c.AccessCodes.Digits < 6 || c.AccessCodes.Digits > 18 {
		add("access_codes.digits", "must be between 6 and 18")
	}
	checkOneOf("service", c.Service, "id", "facility")
	if c.Service == "facility" && c.Facility.FacilityList == "" {
		add("facility.facility_list", "is required for a facility desk (CSV: prefecture,name[,code])")
	}
	checkOneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	checkOneOf("log.format", c.Log.Format, "text", "json")
	if c.HTTP.Address != "" {
		checkHostPort("http.address", c.HTTP.Address)
	}
	// A working connection is heard from at least every poll interval.
	if c.HTTP.Health.IMAPDownAfter <= c.IMAP.PollInterval {
		add("http.health.imap_down_after", "%s must be longer than imap.poll_interval (%s)", c.HTTP.Health.IMAPDownAfter, c.IMAP.PollInterval)
	}
	if c.HTTP.Health.NoticeAge < time.Second {
		add("http.health.notice_age", "%s is too short (at least 1s)", c.HTTP.Health.NoticeAge)
	}
	if strings.ContainsAny(c.Name, "/\\ \t") {
		add("name", "%q must not contain slashes or spaces (it names the desk's files and `jobs run DESK/JOB`)", c.Name)
	}
	c.validateInquiries(add)
	if c.src.written("cluster") {
		add("cluster", "is the process's, not a desk's: set it at the top level only")
	}
	if c.Cluster.Lease < minClusterLease {
		add("cluster.lease", "%s is too short (at least %s: it is renewed every third of it)", c.Cluster.Lease, minClusterLease)
	}
	if strings.TrimSpace(c.Cluster.Instance) != c.Cluster.Instance || strings.ContainsAny(c.Cluster.Instance, "\t\n") {
		add("cluster.instance", "%q must not start or end with blanks or hold tabs or line breaks", c.Cluster.Instance)
	}
	schedules := map[string]string{"jobs.expire_codes": c.Jobs.ExpireCodes, "jobs.reminders": c.Jobs.Reminders,
		"jobs.forwarding": c.Jobs.Forwarding, "jobs.digest": c.Jobs.Digest, "jobs.inquiry_reminders": c.Jobs.InquiryReminders}
	if c.Service == "facility" {
		schedules["facility.verify_reminders"] = c.Facility.VerifyReminders
	}
	for _, key := range sortedKeys(schedules) {
		if _, err := cronSpec.Parse(schedules[key]); err != nil {
			add(key, "%q is not a cron schedule (minute hour day-of-month month day-of-week, or @every 1m): %v", schedules[key], err)
		}
	}
}

// validateInquiries names each wrong inquiries key; what passes here
// InquiryCalendar builds.
func (c *Config) validateInquiries(add func(key, format string, args ...any)) {
	q := c.Inquiries
	if q.RemindAfter <= 0 {
		add("inquiries.remind_after", "%s must be more than 0 (working time, e.g. 8h)", q.RemindAfter)
	}
	if _, _, err := parseWorkingHours(q.WorkingHours); err != nil {
		add("inquiries.working_hours", "%v", err)
	}
	for i, name := range q.WorkingDays {
		if _, ok := weekdayNames[strings.ToLower(strings.TrimSpace(name))]; !ok {
			add(fmt.Sprintf("inquiries.working_days[%d]", i), "%q is not one of mon, tue, wed, thu, fri, sat, sun", name)
		}
	}
	for i, h := range q.Holidays {
		if _, err := workhours.ParseDate(strings.TrimSpace(h)); err != nil {
			add(fmt.Sprintf("inquiries.holidays[%d]", i), "%v", err)
		}
	}
}

// cronSpec parses schedules exactly as the scheduler does (its parser in
// scheduler/scheduler.go): a schedule accepted here is accepted at start.
var cronSpec = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validateDatabase checks the database section: exactly one of path
// (SQLite) and url (PostgreSQL), and url's key file and schema.
func (c *Config) validateDatabase(add func(key, format string, args ...any)) {
	db := c.Database
	switch {
	case db.Path == "" && db.URL == "":
		add("database.path", "is required (the SQLite file), unless database.url names a PostgreSQL database instead")
		return
	case db.Path != "" && db.URL != "":
		add("database.url", "is set together with database.path: give exactly one (path for SQLite, url for PostgreSQL)")
		return
	case db.Path != "":
		if db.KeyFile != "" {
			add("database.key_file", "is only for database.url: a SQLite database keeps its key beside its file (%s.key)", db.Path)
		}
		return
	}
	if u, err := url.Parse(db.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		// The URL is not quoted: it may hold a password.
		add("database.url", "is not a PostgreSQL URL like postgres://madoguchi@db.example:5432/madoguchi")
	}
	if db.KeyFile == "" {
		add("database.key_file", "is required with database.url: a file of 32 random bytes that every instance shares (make it once: head -c 32 /dev/urandom > FILE)")
	}
	if schema := c.PostgresSchema(); len(schema) > maxPostgresIdentifier {
		add("name", "%q is too long for a PostgreSQL schema name (%s: at most %d bytes)", c.Name, schema, maxPostgresIdentifier)
	}
}
