package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// sweepPoint is one vegeta attack of the sweep.
type sweepPoint struct {
	Target   string
	Rate     float64 // requested req/s
	Achieved float64 // req/s vegeta measured
	Success  float64 // share of 2xx answers, 0..1
	P50      float64 // ms
	P90      float64
	P99      float64
}

// A target kept up when it took (nearly) the whole requested rate and
// answered every request.
const (
	minAchievedShare = 0.95
	minSuccess       = 0.999
)

func (p sweepPoint) keptUp() bool {
	return p.Achieved >= p.Rate*minAchievedShare && p.Success >= minSuccess
}

// sweepColumns are the columns readSweep needs; others are ignored, so the
// sweep may record more without breaking the plot.
var sweepColumns = []string{"target", "rate", "achieved_rps", "success", "p50_ms", "p90_ms", "p99_ms"}

// readSweep parses sweep.sh's TSV: a header line naming the columns, then
// one line per attack.
func readSweep(r io.Reader) ([]sweepPoint, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("empty input: want a header line")
	}
	index := map[string]int{}
	for i, name := range strings.Split(sc.Text(), "\t") {
		index[name] = i
	}
	for _, c := range sweepColumns {
		if _, ok := index[c]; !ok {
			return nil, fmt.Errorf("header lacks column %q", c)
		}
	}
	var points []sweepPoint
	for line := 2; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) < len(index) {
			return nil, fmt.Errorf("line %d: %d fields, want %d", line, len(fields), len(index))
		}
		p := sweepPoint{Target: fields[index["target"]]}
		for _, f := range []struct {
			column string
			dst    *float64
		}{
			{"rate", &p.Rate}, {"achieved_rps", &p.Achieved}, {"success", &p.Success},
			{"p50_ms", &p.P50}, {"p90_ms", &p.P90}, {"p99_ms", &p.P99},
		} {
			v, err := strconv.ParseFloat(fields[index[f.column]], 64)
			if err != nil {
				return nil, fmt.Errorf("line %d, column %s: %w", line, f.column, err)
			}
			*f.dst = v
		}
		if p.Rate <= 0 {
			return nil, fmt.Errorf("line %d: rate must be positive, got %v", line, p.Rate)
		}
		points = append(points, p)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return points, nil
}
