package debezium

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// maxNesting bounds how deep skipValue recurses. A Debezium event nests a
// handful of levels; anything deeper is not one, and the bound keeps hostile
// input from growing the stack without limit.
const maxNesting = 256

// scanner walks one JSON document in place. The decoders pull the few members
// they need and skip the rest, so the change-feed hot path builds no maps and,
// for stock rows, allocates nothing. Everything it skips is still validated:
// a document it accepts is one encoding/json accepts too.
type scanner struct {
	buf []byte
	pos int
}

// jsonError is a syntax error at a byte offset of the scanned document.
type jsonError struct {
	offset int
	what   string
}

func (e *jsonError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.offset, e.what)
}

func (s *scanner) fail(what string) error {
	return &jsonError{offset: s.pos, what: what}
}

// stringStop marks the bytes that end the fast path through a string: the
// closing quote, an escape, or a control character JSON forbids unescaped.
var stringStop = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'] = true
	t['\\'] = true
	return t
}()

func (s *scanner) skipSpace() {
	// Every JSON space byte is <= ' ', so compact input (what the converter
	// writes) leaves after one comparison.
	for s.pos < len(s.buf) && s.buf[s.pos] <= ' ' {
		switch s.buf[s.pos] {
		case ' ', '\n', '\r', '\t':
			s.pos++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte without consuming it, or
// 0 at the end of the input.
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.pos >= len(s.buf) {
		return 0
	}
	return s.buf[s.pos]
}

func (s *scanner) atEnd() bool {
	s.skipSpace()
	return s.pos >= len(s.buf)
}

// unexpected describes the byte at the current position for an error.
func (s *scanner) unexpected() error {
	if s.pos >= len(s.buf) {
		return s.fail("unexpected end of input")
	}
	c := s.buf[s.pos]
	if c < 0x20 || c >= 0x7f {
		return s.fail(fmt.Sprintf("unexpected byte 0x%02x", c))
	}
	return s.fail(fmt.Sprintf("unexpected character %q", rune(c)))
}

// openObject consumes the '{' that starts an object.
func (s *scanner) openObject() error {
	if s.peek() != '{' {
		return s.unexpected()
	}
	s.pos++
	return nil
}

// nextKey advances to the next member of the object opened last and returns
// its key, positioned before the value. ok is false once the closing brace has
// been consumed. *first must be true before the first call for each object.
// The key aliases the input unless it held escapes.
func (s *scanner) nextKey(first *bool) (key []byte, ok bool, err error) {
	c := s.peek()
	if c == '}' {
		s.pos++
		return nil, false, nil
	}
	if !*first {
		if c != ',' {
			return nil, false, s.unexpected()
		}
		s.pos++
		c = s.peek()
	}
	*first = false
	if c != '"' {
		return nil, false, s.unexpected()
	}
	if key, err = s.readString(); err != nil {
		return nil, false, err
	}
	if s.peek() != ':' {
		return nil, false, s.unexpected()
	}
	s.pos++
	return key, true, nil
}

// readString reads the string starting at the current quote and returns its
// unescaped bytes; without escapes they alias the input (capacity-capped so
// an append cannot write into the document).
func (s *scanner) readString() ([]byte, error) {
	buf := s.buf // a local copy lets the compiler keep it in registers
	start := s.pos + 1
	for i := plainRun(buf, start); i < len(buf); i++ {
		c := buf[i]
		if !stringStop[c] {
			continue
		}
		switch {
		case c == '"':
			s.pos = i + 1
			return buf[start:i:i], nil
		case c == '\\':
			return s.readEscapedString(start, i)
		default:
			s.pos = i
			return nil, s.fail("control character in string")
		}
	}
	s.pos = len(buf)
	return nil, s.fail("unterminated string")
}

// readEscapedString finishes a string whose first escape is at i, copying it
// into a new buffer while resolving the escapes.
func (s *scanner) readEscapedString(start, i int) ([]byte, error) {
	out := make([]byte, i-start, i-start+16)
	copy(out, s.buf[start:i])
	for i < len(s.buf) {
		c := s.buf[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return out, nil
		case c < 0x20:
			s.pos = i
			return nil, s.fail("control character in string")
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(s.buf) {
			break
		}
		switch e := s.buf[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
			i += 2
		case 'b':
			out = append(out, '\b')
			i += 2
		case 'f':
			out = append(out, '\f')
			i += 2
		case 'n':
			out = append(out, '\n')
			i += 2
		case 'r':
			out = append(out, '\r')
			i += 2
		case 't':
			out = append(out, '\t')
			i += 2
		case 'u':
			r, ok := hex4(s.buf, i+2)
			if !ok {
				s.pos = i
				return nil, s.fail("invalid \\u escape")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// A surrogate only means something as the first half of a
				// pair; alone it becomes U+FFFD, as encoding/json does.
				paired := utf8.RuneError
				if i+1 < len(s.buf) && s.buf[i] == '\\' && s.buf[i+1] == 'u' {
					if r2, ok := hex4(s.buf, i+2); ok {
						if p := utf16.DecodeRune(r, r2); p != utf8.RuneError {
							paired = p
							i += 6
						}
					}
				}
				r = paired
			}
			out = utf8.AppendRune(out, r)
		default:
			s.pos = i
			return nil, s.fail("invalid escape")
		}
	}
	s.pos = len(s.buf)
	return nil, s.fail("unterminated string")
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// plainRun returns the index of the first byte at or after i that ends the
// plain part of a string (quote, backslash, control character), or a point
// close to the end of buf from where a byte loop must go on. It tests eight
// bytes at a time: strings are most of what a wrapped event's schema is made of.
func plainRun(buf []byte, i int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for ; i+8 <= len(buf); i += 8 {
		x := binary.LittleEndian.Uint64(buf[i:])
		quote := x ^ (ones * '"')
		backslash := x ^ (ones * '\\')
		// A byte is flagged when it is below 0x20, or zero after the XOR
		// (it was the quote or the backslash). Bytes >= 0x80 flag nothing
		// of their own, thanks to the &^ x.
		stop := ((x - ones*0x20) | (quote - ones) | (backslash - ones)) &^ x & highs
		if stop != 0 {
			return i + bits.TrailingZeros64(stop)/8
		}
	}
	return i
}

// skipString validates the string at the current quote without copying it.
func (s *scanner) skipString() error {
	buf := s.buf
	i := plainRun(buf, s.pos+1)
	for i < len(buf) {
		c := buf[i]
		if !stringStop[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			s.pos = i + 1
			return nil
		case c == '\\':
			if i+1 >= len(buf) {
				s.pos = len(buf)
				return s.fail("unterminated string")
			}
			switch buf[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(buf, i+2); !ok {
					s.pos = i
					return s.fail("invalid \\u escape")
				}
				i += 6
			default:
				s.pos = i
				return s.fail("invalid escape")
			}
		default:
			s.pos = i
			return s.fail("control character in string")
		}
	}
	s.pos = len(buf)
	return s.fail("unterminated string")
}

// skipValue validates and steps over the next value of any type. depth is
// how deep the value already sits; nesting is bounded by maxNesting.
func (s *scanner) skipValue(depth int) error {
	switch c := s.peek(); c {
	case '"':
		return s.skipString()
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		_, _, err := s.readNumber()
		return err
	}
	return s.skipComposite(depth)
}

// skipComposite is skipValue for objects and arrays (and, on the way, any
// value). Skipping is the bulk of the work for a wrapped event, whose schema
// is most of its bytes, so it runs as one loop with an explicit stack instead
// of recursing per value.
func (s *scanner) skipComposite(depth int) error {
	buf := s.buf
	i := s.pos
	// Bit n of inObject is set when nesting level n+1 is an object, clear
	// when it is an array.
	var inObject [maxNesting / 64]uint64
	level := 0
	limit := maxNesting - depth
	for {
		// A value starts at i (after white space).
		i = skipSpaceAt(buf, i)
		if i >= len(buf) {
			s.pos = i
			return s.unexpected()
		}
		switch c := buf[i]; c {
		case '"':
			end, err := s.stringEnd(i)
			if err != nil {
				return err
			}
			i = end
		case '{', '[':
			if level >= limit {
				s.pos = i
				return s.fail("nested too deeply")
			}
			word, bit := level/64, uint64(1)<<(level%64)
			level++
			i = skipSpaceAt(buf, i+1)
			if c == '[' {
				inObject[word] &^= bit
				if i < len(buf) && buf[i] == ']' {
					i++
					level--
					break
				}
				continue // the first element
			}
			inObject[word] |= bit
			if i < len(buf) && buf[i] == '}' {
				i++
				level--
				break
			}
			end, err := s.memberKey(i)
			if err != nil {
				return err
			}
			i = end
			continue // the first member's value
		case 't', 'f', 'n':
			word := "null"
			if c == 't' {
				word = "true"
			} else if c == 'f' {
				word = "false"
			}
			if len(buf)-i < len(word) || string(buf[i:i+len(word)]) != word {
				s.pos = i
				return s.unexpected()
			}
			i += len(word)
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			s.pos = i
			if _, _, err := s.readNumber(); err != nil {
				return err
			}
			i = s.pos
		default:
			s.pos = i
			return s.unexpected()
		}

		// A value ended at i: close containers until one continues.
		for {
			if level == 0 {
				s.pos = i
				return nil
			}
			i = skipSpaceAt(buf, i)
			if i >= len(buf) {
				s.pos = i
				return s.unexpected()
			}
			obj := inObject[(level-1)/64]&(uint64(1)<<((level-1)%64)) != 0
			c := buf[i]
			if c == ',' {
				i++
				if obj {
					end, err := s.memberKey(skipSpaceAt(buf, i))
					if err != nil {
						return err
					}
					i = end
				}
				break
			}
			if obj && c == '}' || !obj && c == ']' {
				i++
				level--
				continue
			}
			s.pos = i
			return s.unexpected()
		}
	}
}

// skipSpaceAt returns the index of the first non-space byte at or after i.
func skipSpaceAt(buf []byte, i int) int {
	for i < len(buf) && buf[i] <= ' ' && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t') {
		i++
	}
	return i
}

// memberKey steps over `"key" :` starting at i and returns the index after
// the colon.
func (s *scanner) memberKey(i int) (int, error) {
	if i >= len(s.buf) || s.buf[i] != '"' {
		s.pos = i
		return 0, s.unexpected()
	}
	end, err := s.stringEnd(i)
	if err != nil {
		return 0, err
	}
	i = skipSpaceAt(s.buf, end)
	if i >= len(s.buf) || s.buf[i] != ':' {
		s.pos = i
		return 0, s.unexpected()
	}
	return i + 1, nil
}

// stringEnd validates the string whose quote is at i and returns the index
// after its closing quote.
func (s *scanner) stringEnd(i int) (int, error) {
	s.pos = i
	if err := s.skipString(); err != nil {
		return 0, err
	}
	return s.pos, nil
}

func (s *scanner) literal(word string) error {
	if !bytes.HasPrefix(s.buf[s.pos:], []byte(word)) {
		return s.unexpected()
	}
	s.pos += len(word)
	return nil
}

// rawValue steps over the next value and returns its bytes.
func (s *scanner) rawValue() ([]byte, error) {
	s.skipSpace()
	start := s.pos
	if err := s.skipValue(0); err != nil {
		return nil, err
	}
	return s.buf[start:s.pos:s.pos], nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// readNumber reads a number token as JSON's grammar defines it. isInt is
// false when it has a fraction or an exponent: such a token never names an
// integer column, even when its value is whole (1e3, 2.0).
func (s *scanner) readNumber() (tok []byte, isInt bool, err error) {
	b := s.buf
	start := s.pos
	i := start
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && b[i]-'0' <= 9; i++ {
		}
	default:
		s.pos = i
		return nil, false, s.fail("invalid number")
	}
	isInt = true
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			s.pos = i
			return nil, false, s.fail("invalid number")
		}
		for ; i < len(b) && isDigit(b[i]); i++ {
		}
		isInt = false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			s.pos = i
			return nil, false, s.fail("invalid number")
		}
		for ; i < len(b) && isDigit(b[i]); i++ {
		}
		isInt = false
	}
	s.pos = i
	return b[start:i], isInt, nil
}

// readInt reads an integer token in one pass, returning its magnitude and
// sign. A fraction or an exponent makes it probNotInteger even when the value
// is whole (1e3, 2.0): JSON writers never produce one for an integer column,
// so it means the producer is not what we think. A magnitude beyond uint64 is
// probRange.
func (s *scanner) readInt() (mag uint64, neg bool, err error) {
	b := s.buf
	i := s.pos
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	start := i
	if i < len(b) && b[i] == '0' {
		i++
	} else {
		for ; i < len(b) && b[i]-'0' <= 9; i++ {
		}
	}
	if i == start {
		s.pos = i
		return 0, false, s.fail("invalid number")
	}
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
		s.pos = i
		return 0, false, probNotInteger
	}
	s.pos = i
	mag, ok := parseDigits(b[start:i])
	if !ok {
		return 0, neg, probRange
	}
	return mag, neg, nil
}

// parseDigits parses a run of decimal digits into a uint64.
func parseDigits(digits []byte) (uint64, bool) {
	// 19 digits always fit; only a 20th needs the overflow check.
	const safe = 19
	if len(digits) > safe+1 {
		return 0, false
	}
	var v uint64
	for _, c := range digits[:min(len(digits), safe)] {
		v = v*10 + uint64(c-'0')
	}
	if len(digits) == safe+1 {
		d := uint64(digits[safe] - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// signedInt turns a magnitude and sign into an int64.
func signedInt(mag uint64, neg bool) (int64, bool) {
	if neg {
		if mag > 1<<63 {
			return 0, false
		}
		// For mag == 1<<63 both the conversion and the negation wrap, which
		// lands exactly on math.MinInt64.
		return -int64(mag), true
	}
	if mag > math.MaxInt64 {
		return 0, false
	}
	return int64(mag), true
}

// unsignedBits reads a BIGINT UNSIGNED value. Debezium's default
// bigint.unsigned.handling.mode=long writes such a column as a signed long,
// so values above 2^63-1 arrive negative: their bits are the unsigned value.
// A producer that writes the unsigned decimal (up to 2^64-1) is accepted too.
func unsignedBits(mag uint64, neg bool) (uint64, bool) {
	if neg {
		v, ok := signedInt(mag, true)
		return uint64(v), ok
	}
	return mag, true
}
