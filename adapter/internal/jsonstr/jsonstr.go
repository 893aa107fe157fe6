// Package jsonstr quotes strings for the project's hand-written JSON
// encoders (the HTTP responses and the Debezium events), so both follow one
// set of rules: '"' and '\\' escaped, control characters as \b \f \n \r \t
// or \u00XX, and each byte of invalid UTF-8 as \ufffd, so a value from the
// database can never break the document around it.
package jsonstr

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// plain marks the ASCII bytes written unchanged; htmlPlain also escapes the
// HTML characters, as encoding/json does by default.
var plain, htmlPlain = func() (p, h [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		p[b], h[b] = true, true
	}
	for _, b := range `"\` {
		p[b], h[b] = false, false
	}
	for _, b := range `<>&` {
		h[b] = false
	}
	return p, h
}()

// Append appends s as a quoted JSON string with no more escaping than JSON
// needs, as Debezium's JSON writer (Jackson) quotes.
func Append(dst []byte, s string) []byte { return appendString(dst, s, &plain, false) }

// AppendHTMLSafe appends s as encoding/json's Marshal quotes it: the HTML
// characters <, > and & and the line separators U+2028 and U+2029 escaped
// too, so the text is safe inside HTML and JavaScript.
func AppendHTMLSafe(dst []byte, s string) []byte { return appendString(dst, s, &htmlPlain, true) }

func appendString(dst []byte, s string, keep *[utf8.RuneSelf]bool, escapeLineSeparators bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if keep[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case escapeLineSeparators && (r == '\u2028' || r == '\u2029'):
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
