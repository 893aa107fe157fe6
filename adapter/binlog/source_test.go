package binlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gintoki/gintoki/usecase/relay"
	"vitess.io/vitess/go/vt/vttls"
)

func TestCheckSettingsSaysWhatToChange(t *testing.T) {
	ok := settings{logBin: "1", format: "ROW", rowImage: "FULL", serverID: 1, relayID: 5400}
	cases := []struct {
		name   string
		change func(*settings)
		want   string
	}{
		{"all good", func(*settings) {}, ""},
		{"binlog off", func(s *settings) { s.logBin = "0" }, "log_bin"},
		{"statement format", func(s *settings) { s.format = "STATEMENT" }, "set binlog_format=ROW"},
		{"mixed format", func(s *settings) { s.format = "MIXED" }, "binlog_format is MIXED"},
		{"minimal images", func(s *settings) { s.rowImage = "MINIMAL" }, "set binlog_row_image=FULL"},
		{"no server id", func(s *settings) { s.serverID = 0 }, "server_id is 0"},
		{"relay uses the server's id", func(s *settings) { s.relayID = 1 }, "--server-id 1 is the server's own"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.change(&s)
			err := checkSettings(s)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestConnParamsFromDSN(t *testing.T) {
	cases := []struct {
		dsn     string
		host    string
		port    int
		socket  string
		db      string
		ssl     vttls.SslMode
		wantErr string
	}{
		{dsn: "relay:pw@tcp(db.example:3307)/shop", host: "db.example", port: 3307, db: "shop", ssl: vttls.Disabled},
		{dsn: "relay@unix(/run/mysqld/mysqld.sock)/shop", socket: "/run/mysqld/mysqld.sock", db: "shop", ssl: vttls.Disabled},
		{dsn: "relay:pw@tcp(db:3306)/shop?tls=true", host: "db", port: 3306, db: "shop", ssl: vttls.VerifyIdentity},
		{dsn: "relay:pw@tcp(db:3306)/shop?tls=skip-verify", host: "db", port: 3306, db: "shop", ssl: vttls.Required},
		{dsn: "relay:pw@tcp(db:3306)/", wantErr: "names no database"},
		{dsn: "relay:pw@tcp(db:3306)/shop?tls=preferred", host: "db", port: 3306, db: "shop", ssl: vttls.Preferred},
		{dsn: "relay:pw@tcp(db:3306)/shop?tls=custom", wantErr: "parse DSN"},
		{dsn: "relay:secret@nonsense", wantErr: "parse DSN"},
	}
	for _, tc := range cases {
		p, db, err := connParams(tc.dsn)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.dsn, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("%s: error repeats the password: %v", tc.dsn, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.dsn, err)
			continue
		}
		if p.Host != tc.host || p.Port != tc.port || p.UnixSocket != tc.socket || db != tc.db || p.DbName != tc.db || p.SslMode != tc.ssl {
			t.Errorf("%s: got host %q port %d socket %q db %q ssl %s", tc.dsn, p.Host, p.Port, p.UnixSocket, db, p.SslMode)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{DSN: "u@tcp(h:1)/d", Tables: []string{"t"}},
		{DSN: "u@tcp(h:1)/d", ServerID: 9},
		{DSN: "u@tcp(h:1)/d", ServerID: 9, Tables: []string{"other.t"}},
	} {
		if _, err := New(cfg, nil); err == nil {
			t.Errorf("New(%+v) accepted it", cfg)
		}
	}
}

// TestCheckExplainsMissingGrants walks a new user from no privileges to
// enough, checking each refusal names what to grant.
func TestCheckExplainsMissingGrants(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	user := randomName("relay_")
	account := fmt.Sprintf("'%s'@'127.0.0.1'", user)
	d.exec("CREATE USER " + account + " IDENTIFIED BY 'pw'")
	t.Cleanup(func() { _, _ = d.db.Exec("DROP USER " + account) })
	d.exec(fmt.Sprintf("GRANT SELECT ON `%s`.`stock_items` TO %s", d.dsn.Database, account))
	dsn := fmt.Sprintf("%s:pw@tcp(127.0.0.1:3306)/%s", user, d.dsn.Database)
	ctx := context.Background()

	check := func(tables []string, want string) {
		t.Helper()
		err := newSource(t, dsn, tables...).Check(ctx)
		if want == "" {
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Check: %v; want an error naming %q", err, want)
		}
		if !relay.IsPermanent(err) {
			t.Fatalf("Check: %v is not permanent; the relay would retry it forever", err)
		}
	}
	check([]string{"stock_items"}, "BINLOG MONITOR")
	d.exec("GRANT BINLOG MONITOR ON *.* TO " + account)
	check([]string{"stock_items"}, "REPLICATION SLAVE")
	d.exec("GRANT REPLICATION SLAVE ON *.* TO " + account)
	check([]string{"stock_items"}, "")
	check([]string{"warehouses"}, "GRANT SELECT ON "+d.dsn.Database+".warehouses")
	if err := d.source("no_such_table").Check(ctx); err == nil || !strings.Contains(err.Error(), "does not exist") || !relay.IsPermanent(err) {
		t.Fatalf("missing table: %v", err)
	}

	wrong := fmt.Sprintf("%s:nope@tcp(127.0.0.1:3306)/%s", user, d.dsn.Database)
	err := newSource(t, wrong, "stock_items").Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "access denied") || !relay.IsPermanent(err) || strings.Contains(err.Error(), "nope") {
		t.Fatalf("wrong password: %v; want a permanent access-denied error without the password", err)
	}
}

func TestCheckRefusesTheServersOwnID(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	s, err := New(Config{DSN: d.dsn.Raw, ServerID: 1, Tables: []string{"stock_items"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sid int
	if err := d.db.QueryRow("SELECT @@server_id").Scan(&sid); err != nil {
		t.Fatal(err)
	}
	s.cfg.ServerID = uint32(sid)
	if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "own server_id") {
		t.Fatalf("Check: %v", err)
	}
}

func TestPositionsAndPurgedFiles(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	s := d.source("stock_items")
	ctx := context.Background()
	pos := current(t, s)
	if pos.File == "" || pos.Pos < 4 {
		t.Fatalf("Current: %+v", pos)
	}
	if ok, err := s.HasBinlog(ctx, pos.File); err != nil || !ok {
		t.Fatalf("HasBinlog(%s) = %v, %v", pos.File, ok, err)
	}
	gone := "mysql-bin.999999"
	if ok, err := s.HasBinlog(ctx, gone); err != nil || ok {
		t.Fatalf("HasBinlog(%s) = %v, %v", gone, ok, err)
	}
	err := s.Stream(ctx, relay.Position{File: gone, Pos: 4}, func(relay.Item) error { return nil })
	var purged *relay.PurgedError
	if !errors.As(err, &purged) || purged.File != gone || !relay.IsPermanent(err) {
		t.Fatalf("Stream from a missing file: %v; want a PurgedError naming it", err)
	}
	if !strings.Contains(err.Error(), "--snapshot=when_needed") {
		t.Errorf("purged error does not say what to do: %v", err)
	}
}
