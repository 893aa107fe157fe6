package domain

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// GTID names one transaction of the database's replication stream, as its
// change events carry it (source.gtid): MariaDB's domain-server-sequence
// ("0-1-4711") or MySQL's source_uuid:transaction_id ("3e11fa47-...:23").
// Within one source (a MariaDB domain, a MySQL server UUID) sequences grow
// in commit order, which is what makes a fill and an event comparable.
type GTID struct {
	Source SourceID
	Seq    uint64
}

// SourceID is a MariaDB GTID domain or a MySQL server UUID.
type SourceID struct {
	Flavor byte     // 0: none; FlavorMariaDB or FlavorMySQL
	ID     [16]byte // the domain (big-endian, first 4 bytes) or the UUID
}

// The flavors of SourceID.
const (
	FlavorMariaDB byte = 'm'
	FlavorMySQL   byte = 'u'
)

// Known reports whether g names a transaction (events without a GTID, such
// as snapshot reads or a server without GTIDs, do not).
func (g GTID) Known() bool { return g.Source.Flavor != 0 }

// ParseGTID reads one GTID in either flavor; ok is false for anything else
// (including "").
func ParseGTID(s string) (g GTID, ok bool) {
	if uuid, seq, found := strings.Cut(s, ":"); found {
		id, ok1 := parseUUID(uuid)
		n, err := strconv.ParseUint(seq, 10, 64)
		if !ok1 || err != nil {
			return GTID{}, false
		}
		return GTID{Source: id, Seq: n}, true
	}
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return GTID{}, false
	}
	domain, err1 := strconv.ParseUint(parts[0], 10, 32)
	_, err2 := strconv.ParseUint(parts[1], 10, 32)
	seq, err3 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return GTID{}, false
	}
	return GTID{Source: mariadbDomain(uint32(domain)), Seq: seq}, true
}

func mariadbDomain(d uint32) SourceID {
	id := SourceID{Flavor: FlavorMariaDB}
	id.ID[0], id.ID[1], id.ID[2], id.ID[3] = byte(d>>24), byte(d>>16), byte(d>>8), byte(d)
	return id
}

func parseUUID(s string) (SourceID, bool) {
	h := strings.ReplaceAll(strings.TrimSpace(s), "-", "")
	if len(h) != 32 {
		return SourceID{}, false
	}
	id := SourceID{Flavor: FlavorMySQL}
	if _, err := hex.Decode(id.ID[:], []byte(strings.ToLower(h))); err != nil {
		return SourceID{}, false
	}
	return id, true
}

// SourcePos is how much of the replication stream a database had applied
// when it was read: per source, the highest sequence. A fill that read the
// database at p reflects every transaction p covers, or a later state.
type SourcePos []GTID

// Covers reports whether a database at p had applied transaction g. An
// unknown g, or a source p does not name, is not covered.
func (p SourcePos) Covers(g GTID) bool {
	if !g.Known() {
		return false
	}
	for _, q := range p {
		if q.Source == g.Source {
			return g.Seq <= q.Seq
		}
	}
	return false
}

// ParseSourcePos reads a server's position: MariaDB's @@gtid_current_pos
// ("0-1-100,1-2-7") or MySQL's @@global.gtid_executed
// ("uuid:1-5:11-18,\nuuid2:1-27"; per UUID the highest transaction counts:
// a primary's transactions commit in order). "" is the empty position.
func ParseSourcePos(s string) (SourcePos, error) {
	var p SourcePos
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var g GTID
		if uuid, ranges, ok := strings.Cut(part, ":"); ok {
			id, ok := parseUUID(uuid)
			if !ok {
				return nil, fmt.Errorf("gtid set %q: bad server uuid %q", s, uuid)
			}
			g.Source = id
			for _, r := range strings.Split(ranges, ":") {
				_, hi, _ := strings.Cut(r, "-")
				if hi == "" {
					hi = r
				}
				n, err := strconv.ParseUint(hi, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("gtid set %q: bad interval %q", s, r)
				}
				g.Seq = max(g.Seq, n)
			}
		} else {
			var ok bool
			if g, ok = ParseGTID(part); !ok {
				return nil, fmt.Errorf("gtid position %q: bad gtid %q", s, part)
			}
		}
		p = append(p, g)
	}
	return p, nil
}

// String writes g as its source writes it: MariaDB's domain-server-sequence
// (the server id is not kept: 0 stands for it) or MySQL's uuid:sequence.
func (g GTID) String() string {
	switch g.Source.Flavor {
	case FlavorMariaDB:
		d := uint32(g.Source.ID[0])<<24 | uint32(g.Source.ID[1])<<16 | uint32(g.Source.ID[2])<<8 | uint32(g.Source.ID[3])
		return strconv.FormatUint(uint64(d), 10) + "-0-" + strconv.FormatUint(g.Seq, 10)
	case FlavorMySQL:
		h := hex.EncodeToString(g.Source.ID[:])
		return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:] + ":" + strconv.FormatUint(g.Seq, 10)
	}
	return "(none)"
}

// String writes p as a comma-separated list of its GTIDs.
func (p SourcePos) String() string {
	if len(p) == 0 {
		return "(empty)"
	}
	parts := make([]string, len(p))
	for i, g := range p {
		parts[i] = g.String()
	}
	return strings.Join(parts, ",")
}
