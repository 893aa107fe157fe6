package domain

import (
	"math"
	"testing"
)

var (
	srcA, _ = ParseGTID("0-1-1")
	srcB, _ = ParseGTID("1-1-1")
)

// at is a change of transaction seq of source src, at place sub in it.
func at(src GTID, seq, sub uint64) Stamp { return Stamp{Src: src.Source, Seq: seq, Sub: sub} }

// The tie rule of every image comparison, in both orders (docs/DESIGN.md
// §5). Each row of the table says what is known of a row,
// what change arrives, and whether the change replaces it.
func TestOrderingRuleTable(t *testing.T) {
	v := func(n uint64) Stamp { return Stamp{Seq: n} }
	cases := []struct {
		name         string
		order        Order
		known        Stamp
		knownDeleted bool
		next         Stamp
		deleted      bool
		verdict      Verdict
		supersedes   bool
	}{
		// By version: the version column orders, a DELETE carries the version the row had.
		{"version: newer update over a live row", ByVersion, v(1), false, v(2), false, Newer, true},
		{"version: older update over a live row", ByVersion, v(2), false, v(1), false, Older, false},
		{"version: the same update again (a duplicate)", ByVersion, v(1), false, v(1), false, Same, false},
		{"version: a delete at the row's own version (a real DELETE)", ByVersion, v(1), false, v(1), true, Same, true},
		{"version: a delete at a newer version", ByVersion, v(1), false, v(2), true, Newer, true},
		{"version: a delete older than the row (a stale re-delivery)", ByVersion, v(2), false, v(1), true, Older, false},
		{"version: a live row at the tombstone's version (a replica read from before the delete)", ByVersion, v(1), true, v(1), false, Same, false},
		{"version: an older live row over a tombstone", ByVersion, v(2), true, v(1), false, Older, false},
		{"version: a re-insert, newer, over a tombstone", ByVersion, v(1), true, v(2), false, Newer, true},
		{"version: the same delete again (or its null tombstone)", ByVersion, v(1), true, v(1), true, Same, false},
		{"version: a newer delete over a tombstone", ByVersion, v(1), true, v(3), true, Newer, true},
		{"version: anything over nothing known (version 0)", ByVersion, v(0), false, v(1), false, Newer, true},

		// By binlog: a transaction's GTID, then the place in it.
		{"binlog: a later transaction over a live row", ByBinlog, at(srcA, 10, 5), false, at(srcA, 11, 1), false, Newer, true},
		{"binlog: an earlier transaction (a re-delivery)", ByBinlog, at(srcA, 11, 1), false, at(srcA, 10, 5), false, Older, false},
		{"binlog: the same change again", ByBinlog, at(srcA, 10, 5), false, at(srcA, 10, 5), false, Same, false},
		{"binlog: a delete, later in the same transaction", ByBinlog, at(srcA, 10, 5), false, at(srcA, 10, 9), true, Newer, true},
		{"binlog: the same delete again", ByBinlog, at(srcA, 10, 9), true, at(srcA, 10, 9), true, Same, false},
		{"binlog: a re-insert later in the transaction that deleted", ByBinlog, at(srcA, 10, 9), true, at(srcA, 10, 12), false, Newer, true},
		{"binlog: the insert before the delete, again", ByBinlog, at(srcA, 10, 9), true, at(srcA, 10, 5), false, Older, false},
		{"binlog: a re-insert in a later transaction", ByBinlog, at(srcA, 10, 9), true, at(srcA, 12, 1), false, Newer, true},
		{"binlog: another GTID source", ByBinlog, at(srcA, 10, 5), false, at(srcB, 11, 1), false, Unknown, false},
		{"binlog: a change naming no transaction (a snapshot row)", ByBinlog, at(srcA, 10, 5), false, Stamp{}, false, Unknown, false},
		{"binlog: over a row known at no transaction", ByBinlog, Stamp{}, false, at(srcA, 10, 5), false, Unknown, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.order.Compare(tc.known, tc.next)
			if got != tc.verdict {
				t.Fatalf("Compare = %d, want %d", got, tc.verdict)
			}
			if s := Supersedes(got, tc.knownDeleted, tc.deleted); s != tc.supersedes {
				t.Fatalf("Supersedes = %v, want %v", s, tc.supersedes)
			}
		})
	}
}

// A database read in binlog order stands between the positions read before
// and after it: changes it surely reflected are older, changes surely after
// it newer, and those that committed while it ran cannot be placed.
func TestSpanPlacesChangesAroundARead(t *testing.T) {
	lo, _ := ParseSourcePos("0-1-100,1-1-7")
	hi, _ := ParseSourcePos("0-1-103,1-1-7")
	sp := Span{Lo: lo, Hi: hi}
	cases := []struct {
		name string
		next Stamp
		want Verdict
	}{
		{"a change the read reflected", at(srcA, 99, 1), Older},
		{"the last transaction before the read", at(srcA, 100, 9), Older},
		{"a change committed while the read ran", at(srcA, 101, 1), Unknown},
		{"the last one while it ran", at(srcA, 103, 1), Unknown},
		{"a change after the read", at(srcA, 104, 1), Newer},
		{"another source, reflected", at(srcB, 7, 1), Older},
		{"another source, after", at(srcB, 8, 1), Newer},
		{"a source the read never saw: after it", Stamp{Src: SourceID{Flavor: FlavorMariaDB, ID: [16]byte{0, 0, 0, 9}}, Seq: 1}, Newer},
		{"a change naming no transaction", Stamp{}, Unknown},
	}
	for _, tc := range cases {
		if got := sp.Place(tc.next); got != tc.want {
			t.Errorf("%s: Place = %d, want %d", tc.name, got, tc.want)
		}
	}
	if sp.Exact() {
		t.Error("a read that 3 transactions overlapped is exact")
	}
	if !(Span{Lo: lo, Hi: lo}).Exact() || (Span{Lo: lo, Hi: append(SourcePos{}, lo[0])}).Exact() {
		t.Error("Exact wrong for equal and shrunken positions")
	}
}

func TestSubOfKeepsTheOrderInATransaction(t *testing.T) {
	if !(SubOf(100, 0) < SubOf(100, 1) && SubOf(100, 1) < SubOf(120, 0)) {
		t.Fatal("SubOf does not order by position, then row")
	}
	if SubOf(100, 1<<20) != SubOf(100, 0xFFFF) || SubOf(100, -1) != SubOf(100, 0) {
		t.Fatal("SubOf does not clamp the row")
	}
}

func TestSalableOfSaturates(t *testing.T) {
	s, err := ParseSalable(" on_hand -reserved ")
	if err != nil || s.Column != "on_hand" || s.Minus != "reserved" || s.String() != "on_hand - reserved" {
		t.Fatalf("%+v %v", s, err)
	}
	for _, tc := range []struct {
		a, b int64
		want int32
	}{{10, 3, 7}, {3, 10, -7}, {1 << 40, 0, 1<<31 - 1}, {-(1 << 40), 0, -1 << 31},
		{math.MaxInt64, -1, math.MaxInt32}, {math.MinInt64, 1, math.MinInt32}, {math.MaxInt64, math.MaxInt64, 0}} {
		if got := s.Of(tc.a, tc.b); got != tc.want {
			t.Errorf("%d - %d = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	if one := (Salable{Column: "qty"}); one.Of(42) != 42 || len(one.Columns()) != 1 {
		t.Error("a single column is not itself")
	}
}
