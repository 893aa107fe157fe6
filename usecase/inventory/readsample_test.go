package inventory

import (
	"slices"
	"testing"
)

// The sample holds what was read often: a product read many times is in it,
// each product at most once, and never more than asked for.
func TestReadSampleKeepsFrequentReadsOnce(t *testing.T) {
	var r readSample
	for i := 0; i < 4000; i++ {
		r.note(7)
		r.note(int64(1000 + i%3))
	}
	got := r.take(10)
	if !slices.Contains(got, 7) {
		t.Fatalf("sample %v lacks product 7, read 4000 times", got)
	}
	if len(got) > 4 {
		t.Fatalf("sample %v repeats products: 4 were read", got)
	}
	if len(r.take(2)) != 2 || r.take(0) != nil {
		t.Fatal("take ignores its bound")
	}
	r.forget()
	if got := r.take(10); len(got) != 0 {
		t.Fatalf("sample %v after forget", got)
	}
}

// Later reads push earlier ones out: the ring is bounded.
func TestReadSampleForgetsOldReads(t *testing.T) {
	var r readSample
	for i := 0; i < 200; i++ {
		r.note(1)
	}
	for i := int64(0); i < 100*sampleSlots; i++ {
		r.note(2 + i%50)
	}
	if got := r.take(sampleSlots); slices.Contains(got, 1) {
		t.Fatalf("product 1 still sampled after %d later reads", 100*sampleSlots)
	}
}
