package debezium

import (
	"bytes"
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
// two allocations per event. What the fast way reads is plain ASCII, which
// is what the slow way would read too; what it refuses (escapes, Unicode
// white space around a UUID, no GTID at all) goes the slow way.
func parseGTID(raw []byte) domain.GTID {
	if len(raw) < 2 || raw[0] != '"' {
		return domain.GTID{}
	}
	if g, ok := fastGTID(raw[1 : len(raw)-1]); ok {
		return g
	}
	g, _ := domain.ParseGTID(jsonwalk.String(raw))
	return g
}

func fastGTID(s []byte) (domain.GTID, bool) {
	if i := bytes.IndexByte(s, ':'); i >= 0 {
		return mysqlGTID(s[:i], s[i+1:])
	}
	return mariadbGTID(s)
}

// mysqlGTID reads source_uuid:transaction_id; dashes anywhere in the UUID
// and ASCII white space around it are allowed, as domain.ParseGTID allows
// them.
func mysqlGTID(uuid, seq []byte) (domain.GTID, bool) {
	n, ok := decimal(seq, math.MaxUint64)
	g := domain.GTID{Source: domain.SourceID{Flavor: domain.FlavorMySQL}, Seq: n}
	digits := 0
	for _, c := range trimASCIISpace(uuid) {
		switch h := hexValue[c]; {
		case h < 16 && digits < 32:
			g.Source.ID[digits>>1&15] |= h << ((^digits & 1) << 2) // the high nibble first
			digits++
		case h != hexDash:
			return domain.GTID{}, false
		}
	}
	return g, ok && digits == 32
}

// hexValue is the value of each byte as a hex digit, or hexDash or notHex.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = notHex
	}
	for i := range 10 {
		t['0'+i] = byte(i)
	}
	for i := range 6 {
		t['a'+i], t['A'+i] = byte(10+i), byte(10+i)
	}
	t['-'] = hexDash
	return t
}()

const (
	hexDash byte = 0xfe
	notHex  byte = 0xff
)

// mariadbGTID reads domain-server-sequence.
func mariadbGTID(s []byte) (domain.GTID, bool) {
	i := bytes.IndexByte(s, '-')
	j := i + 1 + bytes.IndexByte(s[i+1:], '-')
	if i < 0 || j <= i {
		return domain.GTID{}, false
	}
	dom, ok1 := decimal(s[:i], math.MaxUint32)
	_, ok2 := decimal(s[i+1:j], math.MaxUint32)
	seq, ok3 := decimal(s[j+1:], math.MaxUint64) // a third dash is no digit
	g := domain.GTID{Source: domain.SourceID{Flavor: domain.FlavorMariaDB}, Seq: seq}
	g.Source.ID[0], g.Source.ID[1], g.Source.ID[2], g.Source.ID[3] = byte(dom>>24), byte(dom>>16), byte(dom>>8), byte(dom)
	return g, ok1 && ok2 && ok3
}

// decimal reads digits only, at most limit, as strconv.ParseUint in base 10.
func decimal(b []byte, limit uint64) (n uint64, ok bool) {
	for _, c := range b {
		d := uint64(c - '0')
		if d > 9 || n > limit/10 || n == limit/10 && d > limit%10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, len(b) > 0
}

// trimASCIISpace is strings.TrimSpace for ASCII.
func trimASCIISpace(b []byte) []byte {
	for len(b) > 0 && asciiSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && asciiSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func asciiSpace(c byte) bool { return c == ' ' || c >= '\t' && c <= '\r' }
