package jsonwalk

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

var docs = []string{
	``, ` `, `{}`, `[]`, `{"a":1}`, `{"a":1,}`, `{,"a":1}`, `{"a" 1}`, `{"a":}`, `{"a":1 "b":2}`, `{1:2}`,
	`[1,2,3]`, `{"a":[1,]}`, `{"a":[,1]}`, `{"a":[1 2]}`, `[`, `{`, `}`, `{"a":[[[]]]}`, `{"a":[[[]]}`,
	`{"a":[{"b":[null,true,false]}]}`, `true`, `null`, `{"a":tru}`, `{"a":nul}`, `{"a":truex}`, `{"a":True}`, ` {"a":null} `,
	`{"a":0}`, `{"a":-0}`, `{"a":01}`, `{"a":-01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1.5}`, `{"a":1e}`, `{"a":1e+}`,
	`{"a":1e+5}`, `{"a":1E-5}`, `{"a":-}`, `{"a":+1}`, `{"a":0x10}`, `{"a":123456789012345678901234567890}`,
	`{"a":""}`, `{"a":"\"}`, `{"a":"\\"}`, `{"a":"\/"}`, `{"a":"\q"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, `{"a":"\u1234"}`,
	`{"a":"\uD83D\uDCE6"}`, `{"a":"\uD83D"}`, "{\"a\":\"a\x00b\"}", "{\"a\":\"a\x1fb\"}", "{\"a\":\"a\x7fb\"}",
	"{\"a\":\"\xff\"}", "{\"a\":\"a\tb\"}", `{"a":"abc}`, "{\"\xffname\":1}", `{"a\"b":{"c\\":"}{]["}}`,
	" \t\n\r{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \r\n", "\v{}", "{}\x00", "{} {}", `{"a":1}}`, `{"a":"b"c}`,
	`{"a":1,"a":2}`, `{"schema":{"type":"struct","fields":[{"type":"int64","field":"id"}]},"payload":{"id":1}}`,
}

// members decodes an object with encoding/json: the last of a repeated
// name counts.
func members(t *testing.T, obj []byte) map[string]string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		t.Fatalf("%q: %v", obj, err)
	}
	out := map[string]string{}
	for k, v := range m {
		out[k] = compact(t, v)
	}
	return out
}

func compact(t *testing.T, v []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		t.Fatalf("%q: %v", v, err)
	}
	return b.String()
}

// walked collects what walk hands out, the last of a repeated name counting.
func walked(t *testing.T, walk func(func(name, v []byte) error) error) (map[string]string, error) {
	got := map[string]string{}
	err := walk(func(name, v []byte) error {
		got[string([]rune(string(name)))] = compact(t, v) // as encoding/json spells invalid UTF-8
		return nil
	})
	return got, err
}

func checkDoc(t *testing.T, doc []byte) {
	t.Helper()
	got, err := walked(t, func(f func(name, v []byte) error) error { return Object(doc, f) })
	isObject := json.Valid(doc) && bytes.TrimLeft(doc, " \t\r\n")[0] == '{'
	var syntax *jsontext.SyntacticError
	switch {
	case err != nil && !errors.As(err, &syntax):
		t.Fatalf("%q: error %v is no syntax error", doc, err)
	case err != nil && isObject && strings.Contains(err.Error(), "exceeded max depth"):
		return
	case (err == nil) != isObject:
		t.Fatalf("%q: Object error %v, encoding/json says an object: %v", doc, err, isObject)
	case err != nil:
		return
	}
	if want := members(t, doc); !equal(got, want) {
		t.Fatalf("%q: Object hands out %v, encoding/json %v", doc, got, want)
	}
	// Fields walks what the library checked the same way.
	if again, err := walked(t, func(f func(name, v []byte) error) error { return Fields(doc, f) }); err != nil || !equal(again, got) {
		t.Fatalf("%q: Fields hands out %v (%v), Object %v", doc, again, err, got)
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestObjectMatchesEncodingJSON(t *testing.T) {
	for _, doc := range docs {
		checkDoc(t, []byte(doc))
	}
}

func TestObjectOffsetsAndDepth(t *testing.T) {
	for doc, offset := range map[string]int64{`{"a":1}x`: 7, `{"a":1} {}`: 8, `{"a":01}`: 6} {
		var syntax *jsontext.SyntacticError
		if err := Object([]byte(doc), func(_, _ []byte) error { return nil }); !errors.As(err, &syntax) || syntax.ByteOffset != offset {
			t.Errorf("%q: %v, want a syntax error at offset %d", doc, err, offset)
		}
	}
	// The library's nesting bound keeps hostile input from growing the stack.
	deep := `{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`
	if err := Object([]byte(deep), func(_, _ []byte) error { return nil }); err == nil {
		t.Error("nesting 10001 deep accepted")
	}
	fine := []byte(`{"a":` + strings.Repeat(`{"a":[`, 2000) + strings.Repeat("]}", 2000) + `}`)
	checkDoc(t, fine)
}

func TestObjectStopsAtMemberError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := Object([]byte(`{"a":1,"b":2}`), func(_, _ []byte) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("err %v after %d members", err, n)
	}
}

func TestString(t *testing.T) {
	for _, doc := range []string{
		`""`, `"plain"`, `"a\"b"`, `"\\\/\b\f\n\r\t"`, `"\u00e9\u20AC"`, `"\ud83d\udce6"`, `"\ud83d"`, `"\udce6"`,
		`"\ud83d\u0041"`, `"x\ud83d\ud83d\udce6"`, "\"raw \xff bytes\"", "\"\xe2\x82\"", `"\u0000"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(doc), &want); err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if got := String([]byte(doc)); got != want {
			t.Errorf("String(%q) = %q, encoding/json %q", doc, got, want)
		}
	}
	if String([]byte("null")) != "" || String(nil) != "" {
		t.Error("a value that is no string gave a string")
	}
}

// FuzzObject holds Object and Fields to encoding/json: the same objects are
// valid, and hand out the same members.
func FuzzObject(f *testing.F) {
	for _, doc := range docs {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(bytes.TrimLeft(doc, " \t\r\n")) == 0 {
			if Object(doc, func(_, _ []byte) error { return nil }) == nil {
				t.Fatalf("%q: empty input accepted", doc)
			}
			return
		}
		checkDoc(t, doc)
	})
}
