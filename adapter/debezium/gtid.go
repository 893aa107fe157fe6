package debezium

import (
	"math"

	"github.com/gintoki/gintoki/adapter/internal/jsonwalk"
	"github.com/gintoki/gintoki/domain"
)

// position is the change's place in binlog order: its transaction
// (source.gtid) and its place in the transaction, which means nothing
// without one (snapshot reads, servers without GTIDs): Sub is then 0.
func (s *source) position() (g domain.GTID, sub uint64) {
	if g = parseGTID(s.gtid); g.Known() {
		sub = domain.SubOf(uint64(s.pos.n), s.row.n)
	}
	return g, sub
}

// parseGTID is domain.ParseGTID of a raw JSON string member, read in place:
// every row event carries a GTID, and making a string of it to parse costs
// two allocations per event. Strings with escapes or bytes beyond ASCII,
// which no server writes, go the slow way.
func parseGTID(raw []byte) domain.GTID {
	if len(raw) < 2 || raw[0] != '"' {
		return domain.GTID{}
	}
	s := raw[1 : len(raw)-1]
	for _, c := range s {
		if c == '\\' || c >= 0x80 {
			g, _ := domain.ParseGTID(jsonwalk.String(raw))
			return g
		}
	}
	for i, c := range s {
		if c == ':' {
			return mysqlGTID(s[:i], s[i+1:])
		}
	}
	return mariadbGTID(s)
}

// mysqlGTID reads source_uuid:transaction_id; dashes anywhere in the UUID
// and white space around it are allowed, as domain.ParseGTID allows them.
func mysqlGTID(uuid, seq []byte) domain.GTID {
	n, ok := decimal(seq, math.MaxUint64)
	if !ok {
		return domain.GTID{}
	}
	g := domain.GTID{Source: domain.SourceID{Flavor: domain.FlavorMySQL}, Seq: n}
	digits := 0
	for _, c := range trimASCIISpace(uuid) {
		if c == '-' {
			continue
		}
		h, ok := hexDigit(c)
		if !ok || digits == 32 {
			return domain.GTID{}
		}
		g.Source.ID[digits/2] |= h << (4 * (1 - digits%2))
		digits++
	}
	if digits != 32 {
		return domain.GTID{}
	}
	return g
}

// mariadbGTID reads domain-server-sequence.
func mariadbGTID(s []byte) domain.GTID {
	var parts [3][]byte
	n := 0
	for i, start := 0, 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '-' {
			continue
		}
		if n == len(parts) {
			return domain.GTID{}
		}
		parts[n], n, start = s[start:i], n+1, i+1
	}
	dom, ok1 := decimal(parts[0], math.MaxUint32)
	_, ok2 := decimal(parts[1], math.MaxUint32)
	seq, ok3 := decimal(parts[2], math.MaxUint64)
	if n != len(parts) || !ok1 || !ok2 || !ok3 {
		return domain.GTID{}
	}
	g := domain.GTID{Source: domain.SourceID{Flavor: domain.FlavorMariaDB}, Seq: seq}
	g.Source.ID[0], g.Source.ID[1], g.Source.ID[2], g.Source.ID[3] = byte(dom>>24), byte(dom>>16), byte(dom>>8), byte(dom)
	return g
}

// decimal reads digits only, at most limit, as strconv.ParseUint in base 10.
func decimal(b []byte, limit uint64) (uint64, bool) {
	var n uint64
	for _, c := range b {
		d := uint64(c - '0')
		if d > 9 || n > (limit-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, len(b) > 0
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// trimASCIISpace is strings.TrimSpace for ASCII.
func trimASCIISpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c >= '\t' && c <= '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
