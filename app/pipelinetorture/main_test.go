package pipelinetorture

import (
	"os"
	"strconv"
	"testing"

	"github.com/gintoki/gintoki/app/apptest"
	"github.com/gintoki/gintoki/app/apptest/rig"
)

// The relay and the read nodes are this test binary started again with a
// gintoki command line: processes of their own, so they can be SIGKILLed.
func TestMain(m *testing.M) {
	apptest.RunAsChild(rig.RunGintoki)
	os.Exit(m.Run())
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
