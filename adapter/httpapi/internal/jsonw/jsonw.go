// Package jsonw appends JSON fragments to byte slices by hand, so the hot
// response paths cost one pooled buffer instead of reflection and boxing.
package jsonw

import (
	"strconv"

	"github.com/gintoki/gintoki/adapter/internal/jsonstr"
)

// AppendString appends s as a quoted JSON string, byte for byte as
// encoding/json writes it (HTML characters and U+2028/U+2029 escaped,
// invalid UTF-8 as U+FFFD), so a body is what the reflective encoder would
// have produced and is safe to embed in HTML.
func AppendString(dst []byte, s string) []byte { return jsonstr.AppendHTMLSafe(dst, s) }

// AppendInt appends n as a JSON number.
func AppendInt(dst []byte, n int64) []byte {
	return strconv.AppendInt(dst, n, 10)
}
