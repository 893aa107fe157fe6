package bootstrapproof

import (
	"os"
	"testing"

	"github.com/gintoki/gintoki/app/apptest"
	"github.com/gintoki/gintoki/app/apptest/rig"
)

// The relay, the read nodes and the gateway are this test binary started
// again with a gintoki command line: processes of their own, so they can be
// stopped and started again.
func TestMain(m *testing.M) {
	apptest.RunAsChild(rig.RunGintoki)
	os.Exit(m.Run())
}
