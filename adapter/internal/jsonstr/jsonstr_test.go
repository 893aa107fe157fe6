package jsonstr

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

var cases = []string{
	"", "WH-A", `say "hi"`, `back\slash`, "tab\tnew\nline\rcr", "\b\f\x00\x01\x1f\x7f",
	"<script>&amp;</script>", "Lager Köln – Süd", "倉庫", "emoji 📦", "bad utf8 \xff\xfe end",
	"truncated \xe2\x82", "line\u2028sep\u2029para",
}

func marshal(t testing.TB, s string) string {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("json.Marshal(%q): %v", s, err)
	}
	return string(want)
}

// sameString reports whether got is want, or, for input s with invalid
// UTF-8, the same JSON string spelled another way: invalid bytes become
// U+FFFD either way, but releases of encoding/json differ in how they write
// it (Go 1.27 the character itself, earlier ones \ufffd).
func sameString(s, got, want string) bool {
	if got == want {
		return true
	}
	if utf8.ValidString(s) {
		return false
	}
	var g, w string
	return json.Unmarshal([]byte(got), &g) == nil && json.Unmarshal([]byte(want), &w) == nil && g == w
}

// AppendHTMLSafe writes what encoding/json writes.
func TestAppendHTMLSafeMatchesEncodingJSON(t *testing.T) {
	for _, s := range cases {
		if got, want := string(AppendHTMLSafe(nil, s)), marshal(t, s); !sameString(s, got, want) {
			t.Errorf("AppendHTMLSafe(%q) = %s, encoding/json gives %s", s, got, want)
		}
	}
}

// Append differs from it only in leaving HTML characters and line
// separators as they are (Jackson's rules).
func TestAppendLeavesHTMLAlone(t *testing.T) {
	for _, s := range cases {
		got := string(Append(nil, s))
		want := marshal(t, s)
		for esc, raw := range map[string]string{`\u003c`: "<", `\u003e`: ">", `\u0026`: "&", `\u2028`: "\u2028", `\u2029`: "\u2029"} {
			want = strings.ReplaceAll(want, esc, raw)
		}
		if !sameString(s, got, want) {
			t.Errorf("Append(%q) = %s, want %s", s, got, want)
		}
	}
	if got := string(Append([]byte(`{"k":`), "v")); got != `{"k":"v"` {
		t.Errorf("prefix not kept: %s", got)
	}
}

func TestAppendDoesNotAllocateWithCapacity(t *testing.T) {
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		buf = Append(buf[:0], `WH-"A"\ü<`)
		buf = AppendHTMLSafe(buf, `WH-"A"\ü<`)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per call", allocs)
	}
}

// Whatever the input, the output is one valid JSON string holding the
// input with invalid UTF-8 replaced.
func FuzzAppend(f *testing.F) {
	for _, s := range cases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(AppendHTMLSafe(nil, s)), marshal(t, s); !sameString(s, got, want) {
			t.Fatalf("AppendHTMLSafe(%q) = %s, encoding/json gives %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(Append(nil, s), &back); err != nil || back != string([]rune(s)) {
			t.Fatalf("Append(%q) decodes to %q, %v", s, back, err)
		}
	})
}
