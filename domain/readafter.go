package domain

import "strings"

// ReadSource says where an answer bounded by a read-after token came from.
type ReadSource uint8

// The sources of a bounded answer.
const (
	// FromCache: the cache could show at once that it reflects the token.
	FromCache ReadSource = iota + 1
	// FromCacheAfterWait: the cache, once the change feed had applied the
	// token's transactions.
	FromCacheAfterWait
	// FromDatabase: the database, once it had applied them.
	FromDatabase
)

func (r ReadSource) String() string {
	switch r {
	case FromCache:
		return "cache"
	case FromCacheAfterWait:
		return "waited"
	case FromDatabase:
		return "database"
	}
	return "unknown"
}

// ParseReadAfter reads a read-after token: the GTID a client's write
// committed at, or a GTID set (MariaDB "0-1-4711,1-2-9"; MySQL
// "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-23"). An empty token is no bound
// (nil). A token that does not parse is an invalid argument.
func ParseReadAfter(token string) (SourcePos, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, nil
	}
	if len(token) > 4096 {
		return nil, InvalidArgumentf("read-after GTID of %d bytes is too long (at most 4096)", len(token))
	}
	pos, err := ParseSourcePos(token)
	if err != nil || len(pos) == 0 {
		return nil, InvalidArgumentf("read-after GTID %q is not a GTID or GTID set (MariaDB 0-1-4711, MySQL uuid:1-23)", truncateToken(token))
	}
	return pos, nil
}

func truncateToken(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
