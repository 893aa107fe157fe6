package jsonw

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func marshalString(t testing.TB, s string) string {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("json.Marshal(%q): %v", s, err)
	}
	return string(want)
}

// matches reports whether AppendString's output for s is what encoding/json
// writes: the same bytes for valid UTF-8. Invalid bytes become U+FFFD
// either way, but releases of encoding/json differ in how they spell it
// (Go 1.27 writes the character, earlier ones \ufffd), so there the
// decoded strings must agree.
func matches(t testing.TB, s, got string) (bool, string) {
	t.Helper()
	want := marshalString(t, s)
	if got == want {
		return true, want
	}
	if utf8.ValidString(s) || !json.Valid([]byte(got)) {
		return false, want
	}
	var g, w string
	if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false, want
	}
	return g == w, want
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	cases := []string{
		"",
		"WH-A",
		`say "hi"`,
		`back\slash`,
		"tab\tnew\nline\rcr",
		"\b\f\x00\x01\x1f\x7f",
		"<script>&amp;</script>",
		"Lager Köln – Süd",
		"倉庫",
		"emoji 📦",
		"bad utf8 \xff\xfe end",
		"truncated \xe2\x82",
		"line\u2028sep\u2029para",
	}
	for _, s := range cases {
		got := string(AppendString(nil, s))
		if ok, want := matches(t, s, got); !ok {
			t.Errorf("AppendString(%q) = %s, encoding/json gives %s", s, got, want)
		}
	}
}

func TestAppendStringKeepsPrefix(t *testing.T) {
	got := string(AppendString([]byte(`{"k":`), "v"))
	if got != `{"k":"v"` {
		t.Fatalf("got %s", got)
	}
}

func TestAppendInt(t *testing.T) {
	if got := string(AppendInt([]byte("x"), -42)); got != "x-42" {
		t.Fatalf("got %s", got)
	}
}

func TestAppendStringDoesNotAllocateWithCapacity(t *testing.T) {
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendString(buf[:0], `WH-"A"\ü`)
	})
	if allocs != 0 {
		t.Fatalf("AppendString allocated %.1f times per call", allocs)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "WH-A", `"\`, "\x00\u2028", "\xff", "ü<>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := string(AppendString(nil, s))
		if ok, want := matches(t, s, got); !ok {
			t.Fatalf("AppendString(%q) = %s, encoding/json gives %s", s, got, want)
		}
	})
}
