package pace

import (
	"context"
	"testing"
	"time"
)

func TestBackoffDoublesToMaxAndResets(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	var got []time.Duration
	for range 6 {
		got = append(got, b.Next())
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
	b.Reset()
	if d := b.Next(); d != 100*time.Millisecond {
		t.Fatalf("after reset %v", d)
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("slept through a cancelled context")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("a short sleep reported cancellation")
	}
}

func TestEveryStopsWhenToldOrCancelled(t *testing.T) {
	n := 0
	Every(context.Background(), time.Millisecond, func() bool { n++; return n < 3 })
	if n != 3 {
		t.Fatalf("called %d times, want 3", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	Every(ctx, time.Millisecond, func() bool { t.Fatal("called after cancel"); return true })
}

func TestUntil(t *testing.T) {
	n := 0
	if !Until(context.Background(), time.Millisecond, func() bool { n++; return n == 3 }) || n != 3 {
		t.Fatalf("Until returned after %d checks", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Until(ctx, time.Millisecond, func() bool { return false }) {
		t.Fatal("Until held on a cancelled context")
	}
}

// Drain takes what is ready, up to the room given, never waits, and says
// when the channel is closed.
func TestDrainTakesWhatIsReady(t *testing.T) {
	ch := make(chan int, 10)
	for i := range 5 {
		ch <- i
	}
	var got []int
	room := func() bool { return len(got) < 3 }
	if !Drain(ch, room, func(i int) { got = append(got, i) }) || len(got) != 3 {
		t.Fatalf("took %v, want 3 of 5 ready", got)
	}
	got = got[:0]
	if !Drain(ch, func() bool { return true }, func(i int) { got = append(got, i) }) || len(got) != 2 {
		t.Fatalf("took %v, want the 2 left, without waiting for more", got)
	}
	close(ch)
	if Drain(ch, func() bool { return true }, func(int) {}) {
		t.Fatal("a closed channel reported open")
	}
}
