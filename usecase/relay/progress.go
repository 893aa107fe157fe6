package relay

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// Progress records. Once Kafka has acknowledged every change up to a
// transaction end, the relay can tell read nodes: every change of every
// transaction up to this GTID position is on the change topics below these
// offsets. A node that has consumed that far has applied those transactions,
// and can answer a read-your-writes read from its cache (see
// usecase/inventory/readafter.go) instead of going to the database.
//
// The records ride the heartbeats: after a batch that ended a transaction,
// at most one per ProgressEvery, and on every regular heartbeat.

// gtidPosition is, per GTID source, the last transaction streamed: the
// server's @@gtid_binlog_pos as far as the relay has read it. Transactions
// of a source commit in sequence order, so the last one covers the rest.
type gtidPosition map[domain.SourceID]gtidText

type gtidText struct {
	seq  uint64
	text string // as the server wrote it: the server id is kept
}

// add raises the position to the transaction s names; s that names none
// ("" without GTIDs, a GTID set) changes nothing.
func (p gtidPosition) add(s string) {
	g, ok := domain.ParseGTID(s)
	if !ok {
		return
	}
	if cur, seen := p[g.Source]; !seen || g.Seq > cur.seq {
		p[g.Source] = gtidText{seq: g.Seq, text: s}
	}
}

func (p gtidPosition) String() string {
	texts := make([]string, 0, len(p))
	for _, g := range p {
		texts = append(texts, g.text)
	}
	slices.Sort(texts)
	return strings.Join(texts, ",")
}

// progress is the relay's memory of what it has published; only the
// goroutine running Run uses it. It outlives sessions: what Kafka
// acknowledged stays acknowledged across reconnects.
type progress struct {
	gtids   gtidPosition
	offsets Offsets
	// seeded: offsets hold the end offsets of the change topics as some
	// time after the relay started (EndOffsets); until then no record is
	// sent, since a partition this relay has not written yet may hold
	// changes of earlier relays no offset would cover.
	seeded   bool
	seedTry  time.Time
	seedWarn bool
	// lastSent is when the last record went out; due: a transaction
	// ended since.
	lastSent time.Time
	due      bool
}

func newProgress() *progress {
	return &progress{gtids: gtidPosition{}, offsets: Offsets{}}
}

// acknowledged records a batch Kafka acknowledged: the offsets it reached,
// and the transactions that ended in it.
func (p *progress) acknowledged(offsets Offsets, ended []string) {
	p.offsets.merge(offsets)
	for _, g := range ended {
		p.gtids.add(g)
	}
	if len(ended) > 0 {
		p.due = true
	}
}

// seed merges the change topics' end offsets in, once: tried at most once
// per retry, so a broker that refuses does not cost a request per batch.
func (r *Relay) seed(ctx context.Context, now time.Time) bool {
	p := r.prog
	if p.seeded {
		return true
	}
	if !p.seedTry.IsZero() && now.Sub(p.seedTry) < r.cfg.HeartbeatEvery {
		return false
	}
	p.seedTry = now
	ends, err := r.pub.EndOffsets(ctx)
	if err != nil {
		if !p.seedWarn && ctx.Err() == nil {
			p.seedWarn = true
			r.log.Warn("relay: the change topics' end offsets cannot be read; heartbeats carry no position, and read-your-writes reads go to the database, until they can", "err", err)
		}
		return false
	}
	p.offsets.merge(ends)
	p.seeded = true
	return true
}

// record is the progress to send now, nil when there is none yet.
func (r *Relay) record(ctx context.Context, now time.Time) *Progress {
	if len(r.prog.gtids) == 0 || !r.seed(ctx, now) {
		return nil
	}
	return &Progress{GTID: r.prog.gtids.String(), Offsets: maps.Clone(r.prog.offsets)}
}

// progressWait is how long until a progress record may go out; 0: now,
// negative: none is due.
func (r *Relay) progressWait(now time.Time) time.Duration {
	if !r.prog.due || r.cfg.ProgressEvery <= 0 || r.cfg.HeartbeatEvery <= 0 {
		return -1
	}
	return max(r.prog.lastSent.Add(r.cfg.ProgressEvery).Sub(now), 0)
}
