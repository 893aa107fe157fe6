package bigcachestore

import (
	"slices"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/inventory"
)

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := New(Config{SizeMB: 16, LifeWindow: time.Hour, Shards: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func sample() *inventory.Entry {
	pos, err := domain.ParseSourcePos("0-1-4711,7-2-18446744073709551615,3e11fa47-71ca-11e1-9e33-c80aa9429562:1-23")
	if err != nil {
		panic(err)
	}
	hi, err := domain.ParseSourcePos("0-1-4790,7-2-18446744073709551615,3e11fa47-71ca-11e1-9e33-c80aa9429562:1-24")
	if err != nil {
		panic(err)
	}
	return &inventory.Entry{ExpiresAt: 1_700_000_000_123_456_789, Rows: []inventory.EntryRow{
		{WarehouseID: 1, QtySalable: 12, Version: 3},
		{WarehouseID: 2, QtySalable: -4, Version: 1 << 63, Deleted: true},
		{WarehouseID: 3, QtySalable: 5, Read: true},
		{WarehouseID: 4, QtySalable: 6, Src: pos[0].Source, Version: 4788, Sub: domain.SubOf(1<<40, 70000)},
		{WarehouseID: 5, QtySalable: 0, Src: pos[2].Source, Version: 24, Sub: 1, Deleted: true},
		{WarehouseID: 9_000_000_000, QtySalable: 2147483647, Version: ^uint64(0)},
	}, FillPos: pos, FillHi: hi}
}

func TestSetGetRoundTrip(t *testing.T) {
	s := newStore(t)
	want := sample()
	if err := s.Set(42, want); err != nil {
		t.Fatal(err)
	}
	got := &inventory.Entry{Rows: make([]inventory.EntryRow, 5)}
	if !s.Get(42, got) {
		t.Fatal("miss after set")
	}
	if got.ExpiresAt != want.ExpiresAt || !slices.Equal(got.Rows, want.Rows) || !slices.Equal(got.FillPos, want.FillPos) || !slices.Equal(got.FillHi, want.FillHi) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if s.Get(43, got) {
		t.Fatal("hit for a key never set")
	}
	s.Delete(42)
	if s.Get(42, got) || s.Len() != 0 {
		t.Fatal("hit after delete")
	}
}

func TestNegativeEntryRoundTrip(t *testing.T) {
	s := newStore(t)
	if err := s.Set(7, &inventory.Entry{ExpiresAt: 5}); err != nil {
		t.Fatal(err)
	}
	var got inventory.Entry
	if !s.Get(7, &got) || len(got.Rows) != 0 || got.ExpiresAt != 5 {
		t.Fatalf("negative entry: %+v", got)
	}
}

func TestResetDropsEverything(t *testing.T) {
	s := newStore(t)
	for id := int64(1); id <= 100; id++ {
		if err := s.Set(id, sample()); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != 100 {
		t.Fatalf("len %d", s.Len())
	}
	s.Reset()
	if s.Len() != 0 {
		t.Fatalf("len %d after reset", s.Len())
	}
}

// Ids that a plain 64-bit hash could map together must stay apart: the
// hasher is a bijection on the 8-byte key, so every id is its own hash.
func TestNoTwoIDsShareAHash(t *testing.T) {
	h := idHasher{}
	seen := make(map[uint64]int64, 1<<18)
	var kb keyBuf
	check := func(id int64) {
		v := h.Sum64(kb.key(id))
		if other, dup := seen[v]; dup && other != id {
			t.Fatalf("ids %d and %d share hash %x", other, id, v)
		}
		seen[v] = id
	}
	for id := int64(1); id <= 1<<17; id++ {
		check(id)
		check(id << 20)
	}
	check(-1)
	check(1 << 62)
	s := newStore(t)
	for id := int64(1); id <= 20000; id++ {
		if err := s.Set(id, &inventory.Entry{ExpiresAt: id}); err != nil {
			t.Fatal(err)
		}
	}
	var e inventory.Entry
	for id := int64(1); id <= 20000; id++ {
		if !s.Get(id, &e) || e.ExpiresAt != id {
			t.Fatalf("id %d read back %d", id, e.ExpiresAt)
		}
	}
	if st := s.Stats(); st.Collisions != 0 {
		t.Fatalf("%d collisions", st.Collisions)
	}
}

func TestCorruptBytesAreAMissNotAPanic(t *testing.T) {
	for _, b := range [][]byte{nil, {1}, {3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, append([]byte{3, 0, 0, 0, 0, 0, 0, 0, 0}, 0xff, 0xff, 0xff, 0xff, 0x0f), appendEntry(nil, sample())[:40]} {
		var e inventory.Entry
		if err := decodeEntry(b, &e); err == nil {
			t.Errorf("%x decoded", b)
		}
	}
}

func TestRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{{SizeMB: 0}, {SizeMB: 8, Shards: 3}} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(appendEntry(nil, sample()))
	f.Add(appendEntry(nil, &inventory.Entry{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e inventory.Entry
		if decodeEntry(b, &e) != nil {
			return
		}
		again := appendEntry(nil, &e)
		var e2 inventory.Entry
		if err := decodeEntry(again, &e2); err != nil || !slices.Equal(e.Rows, e2.Rows) || e.ExpiresAt != e2.ExpiresAt ||
			!slices.Equal(e.FillPos, e2.FillPos) || !slices.Equal(e.FillHi, e2.FillHi) {
			t.Fatalf("re-encoding changed the entry: %v", err)
		}
	})
}

func BenchmarkGetHit(b *testing.B) {
	s := newStore(b)
	for id := int64(1); id <= 1000; id++ {
		_ = s.Set(id, sample())
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		e := &inventory.Entry{Rows: make([]inventory.EntryRow, 0, 8)}
		id := int64(0)
		for pb.Next() {
			id = id%1000 + 1
			if !s.Get(id, e) {
				b.Fatal("miss")
			}
		}
	})
}

// Scan walks the whole store a bounded number at a time, going on where it
// stopped: every entry is reached within ceil(N/n) calls, no call names an
// id twice or more than n ids, and ids come back as they were stored.
func TestScanWalksEveryEntryInTurn(t *testing.T) {
	s := newStore(t)
	if got := s.Scan(10); len(got) != 0 {
		t.Fatalf("empty store scanned %v", got)
	}
	const n = 103
	for id := int64(1); id <= n; id++ {
		if err := s.Set(id*1_000_003, sample()); err != nil { // ids far apart, over many shards
			t.Fatal(err)
		}
	}
	seen := map[int64]int{}
	for call := 0; call < (n+9)/10; call++ {
		got := s.Scan(10)
		if len(got) > 10 {
			t.Fatalf("call %d returned %d ids", call, len(got))
		}
		for _, id := range got {
			if id%1_000_003 != 0 || id/1_000_003 < 1 || id/1_000_003 > n {
				t.Fatalf("scanned an id never stored: %d", id)
			}
			seen[id]++
		}
	}
	if len(seen) != n {
		t.Fatalf("%d of %d entries reached in one walk", len(seen), n)
	}
	// The walk starts over, and a call that wraps names no id twice.
	for call := 0; call < 30; call++ {
		got := s.Scan(40)
		if len(got) != 40 {
			t.Fatalf("call %d: %d ids, want 40 (the store holds %d)", call, len(got), n)
		}
		sorted := slices.Clone(got)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(got) {
			t.Fatalf("call %d named an id twice: %v", call, got)
		}
	}
	// More than the store holds: each entry once.
	if got := s.Scan(1000); len(got) != n {
		t.Fatalf("scan of 1000 over %d entries returned %d", n, len(got))
	}
	s.Reset()
	if got := s.Scan(10); len(got) != 0 {
		t.Fatalf("after reset scanned %v", got)
	}
}
