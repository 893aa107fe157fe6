package apptest

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the child when the test
// process dies, so an aborted test leaves no process holding ports.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
