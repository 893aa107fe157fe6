package rig

import (
	"fmt"
	"strings"
	"sync"
)

// keptProblems bounds what a failed run reports: a run that goes wrong
// mostly goes wrong the same way many times.
const keptProblems = 12

// Problems keeps the first problems a load run found, for its failure
// message; safe for concurrent use.
type Problems struct {
	mu   sync.Mutex
	kept []string
}

// Add records a problem unless enough are kept already.
func (p *Problems) Add(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.kept) < keptProblems {
		p.kept = append(p.kept, fmt.Sprintf(format, args...))
	}
}

// String is the kept problems, a line each.
func (p *Problems) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.kept, "\n")
}
