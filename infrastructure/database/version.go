package database

import (
	"sync/atomic"
	"time"
)

// lastVersion is the newest row version this process has handed out. Row
// versions come from the microsecond clock, but two writes within one
// microsecond, or a clock step backwards, must still get growing versions.
var lastVersion atomic.Uint64

// NextVersion returns a row version: the current Unix time in microseconds,
// or one more than the previous value when the clock has not moved past it.
// Values are strictly increasing within the process.
func NextVersion() uint64 { return nextVersionAbove(0) }

// nextVersionAbove is NextVersion that is also greater than floor, for
// writers that have seen versions written by other processes.
func nextVersionAbove(floor uint64) uint64 {
	for {
		last := lastVersion.Load()
		next := max(uint64(time.Now().UnixMicro()), last+1, floor+1)
		if lastVersion.CompareAndSwap(last, next) {
			return next
		}
	}
}
