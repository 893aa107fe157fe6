// Package jsonwalk reads JSON objects member by member for the project's
// decoders, with the JSON library (github.com/go-json-experiment/json, the
// encoding/json/v2 of Go 1.27) doing the syntax. The library checks a
// message's outer object and each of its member values as a whole: the
// grammar, so that what is accepted is what encoding/json accepts, the
// nesting depth, and where an error is. Repeated member names are allowed
// (the last one counts, as in encoding/json and Kafka Connect), and so is
// invalid UTF-8 in strings (String replaces it, as encoding/json does).
//
// Values the library has checked are walked with Fields, which needs no
// grammar: walking them token by token through the library's decoder costs
// half as much again as a whole Debezium decode.
package jsonwalk

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

var (
	options  = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}
	decoders = sync.Pool{New: func() any { return new(decoder) }}
)

type decoder struct {
	buf bytes.Buffer
	dec jsontext.Decoder
}

// Object reads in, which must hold one JSON object and nothing else, handing
// each member's name (unquoted, for matching: invalid UTF-8 may stay) and
// value (a slice of in, checked) to member. A syntax error is a
// *jsontext.SyntacticError; an error from member stops the walk and is
// returned as it is.
func Object(in []byte, member func(name, value []byte) error) error {
	d := decoders.Get().(*decoder)
	d.buf = *bytes.NewBuffer(in)
	d.dec.Reset(&d.buf, options...)
	err := d.object(in, member)
	d.buf = bytes.Buffer{}
	decoders.Put(d)
	return err
}

func (d *decoder) object(in []byte, member func(name, value []byte) error) error {
	dec := &d.dec
	span := func(v jsontext.Value, err error) ([]byte, error) { // the value just read, in in
		end := int(dec.InputOffset())
		return in[end-len(v) : end : end], err
	}
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		if err == nil || err == io.EOF {
			err = &jsontext.SyntacticError{Err: errors.New("not a JSON object")}
		}
		return err
	}
	for dec.PeekKind() != '}' {
		name, err := span(dec.ReadValue())
		if err != nil {
			return err
		}
		v, err := span(dec.ReadValue())
		if err != nil {
			return err
		}
		if _, escaped := stringEnd(name, 0); escaped {
			name, _ = jsontext.AppendUnquote(nil, name)
		} else {
			name = name[1 : len(name)-1]
		}
		if err := member(name, v); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return cmp.Or(err, error(&jsontext.SyntacticError{ByteOffset: dec.InputOffset() - 1, Err: errors.New("data after the JSON value")}))
	}
	return nil
}

// Fields walks obj, an object the library has checked (a value Object handed
// out), handing each member's name and value to field.
func Fields(obj []byte, field func(name, value []byte) error) error {
	i := space(obj, 0) + 1 // '{'
	for {
		switch i = space(obj, i); obj[i] {
		case '}':
			return nil
		case ',':
			i = space(obj, i+1)
		}
		end, escaped := stringEnd(obj, i)
		name := obj[i+1 : end-1]
		if escaped {
			name, _ = jsontext.AppendUnquote(nil, obj[i:end])
		}
		start := space(obj, space(obj, end)+1) // after ':'
		i = valueEnd(obj, start)
		if err := field(name, obj[start:i:i]); err != nil {
			return err
		}
	}
}

func space(b []byte, i int) int {
	for b[i] <= ' ' {
		i++
	}
	return i
}

// valueEnd returns the index after the value that starts at i.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		i, _ = stringEnd(b, i)
		return i
	case '{', '[':
		for depth := 0; ; i++ {
			for !structural[b[i]] {
				i++
			}
			switch b[i] {
			case '"':
				i, _ = stringEnd(b, i)
				i--
			case '{', '[':
				depth++
			default: // '}', ']'
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && !endsScalar[b[i]] { // a number or a literal
		i++
	}
	return i
}

var (
	structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}
	endsScalar = [256]bool{',': true, '}': true, ']': true, ' ': true, '\t': true, '\n': true, '\r': true}
	stringStop = [256]bool{'"': true, '\\': true}
)

// stringEnd returns the index after the string that starts at i, and
// whether it holds escapes.
func stringEnd(b []byte, i int) (int, bool) {
	escaped := false
	for i++; ; i++ {
		for !stringStop[b[i]] {
			i++
		}
		if b[i] == '"' {
			return i + 1, escaped
		}
		i, escaped = i+1, true // a backslash and the byte it escapes
	}
}

// String returns the string a checked value holds; "" for any other value.
// Each byte of invalid UTF-8 becomes U+FFFD, as with encoding/json, so the
// result is always printable and re-encodable.
func String(v []byte) string {
	if len(v) == 0 || v[0] != '"' {
		return ""
	}
	b := v[1 : len(v)-1]
	if bytes.IndexByte(b, '\\') >= 0 {
		b, _ = jsontext.AppendUnquote(nil, v)
	}
	if !utf8.Valid(b) {
		return string([]rune(string(b)))
	}
	return string(b)
}
