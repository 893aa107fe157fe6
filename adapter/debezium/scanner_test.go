package debezium

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// validByScanner reports whether the scanner accepts b as one JSON document.
func validByScanner(b []byte) (ok bool, tooDeep bool) {
	s := scanner{buf: b}
	err := s.skipValue(0)
	var je *jsonError
	if errors.As(err, &je) && je.what == "nested too deeply" {
		return false, true
	}
	return err == nil && s.atEnd(), false
}

var scannerDocs = []string{
	``, ` `, `{}`, `[]`, `{"a":1}`, `{"a":1,}`, `{,"a":1}`, `{"a" 1}`, `{"a":}`, `{"a":1 "b":2}`, `{1:2}`,
	`[1,2,3]`, `[1,]`, `[,1]`, `[1 2]`, `[`, `]`, `{`, `}`, `[[[]]]`, `[[[]]`, `{"a":[{"b":[null,true,false]}]}`,
	`true`, `false`, `null`, `tru`, `nul`, `truex`, `nullnull`, `True`, ` null `,
	`0`, `-0`, `01`, `-01`, `1.`, `.5`, `1.5`, `1e`, `1e+`, `1e+5`, `1E-5`, `-`, `+1`, `1.5e3`, `0x10`, `1_000`,
	`123456789012345678901234567890`, `-1.0e-10`, `2.`, `[-]`, `[1e5]`, `[01]`,
	`""`, `"a"`, `"\"`, `"\\"`, `"\/"`, `"\q"`, `"\u12"`, `"\u12g4"`, `"\u1234"`, `"\uD83D\uDCE6"`, `"\uD83D"`,
	"\"a\x00b\"", "\"a\x1fb\"", "\"a\x7fb\"", "\"\xff\"", "\"a\tb\"", `"abc`, `"abcdefghijklmnopqrstuvwxyz"`,
	"\"0123456789abcdef0123456789\\n0123456789\"", "\"0123456789abcdef\x010123\"", "\"é€𝄞 long enough to take the 8-byte path\"",
	" \t\n\r{ \"a\" : [ 1 , 2 ] } \r\n", "\v{}", "{}\x00", "{} {}", `{"a":1}}`, `"a"b`, `{"a":"b"c}`,
	`{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"}]},"payload":{"id":1}}`,
}

func TestSkipValueMatchesEncodingJSON(t *testing.T) {
	for _, doc := range scannerDocs {
		got, _ := validByScanner([]byte(doc))
		if want := json.Valid([]byte(doc)); got != want {
			t.Errorf("%q: scanner says valid=%v, encoding/json %v", doc, got, want)
		}
	}
}

func TestSkipValueNestingBound(t *testing.T) {
	deep := strings.Repeat("[", maxNesting+1) + strings.Repeat("]", maxNesting+1)
	if ok, tooDeep := validByScanner([]byte(deep)); ok || !tooDeep {
		t.Errorf("nesting %d: ok=%v tooDeep=%v", maxNesting+1, ok, tooDeep)
	}
	fine := strings.Repeat(`{"a":[`, maxNesting/2) + strings.Repeat("]}", maxNesting/2)
	if ok, _ := validByScanner([]byte(fine)); !ok {
		t.Errorf("nesting %d refused", maxNesting)
	}
}

func TestReadStringMatchesEncodingJSON(t *testing.T) {
	for _, doc := range []string{
		`""`, `"plain"`, `"a\"b"`, `"\\\/\b\f\n\r\t"`, `"\u00e9\u20AC"`, `"\ud83d\udce6"`, `"\ud83d"`, `"\udce6"`,
		`"\ud83d\u0041"`, `"\ud83dx"`, `"x\ud83d\ud83d\udce6"`, "\"raw \xff bytes\"", "\"\xe2\x82\"", `"\u0000"`,
		`"long string that goes past eight bytes with an escape \n at the end"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(doc), &want); err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		s := scanner{buf: []byte(doc)}
		b, err := s.readString()
		if err != nil {
			t.Errorf("%q: %v", doc, err)
			continue
		}
		if got := validString(b); got != want || s.pos != len(doc) {
			t.Errorf("%q: got %q (pos %d), encoding/json %q", doc, got, s.pos, want)
		}
	}
}

// plainRun must stop exactly where a byte-by-byte scan would.
func TestPlainRunMatchesByteLoop(t *testing.T) {
	slow := func(b []byte, i int) int {
		for ; i < len(b); i++ {
			if stringStop[b[i]] {
				return i
			}
		}
		return i
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'a', 'z', ' ', '"', '\\', 0x00, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xa2, 0xdc, 0xff, 0x5b, 0x5d}
	for n := 0; n < 20000; n++ {
		b := make([]byte, r.IntN(40))
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[i] = byte(r.IntN(256))
			}
		}
		start := 0
		if len(b) > 0 {
			start = r.IntN(len(b))
		}
		got := plainRun(b, start)
		want := slow(b, start)
		// plainRun may stop early only where fewer than 8 bytes remain.
		if got > want || got < want && len(b)-got >= 8 {
			t.Fatalf("plainRun(%q, %d) = %d, byte loop %d", b, start, got, want)
		}
	}
}

func TestReadInt(t *testing.T) {
	for _, tt := range []struct {
		tok string
		i64 int64
		okI bool
		u64 uint64
		okU bool
		err error
	}{
		{tok: "0", okI: true, okU: true},
		{tok: "-0", okI: true, okU: true},
		{tok: "7", i64: 7, okI: true, u64: 7, okU: true},
		{tok: "1234567890123456789", i64: 1234567890123456789, okI: true, u64: 1234567890123456789, okU: true},
		{tok: "9223372036854775807", i64: math.MaxInt64, okI: true, u64: math.MaxInt64, okU: true},
		{tok: "9223372036854775808", u64: 1 << 63, okU: true},
		{tok: "-9223372036854775808", i64: math.MinInt64, okI: true, u64: 1 << 63, okU: true},
		{tok: "-9223372036854775809"},
		{tok: "18446744073709551615", u64: math.MaxUint64, okU: true},
		{tok: "18446744073709551616", err: probRange},
		{tok: "99999999999999999999", err: probRange},
		{tok: "100000000000000000000", err: probRange},
		{tok: "-1", i64: -1, okI: true, u64: math.MaxUint64, okU: true},
		{tok: "1.5", err: probNotInteger},
		{tok: "1e3", err: probNotInteger},
		{tok: "2.0", err: probNotInteger},
		{tok: "-7E1", err: probNotInteger},
		{tok: "99999999999999999999999.5", err: probNotInteger},
	} {
		s := scanner{buf: []byte(tt.tok)}
		mag, neg, err := s.readInt()
		if err != tt.err {
			t.Errorf("readInt(%s) err = %v, want %v", tt.tok, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if s.pos != len(tt.tok) {
			t.Errorf("readInt(%s) stopped at %d", tt.tok, s.pos)
		}
		i, okI := signedInt(mag, neg)
		if okI != tt.okI || okI && i != tt.i64 {
			t.Errorf("signedInt(%s) = %d, %v", tt.tok, i, okI)
		}
		u, okU := unsignedBits(mag, neg)
		if okU != tt.okU || okU && u != tt.u64 {
			t.Errorf("unsignedBits(%s) = %d, %v", tt.tok, u, okU)
		}
	}
	for _, tok := range []string{"-", "", "x", "-a", "+1"} {
		s := scanner{buf: []byte(tok)}
		if _, _, err := s.readInt(); err == nil {
			t.Errorf("readInt(%q) accepted", tok)
		}
	}
}

// FuzzScanner holds the scanner to encoding/json: the same documents are
// valid, and strings decode to the same text.
func FuzzScanner(f *testing.F) {
	for _, doc := range scannerDocs {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, tooDeep := validByScanner(b)
		if !tooDeep && got != json.Valid(b) {
			t.Fatalf("%q: scanner valid=%v, encoding/json %v", b, got, !got)
		}
		if len(b) == 0 || b[0] != '"' {
			return
		}
		s := scanner{buf: b}
		str, err := s.readString()
		var want string
		wantErr := json.Unmarshal(b[:max(s.pos, 1)], &want)
		if err != nil {
			return
		}
		if wantErr != nil || validString(str) != want {
			t.Fatalf("%q: scanner %q, encoding/json %q (%v)", b[:s.pos], validString(str), want, wantErr)
		}
	})
}
