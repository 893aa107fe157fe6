package httpapi

import (
	"net/url"
	"strings"
	"testing"
)

func TestScanQuery(t *testing.T) {
	tests := []struct {
		raw   string
		value string
		ok    bool
	}{
		{"product_id=1", "1", true},
		{"a=b&product_id=2&product_id=3", "2", true},
		{"product_id", "", true},
		{"product_id=", "", true},
		{"product_idx=1", "", false},
		{"&&product_id=4&", "4", true},
		{"", "", false},
		{"product_id=a=b", "a=b", true},
	}
	for _, tt := range tests {
		v, ok := scanQuery(tt.raw, "product_id")
		if v != tt.value || ok != tt.ok {
			t.Errorf("scanQuery(%q) = %q, %v; want %q, %v", tt.raw, v, ok, tt.value, tt.ok)
		}
	}
}

// FuzzScanQuery checks the in-place scan against net/url on the queries it
// handles (those without escapes, '+' or ';').
func FuzzScanQuery(f *testing.F) {
	for _, s := range []string{"product_id=1", "a=1&product_id=2", "product_id", "=&=", "product_id=1&product_id=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if strings.ContainsAny(raw, "%+;") {
			return
		}
		values, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		want, wantOK := values["product_id"]
		got, ok := scanQuery(raw, "product_id")
		if ok != wantOK || (ok && got != want[0]) {
			t.Fatalf("scanQuery(%q) = %q, %v; net/url gives %q", raw, got, ok, want)
		}
	})
}
