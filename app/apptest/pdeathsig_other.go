//go:build !linux

package apptest

import "os/exec"

// setParentDeathSignal has no portable equivalent outside Linux; the
// test's cleanup still kills the child.
func setParentDeathSignal(*exec.Cmd) {}
