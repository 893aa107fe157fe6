package database

import (
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// Both servers' words for a refused login get the same advice: MySQL says
// 1045, MariaDB 1698 when no password was given.
func TestExplainNamesTheCredentialsForEitherAccessDenied(t *testing.T) {
	for _, code := range []uint16{1045, 1698} {
		got := Explain(DSN{Driver: DriverMySQL}, &mysql.MySQLError{Number: code, Message: "Access denied"})
		if !strings.Contains(got, "check the user and password") {
			t.Errorf("error %d: %q", code, got)
		}
	}
	if got := Explain(DSN{Driver: DriverMySQL}, &mysql.MySQLError{Number: 1064}); got != "" {
		t.Errorf("a syntax error got advice: %q", got)
	}
}
