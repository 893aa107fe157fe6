package debezium

import (
	"math"
	"testing"
)

// The integer readers: exact, never through float64; a fraction or an
// exponent is no integer even when whole; beyond the type is out of range.
func TestIntegers(t *testing.T) {
	for _, tt := range []struct {
		tok    string
		i64    int64
		okI    bool
		u64    uint64
		okU    bool
		reason problem // of both, when neither reads it
	}{
		{tok: "0", okI: true, okU: true},
		{tok: "-0", okI: true, okU: true},
		{tok: "7", i64: 7, okI: true, u64: 7, okU: true},
		{tok: "1234567890123456789", i64: 1234567890123456789, okI: true, u64: 1234567890123456789, okU: true},
		{tok: "9223372036854775807", i64: math.MaxInt64, okI: true, u64: math.MaxInt64, okU: true},
		{tok: "9223372036854775808", u64: 1 << 63, okU: true},
		{tok: "-9223372036854775808", i64: math.MinInt64, okI: true, u64: 1 << 63, okU: true},
		{tok: "-9223372036854775809", reason: probRange},
		{tok: "18446744073709551615", u64: math.MaxUint64, okU: true},
		{tok: "18446744073709551616", reason: probRange},
		{tok: "99999999999999999999", reason: probRange},
		{tok: "100000000000000000000", reason: probRange},
		{tok: "-1", i64: -1, okI: true, u64: math.MaxUint64, okU: true},
		{tok: "1.5", reason: probNotInteger},
		{tok: "1e3", reason: probNotInteger},
		{tok: "2.0", reason: probNotInteger},
		{tok: "-7E1", reason: probNotInteger},
		{tok: "99999999999999999999999.5", reason: probNotInteger},
		{tok: `"7"`, reason: probNotInteger},
		{tok: "true", reason: probNotInteger},
		{tok: "-", reason: probNotInteger},
	} {
		n, err := parseInt([]byte(tt.tok))
		if tt.okI != (err == nil) || err == nil && (n.n != tt.i64 || !n.set) {
			t.Errorf("parseInt(%s) = %+v, %v", tt.tok, n, err)
		}
		var u uint64
		var set bool
		uerr := versionField([]byte(tt.tok), &u, &set)
		if tt.okU != (uerr == nil) || uerr == nil && (u != tt.u64 || !set) {
			t.Errorf("versionField(%s) = %d, %v", tt.tok, u, uerr)
		}
		if tt.reason != "" && (err != tt.reason || uerr == nil || uerr.(*decodeError).problem != string(tt.reason)) {
			t.Errorf("%s: errors %v and %v, want %q", tt.tok, err, uerr, tt.reason)
		}
	}
	if n, err := parseInt([]byte("null")); err != nil || !n.null || n.set {
		t.Errorf("parseInt(null) = %+v, %v", n, err)
	}
}
