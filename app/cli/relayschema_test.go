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
	for _, env := range []map[string]string{nil, {"GINTOKI_SCHEMA": schema}} {
		args := []string{"relay", "--db", "mysql://relay@tcp(127.0.0.1:1)/shop", "--kafka-brokers", "127.0.0.1:1",
			"--relay-tables", "inventory_levels"}
		if env == nil {
			args = append(args, "--schema", schema)
		}
		var out, errb strings.Builder
		code := Main(args, Env{Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errb})
		stderr := errb.String()
		if code != ExitUsage || strings.Count(stderr, "\n") != 1 ||
			!strings.Contains(stderr, "--relay-tables inventory_levels leaves out locations of the --schema mapping "+schema) {
			t.Errorf("%v %v: exit %d, stderr %q", args, env, code, stderr)
		}
	}
}
