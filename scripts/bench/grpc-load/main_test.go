package main

import (
	"strings"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var sorted []time.Duration
	for i := 1; i <= 100; i++ {
		sorted = append(sorted, time.Duration(i))
	}
	tests := []struct {
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{sorted, 0.50, 50},
		{sorted, 0.99, 99},
		{sorted, 1, 100},
		{sorted, 0, 1},
		{[]time.Duration{7}, 0.99, 7},
		{nil, 0.5, 0},
	}
	for _, tt := range tests {
		if got := percentile(tt.in, tt.q); got != tt.want {
			t.Errorf("percentile(%d values, %v) = %v, want %v", len(tt.in), tt.q, got, tt.want)
		}
	}
}

func TestResultLine(t *testing.T) {
	r := result{elapsed: 2 * time.Second, failed: 1,
		latencies: []time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}}
	if got, want := r.line(), "BENCH 2.0 2.000 4.000 4.000 5 1"; got != want {
		t.Fatalf("line = %q, want %q", got, want)
	}
}

func TestParseFlagsRejectsBadInput(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-method", "stream"}, "--method must be get or batch"},
		{[]string{"-concurrency", "0"}, "must be positive"},
		{[]string{"-duration", "-1s"}, "must be positive"},
		{[]string{"-nope"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("parseFlags(%v) = %v, want an error containing %q", tt.args, err, tt.wantErr)
		}
	}
	if _, err := parseFlags([]string{"-method", "batch", "-batch-ids", "100"}); err != nil {
		t.Fatalf("valid flags rejected: %v", err)
	}
}
