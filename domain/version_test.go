package domain

import "testing"

func TestSupersedes(t *testing.T) {
	cases := []struct {
		name         string
		knownV       uint64
		knownDeleted bool
		v            uint64
		deleted      bool
		want         bool
	}{
		{"newer update over live row", 1, false, 2, false, true},
		{"older update over live row", 2, false, 1, false, false},
		{"same update again (duplicate)", 1, false, 1, false, false},
		{"delete at the row's own version (a real DELETE)", 1, false, 1, true, true},
		{"delete at a newer version", 1, false, 2, true, true},
		{"delete older than the row (stale re-delivery)", 2, false, 1, true, false},
		{"live row at the tombstone's version (replica read before the delete)", 1, true, 1, false, false},
		{"older live row over a tombstone", 2, true, 1, false, false},
		{"re-insert: newer live row over a tombstone", 1, true, 2, false, true},
		{"same delete again (duplicate, or its null tombstone)", 1, true, 1, true, false},
		{"newer delete over a tombstone", 1, true, 3, true, true},
		{"anything over nothing known (version 0)", 0, false, 1, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Supersedes(tc.knownV, tc.knownDeleted, tc.v, tc.deleted); got != tc.want {
				t.Fatalf("Supersedes(%d, %v, %d, %v) = %v, want %v", tc.knownV, tc.knownDeleted, tc.v, tc.deleted, got, tc.want)
			}
		})
	}
}
