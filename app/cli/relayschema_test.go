package cli

import (
	"strings"
	"testing"
)

// gintoki relay takes the mapping serve takes, by flag or by the
// GINTOKI_SCHEMA they share, and refuses, as a configuration error, to
// capture tables that leave a mapped one out.
func TestRelayRefusesTablesThatLeaveAMappedOneOut(t *testing.T) {
	schema := writeSchema(t)
	args := []string{"relay", "--db", "mysql://relay@tcp(127.0.0.1:1)/shop", "--kafka-brokers", "127.0.0.1:1",
		"--relay-tables", "inventory_levels"}
	byFlag, _, flagErr := runMain(append(args, "--schema", schema)...)
	var errb strings.Builder
	byEnv := Main(args, Env{Getenv: func(k string) string { return map[string]string{"GINTOKI_SCHEMA": schema}[k] },
		Stdout: &strings.Builder{}, Stderr: &errb})
	for name, got := range map[string]struct {
		code   int
		stderr string
	}{"--schema": {byFlag, flagErr}, "GINTOKI_SCHEMA": {byEnv, errb.String()}} {
		if got.code != ExitUsage || strings.Count(got.stderr, "\n") != 1 ||
			!strings.Contains(got.stderr, "--relay-tables inventory_levels leaves out locations of the --schema mapping "+schema) {
			t.Errorf("%s: exit %d, stderr %q", name, got.code, got.stderr)
		}
	}
}
