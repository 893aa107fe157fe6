package readafterproof

import (
	"os"
	"testing"

	"github.com/gintoki/gintoki/app/apptest"
	"github.com/gintoki/gintoki/app/apptest/rig"
)

// The relay and the read node are this test binary started again with a
// gintoki command line: processes of their own, so they can be SIGSTOPped.
func TestMain(m *testing.M) {
	apptest.RunAsChild(rig.RunGintoki)
	os.Exit(m.Run())
}
