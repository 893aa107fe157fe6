package pipelinetorture

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/gintoki/gintoki/app/apptest"
	"github.com/gintoki/gintoki/app/cli"
)

// The relay and the read nodes are this test binary started again with a
// gintoki command line: processes of their own, so they can be SIGKILLed.
func TestMain(m *testing.M) {
	apptest.RunAsChild(runGintoki)
	os.Exit(m.Run())
}

// runGintoki runs the gintoki command line the payload holds (a JSON list
// of arguments), as the gintoki binary would. The flags say everything: the
// environment of the test run does not configure it.
func runGintoki(payload string) int {
	var args []string
	if err := json.Unmarshal([]byte(payload), &args); err != nil {
		fmt.Fprintln(os.Stderr, "child arguments:", err)
		return cli.ExitUsage
	}
	return cli.Main(args, cli.Env{Getenv: func(string) string { return "" }, Stdout: os.Stdout, Stderr: os.Stderr})
}

// soakEnv selects the size of the run: how many row writes. `make soak`
// sets it to a million.
const soakEnv = "GINTOKI_SOAK_WRITES"

// defaultWrites is the size CI runs.
const defaultWrites = 20_000

func writesWanted(t *testing.T) int64 {
	raw := os.Getenv(soakEnv)
	if raw == "" {
		return defaultWrites
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 1000 {
		t.Fatalf("%s=%q: want a number of writes, at least 1000", soakEnv, raw)
	}
	return n
}
