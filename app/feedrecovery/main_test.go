package feedrecovery

import (
	"os"
	"testing"

	"github.com/gintoki/gintoki/app/apptest"
	"github.com/gintoki/gintoki/app/apptest/rig"
)

// The relay and the read nodes are this test binary started again with a
// gintoki command line: processes of their own, so they can be killed and
// frozen.
func TestMain(m *testing.M) {
	apptest.RunAsChild(rig.RunGintoki)
	os.Exit(m.Run())
}
