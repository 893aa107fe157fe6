package gormrepo

import (
	"slices"
	"testing"
)

func TestPadIDs(t *testing.T) {
	tests := []struct{ n, want int }{
		{1, 1}, {2, 2}, {3, 4}, {4, 4}, {5, 8}, {100, 128}, {513, 1024}, {1000, 1024}, {1024, 1024},
		{1025, 2048}, {2048, 2048}, {3000, 3072},
	}
	for _, tt := range tests {
		ids := make([]int64, tt.n)
		for i := range ids {
			ids[i] = int64(1000 + i)
		}
		got := padIDs(ids)
		if len(got) != tt.want {
			t.Errorf("padIDs(%d ids) has %d, want %d", tt.n, len(got), tt.want)
			continue
		}
		if !slices.Equal(got[:tt.n], ids) {
			t.Errorf("padIDs(%d ids) changed the ids", tt.n)
		}
		for _, id := range got[tt.n:] {
			if id != ids[tt.n-1] {
				t.Errorf("padIDs(%d ids) padded with %d, want the last id %d", tt.n, id, ids[tt.n-1])
				break
			}
		}
	}
}

func TestPadIDsDoesNotTouchTheCallersSlice(t *testing.T) {
	ids := make([]int64, 3, 8)
	copy(ids, []int64{7, 8, 9})
	_ = padIDs(ids)
	if got := ids[:cap(ids)]; got[3] != 0 {
		t.Errorf("padIDs wrote into the caller's spare capacity: %v", got)
	}
}
