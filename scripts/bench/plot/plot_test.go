package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const header = "target\trate\tachieved_rps\tsuccess\tp50_ms\tp90_ms\tp99_ms\tmax_ms\n"

func TestReadSweep(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []sweepPoint
		wantErr string
	}{
		{
			name: "rows in any column order, extra columns ignored",
			in: "p99_ms\ttarget\trate\textra\tachieved_rps\tsuccess\tp50_ms\tp90_ms\n" +
				"9.5\tcached\t10000\tx\t9990.5\t1\t0.3\t1.2\n\n" +
				"30\tdb-only\t2000\ty\t1500\t0.7\t5\t12\n",
			want: []sweepPoint{
				{Target: "cached", Rate: 10000, Achieved: 9990.5, Success: 1, P50: 0.3, P90: 1.2, P99: 9.5},
				{Target: "db-only", Rate: 2000, Achieved: 1500, Success: 0.7, P50: 5, P90: 12, P99: 30},
			},
		},
		{name: "empty", in: "", wantErr: "empty input"},
		{name: "missing column", in: "target\trate\n", wantErr: `lacks column "achieved_rps"`},
		{name: "short line", in: header + "cached\t1000\n", wantErr: "line 2: 2 fields"},
		{name: "not a number", in: header + "cached\t1000\tfast\t1\t1\t1\t1\t1\n", wantErr: "column achieved_rps"},
		{name: "zero rate", in: header + "cached\t0\t0\t1\t1\t1\t1\t1\n", wantErr: "rate must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readSweep(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d points, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("point %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestKeptUp(t *testing.T) {
	tests := []struct {
		p    sweepPoint
		want bool
	}{
		{sweepPoint{Rate: 1000, Achieved: 1000, Success: 1}, true},
		{sweepPoint{Rate: 1000, Achieved: 950, Success: 0.999}, true},
		{sweepPoint{Rate: 1000, Achieved: 949, Success: 1}, false},
		{sweepPoint{Rate: 1000, Achieved: 1000, Success: 0.99}, false},
	}
	for _, tt := range tests {
		if got := tt.p.keptUp(); got != tt.want {
			t.Errorf("%+v keptUp = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestLatencyTicksLabelOneTwoFive(t *testing.T) {
	var labels []string
	for _, tk := range (latencyTicks{}).Ticks(0.15, 12) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if got, want := strings.Join(labels, " "), "0.2 0.5 1 2 5 10"; got != want {
		t.Fatalf("labels %q, want %q", got, want)
	}
}

func TestShortRate(t *testing.T) {
	for r, want := range map[float64]string{250: "250", 1000: "1k", 2500: "2.5k", 20000: "20k"} {
		if got := shortRate(r); got != want {
			t.Errorf("shortRate(%v) = %q, want %q", r, got, want)
		}
	}
}

func TestRunWritesAPNG(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "sweep.tsv")
	data := header +
		"cached\t1000\t1000\t1\t0.3\t0.5\t1\t4\n" + "cached\t20000\t11000\t1\t5\t20\t40\t90\n" +
		"db-only\t250\t250\t1\t1\t1.5\t4\t8\n" + "bare\t1000\t1000\t1\t0.2\t0.4\t0.6\t3\n"
	if err := os.WriteFile(in, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "latency.png")
	if err := run([]string{"-in", in, "-out", out}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "\x89PNG\r\n\x1a\n") {
		t.Fatalf("%s is not a PNG", out)
	}
}
