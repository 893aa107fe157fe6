package domain

import "cmp"

// The order of a row's changes, the one rule every part of the cache uses
// to tell which of two images of a row is newer (docs/DESIGN.md §5). It
// works in one of two modes, chosen per table by the
// schema mapping:
//
//   - by version: the table has a column that grows with every write of a
//     row and never repeats for a key (Stamp.Seq holds it). Events and
//     database reads carry it alike, so they compare directly;
//   - by binlog: no such column. An event is placed by its transaction's
//     GTID (Stamp.Src, Stamp.Seq) and its place in the transaction
//     (Stamp.Sub); a database read by the replication positions read
//     before and after it (a Span). Within one GTID source sequences grow
//     in commit order, which is what makes the two comparable.

// Stamp places one image of a row among the row's changes.
type Stamp struct {
	// Src is the GTID source (MariaDB domain, MySQL server UUID) of Seq in
	// binlog order; zero in version order.
	Src SourceID
	// Seq is the version column's value (version order), or the sequence
	// number of the change's transaction in Src (binlog order).
	Seq uint64
	// Sub orders the changes of one transaction (binlog order): their
	// binlog position, then their row in the binlog event.
	Sub uint64
}

// SubOf is a change's place in its transaction: the binlog position of its
// event, then its row within the event. Rows past 65535 within one event
// share the last place: two changes of one row never share an event.
func SubOf(pos uint64, row int64) uint64 {
	return pos<<16 | uint64(min(max(row, 0), 0xFFFF))
}

// Verdict says where a change stands against what is known of its row.
type Verdict int8

// The verdicts.
const (
	Older   Verdict = -1 // before what is known (or a database read already reflects it)
	Same    Verdict = 0  // the same place: the same change again
	Newer   Verdict = 1  // after what is known
	Unknown Verdict = 2  // cannot be told: binlog order without a GTID, two GTID sources, or inside a read's span
)

// Span is where a database read stands in binlog order: it reflects every
// transaction Lo covers (the position read before it) and none that Hi does
// not cover (the position read after it). Lo equal to Hi places it exactly.
type Span struct {
	Lo, Hi SourcePos
}

// Order is the rule, in one mode.
type Order struct {
	// Binlog: binlog order (no version column); else version order.
	Binlog bool
}

// ByVersion and ByBinlog are the two orders.
var (
	ByVersion = Order{}
	ByBinlog  = Order{Binlog: true}
)

// Compare places change next against the known image known.
func (o Order) Compare(known, next Stamp) Verdict {
	if !o.Binlog {
		return Verdict(cmp.Compare(next.Seq, known.Seq))
	}
	if !known.Placed() || !next.Placed() || known.Src != next.Src {
		return Unknown
	}
	if c := cmp.Compare(next.Seq, known.Seq); c != 0 {
		return Verdict(c)
	}
	return Verdict(cmp.Compare(next.Sub, known.Sub))
}

// Placed reports whether s has a place in binlog order (its change named a
// transaction).
func (s Stamp) Placed() bool { return s.Src.Flavor != 0 }

// Place places change next against a database read at sp (binlog order):
// Older when the read already reflected it, Newer when the read was taken
// before it, Unknown when it may or may not have been (its transaction
// committed while the read ran, or it names no transaction).
func (sp Span) Place(next Stamp) Verdict {
	if !next.Placed() {
		return Unknown
	}
	g := GTID{Source: next.Src, Seq: next.Seq}
	switch {
	case sp.Lo.Covers(g):
		return Older
	case !sp.Hi.Covers(g):
		return Newer
	}
	return Unknown
}

// Exact reports whether the read is placed at one point: no transaction
// committed while it ran, in any source.
func (sp Span) Exact() bool {
	if len(sp.Lo) != len(sp.Hi) {
		return false
	}
	for _, g := range sp.Hi {
		if !sp.Lo.Covers(g) {
			return false
		}
	}
	return true
}

// Supersedes applies the tie rule to a verdict: a change replaces what is
// known of its row (deleted or not) when it is newer, or when it is a
// delete at the same place as a live image. In version order a DELETE
// carries the version the row already had, so a delete and the row's last
// write share a version: the delete wins, and a live row never wins over a
// delete at its own version (a re-insert comes with a newer one). In binlog
// order every change has a place of its own, so a tie is the same change
// again. Unknown never supersedes: the caller evicts or does not cache.
func Supersedes(v Verdict, knownDeleted, deleted bool) bool {
	switch v {
	case Newer:
		return true
	case Same:
		return deleted && !knownDeleted
	}
	return false
}
