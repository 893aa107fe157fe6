package database

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

const testPassword = "Hunter2-s3cr3t"

func TestParseDSN(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		driver   string
		database string
		inMemory bool
		check    func(t *testing.T, d DSN)
	}{
		{
			name: "mysql without password", in: "mysql://root@tcp(127.0.0.1:3306)/test",
			driver: DriverMySQL, database: "test",
			check: func(t *testing.T, d DSN) {
				cfg := mustMySQL(t, d.Raw)
				if cfg.User != "root" || cfg.Addr != "127.0.0.1:3306" {
					t.Errorf("user/addr = %q/%q", cfg.User, cfg.Addr)
				}
			},
		},
		{
			name: "mysql with password and params", in: "mysql://app:" + testPassword + "@tcp(db.internal:3307)/inventory?timeout=5s",
			driver: DriverMySQL, database: "inventory",
			check: func(t *testing.T, d DSN) {
				cfg := mustMySQL(t, d.Raw)
				if cfg.Passwd != testPassword {
					t.Errorf("driver DSN lost the password: got %q", cfg.Passwd)
				}
				if cfg.Timeout != 5*time.Second {
					t.Errorf("timeout = %v, want 5s", cfg.Timeout)
				}
			},
		},
		{
			name: "mysql parseTime is forced on", in: "mysql://root@tcp(127.0.0.1:3306)/test?parseTime=false",
			driver: DriverMySQL, database: "test",
		},
		{
			name: "mysql keeps an explicit loc", in: "mysql://root@tcp(127.0.0.1:3306)/test?loc=Local",
			driver: DriverMySQL, database: "test",
			check: func(t *testing.T, d DSN) {
				if loc := mustMySQL(t, d.Raw).Loc; loc != time.Local {
					t.Errorf("loc = %v, want Local", loc)
				}
			},
		},
		{
			name: "sqlite relative path", in: "sqlite://data/gintoki.db",
			driver: DriverSQLite, database: "gintoki",
			check: func(t *testing.T, d DSN) {
				path, query, _ := strings.Cut(d.Raw, "?")
				if path != "data/gintoki.db" {
					t.Errorf("path = %q", path)
				}
				q, err := url.ParseQuery(query)
				if err != nil {
					t.Fatal(err)
				}
				pragmas := strings.Join(q["_pragma"], " ")
				for _, want := range []string{"journal_mode(WAL)", "busy_timeout(5000)", "synchronous(NORMAL)"} {
					if !strings.Contains(pragmas, want) {
						t.Errorf("pragmas %q lack %s", pragmas, want)
					}
				}
				if q.Get("_txlock") != "immediate" {
					t.Errorf("_txlock = %q, want immediate", q.Get("_txlock"))
				}
			},
		},
		{
			name: "sqlite absolute path with extension", in: "sqlite:///var/lib/gintoki/inventory.sqlite3",
			driver: DriverSQLite, database: "inventory",
		},
		{
			name: "sqlite keeps the caller's pragmas", in: "sqlite://x.db?_pragma=journal_mode(DELETE)&_txlock=deferred",
			driver: DriverSQLite, database: "x",
			check: func(t *testing.T, d DSN) {
				_, query, _ := strings.Cut(d.Raw, "?")
				q, _ := url.ParseQuery(query)
				if strings.Contains(strings.Join(q["_pragma"], " "), "WAL") {
					t.Errorf("WAL added although journal_mode was given: %v", q["_pragma"])
				}
				if q.Get("_txlock") != "deferred" {
					t.Errorf("_txlock = %q, want deferred", q.Get("_txlock"))
				}
			},
		},
		{name: "sqlite memory short form", in: "sqlite::memory:", driver: DriverSQLite, database: "memory", inMemory: true},
		{name: "sqlite memory long form", in: "sqlite://:memory:", driver: DriverSQLite, database: "memory", inMemory: true},
		{name: "surrounding spaces", in: "  sqlite://a.db  ", driver: DriverSQLite, database: "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDSN(tt.in)
			if err != nil {
				t.Fatalf("ParseDSN(%q): %v", tt.in, err)
			}
			if d.Driver != tt.driver || d.Database != tt.database {
				t.Errorf("driver/database = %q/%q, want %q/%q", d.Driver, d.Database, tt.driver, tt.database)
			}
			if d.InMemory() != tt.inMemory {
				t.Errorf("InMemory = %v, want %v", d.InMemory(), tt.inMemory)
			}
			if d.Driver == DriverMySQL {
				cfg := mustMySQL(t, d.Raw)
				if !cfg.ParseTime {
					t.Error("parseTime is off")
				}
				if cfg.Loc == nil {
					t.Error("loc is nil")
				}
				if !strings.Contains(tt.in, "loc=") && cfg.Loc != time.UTC {
					t.Errorf("loc = %v, want UTC", cfg.Loc)
				}
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func TestParseDSNErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty"},
		{"blank", "   ", "empty"},
		{"no scheme", "root:" + testPassword + "@tcp(127.0.0.1:3306)/test", "no scheme"},
		{"unknown scheme", "postgres://u:" + testPassword + "@h/db", `unknown scheme "postgres"`},
		{"garbled scheme", "u:" + testPassword + "@h://x", "unreadable scheme"},
		{"mysql nothing after scheme", "mysql://", "empty after mysql://"},
		{"mysql no slash", "mysql://u:" + testPassword + "@tcp(127.0.0.1:3306)", "missing the slash"},
		{"mysql unterminated address", "mysql://u:" + testPassword + "@tcp(127.0.0.1:3306/db", "parse mysql DSN"},
		{"mysql no database", "mysql://u:" + testPassword + "@tcp(127.0.0.1:3306)/", "names no database"},
		{"mysql bad parameter", "mysql://u:" + testPassword + "@tcp(127.0.0.1:3306)/db?parseTime=maybe", "invalid bool value"},
		{"sqlite no path", "sqlite://", "names no file"},
		{"sqlite only a query", "sqlite://?_txlock=immediate", "names no file"},
		{"sqlite bad query", "sqlite://a.db?%zz", "parse sqlite DSN query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDSN(tt.in)
			if err == nil {
				t.Fatalf("ParseDSN(%q) succeeded", tt.in)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error %q repeats the password", err)
			}
		})
	}
}

func TestRedactedHidesThePassword(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "mysql://app:" + testPassword + "@tcp(db:3306)/inv", "mysql://app:xxxxx@tcp(db:3306)/inv"},
		{"password with @ and :", "mysql://app:" + testPassword + "@:x@tcp(db:3306)/inv", "mysql://app:xxxxx@tcp(db:3306)/inv"},
		{"no password", "mysql://root@tcp(127.0.0.1:3306)/test", "mysql://root@tcp(127.0.0.1:3306)/test"},
		{"sqlite", "sqlite://data/g.db", "sqlite://data/g.db?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDSN(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var logged bytes.Buffer
			slog.New(slog.NewJSONHandler(&logged, nil)).Info("open", "dsn", d)
			outputs := map[string]string{
				"Redacted": d.Redacted(),
				"%v":       fmt.Sprintf("%v", d),
				"%+v":      fmt.Sprintf("%+v", d),
				"%#v":      fmt.Sprintf("%#v", d),
				"slog":     logged.String(),
			}
			for how, out := range outputs {
				if strings.Contains(out, testPassword) || (strings.Contains(tt.in, "@:x@") && strings.Contains(out, "@:x")) {
					t.Errorf("%s output %q holds the password", how, out)
				}
			}
			if !strings.HasPrefix(d.Redacted(), tt.want) {
				t.Errorf("Redacted() = %q, want prefix %q", d.Redacted(), tt.want)
			}
		})
	}
}

func TestRedactedOfHandBuiltDSNs(t *testing.T) {
	tests := []struct {
		name string
		dsn  DSN
		want string
	}{
		{"unparseable mysql", DSN{Driver: DriverMySQL, Raw: "u:" + testPassword + "@tcp(x"}, "mysql://<unparseable>"},
		{"zero value", DSN{}, "<no database>"},
		{"unknown driver", DSN{Driver: "oracle", Raw: "u/" + testPassword}, "<unknown driver oracle>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.dsn.Redacted(); got != tt.want {
				t.Errorf("Redacted() = %q, want %q", got, tt.want)
			}
		})
	}
}

func mustMySQL(t *testing.T, raw string) *mysql.Config {
	t.Helper()
	cfg, err := mysql.ParseDSN(raw)
	if err != nil {
		t.Fatalf("driver DSN %q does not parse: %v", raw, err)
	}
	return cfg
}

func TestWhereNamesTheDatabaseWithoutSecretsOrAddedParameters(t *testing.T) {
	for raw, want := range map[string]string{
		"mysql://app:s3cret@tcp(db.internal:3306)/inventory?tls=true": "mysql://app@db.internal:3306/inventory",
		"mysql://tcp(127.0.0.1:1)/x":                                  "mysql://127.0.0.1:1/x",
		"sqlite:///var/lib/gintoki/demo.db":                           "sqlite:///var/lib/gintoki/demo.db",
	} {
		d, err := ParseDSN(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Where(); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("%s: %q, want %q", raw, got, want)
		}
	}
}
