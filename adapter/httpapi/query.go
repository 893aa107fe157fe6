package httpapi

import (
	"strings"

	"github.com/gin-gonic/gin"
)

// queryValue returns the first value of key in the query string, as
// c.GetQuery would. c.GetQuery parses the whole query into a map on every
// request; a plain query (no escapes, no '+', no ';') is scanned in place
// instead, and anything else takes c.GetQuery so the semantics stay
// net/url's.
func queryValue(c *gin.Context, key string) (string, bool) {
	raw := c.Request.URL.RawQuery
	if strings.ContainsAny(raw, "%+;") {
		return c.GetQuery(key)
	}
	return scanQuery(raw, key)
}

// scanQuery finds key in a query string that needs no unescaping.
func scanQuery(raw, key string) (string, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k == key {
			return v, true
		}
	}
	return "", false
}
