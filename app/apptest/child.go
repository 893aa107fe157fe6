// Package apptest helps tests run gintoki processes: the test binary started
// again as a child process (so a test can SIGKILL, SIGTERM or SIGSTOP it and
// see what a crash, a stop or a freeze leaves behind), free loopback
// addresses, Prometheus text and topic end offsets.
package apptest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// childEnv carries the payload of a child process; its presence is what
// makes a test binary behave as a child.
const childEnv = "GINTOKI_TEST_CHILD"

// RunAsChild belongs first in TestMain: in a process started by Start it
// runs run with the payload Start was given and exits with its result; in
// the test process itself it returns at once.
func RunAsChild(run func(payload string) int) {
	if payload, ok := os.LookupEnv(childEnv); ok {
		os.Exit(run(payload))
	}
}

const (
	// Lines of each output stream a Child keeps for error messages.
	keptLines = 200
	// Lines of a data race report kept after its first line.
	raceReportLines = 80
	raceMarker      = "WARNING: DATA RACE"
)

// Child is the test binary running as a child process.
type Child struct {
	cmd    *exec.Cmd
	stdout *tail
	stderr *tail
	done   chan struct{} // closed once the process has exited and err is set
	err    error
}

// Start runs this test binary again as a child handed payload (see
// RunAsChild). The child is killed when the test ends, and a data race it
// reported fails the test.
func Start(t testing.TB, payload string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+payload)
	setParentDeathSignal(cmd)
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &Child{cmd: cmd, stdout: &tail{}, stderr: &tail{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child process: %v", err)
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); c.stdout.readFrom(outPipe) }()
	go func() { defer readers.Done(); c.stderr.readFrom(errPipe) }()
	go func() {
		// Wait closes the pipes: read them to the end first.
		readers.Wait()
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
		if report := c.stderr.raceReport(); report != "" {
			t.Errorf("child process %d reported a data race:\n%s", cmd.Process.Pid, report)
		}
	})
	return c
}

// Wait returns the child's exit error once it has exited.
func (c *Child) Wait() error {
	<-c.done
	return c.err
}

// Kill ends the child with SIGKILL, as a crash would: no deferred code, no
// graceful shutdown. It returns once the process is gone.
func (c *Child) Kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// Terminate asks the child to stop with SIGTERM and returns its exit error.
func (c *Child) Terminate() error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	return c.Wait()
}

// Pause freezes the child with SIGSTOP, as an overloaded machine, a
// debugger or a stuck disk would: it keeps its connections open and does
// nothing, until Resume.
func (c *Child) Pause() error { return c.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume lets a paused child run again (SIGCONT).
func (c *Child) Resume() error { return c.cmd.Process.Signal(syscall.SIGCONT) }

// Stdout is the end of what the child wrote to its standard output.
func (c *Child) Stdout() string { return c.stdout.String() }

// Stderr is the end of what the child wrote to its standard error.
func (c *Child) Stderr() string { return c.stderr.String() }

// WaitUntil polls cond until it holds; the child exiting first, or limit
// passing, fails the test with the child's output.
func (c *Child) WaitUntil(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	defer func() {
		if t.Failed() {
			t.Logf("the child's last output:\n%s", c.Stderr())
		}
	}()
	polltest.Until(t, limit, what, cond, func() error {
		select {
		case <-c.done:
			return fmt.Errorf("child process exited: %v", c.err)
		default:
			return nil
		}
	})
}

// tail keeps the last lines of a stream, and the start of the first data
// race report seen in it.
type tail struct {
	mu    sync.Mutex
	lines []string
	next  int
	race  []string
}

func (l *tail) readFrom(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		l.add(sc.Text())
	}
	// A line longer than the buffer ends the scan: drain the rest so the
	// child never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

func (l *tail) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < keptLines {
		l.lines = append(l.lines, line)
	} else {
		l.lines[l.next] = line
		l.next = (l.next + 1) % keptLines
	}
	switch {
	case l.race == nil && strings.Contains(line, raceMarker):
		l.race = append(make([]string, 0, raceReportLines), line)
	case l.race != nil && len(l.race) < raceReportLines:
		l.race = append(l.race, line)
	}
}

func (l *tail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ordered := append(append([]string(nil), l.lines[l.next:]...), l.lines[:l.next]...)
	return strings.Join(ordered, "\n")
}

func (l *tail) raceReport() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.race, "\n")
}
