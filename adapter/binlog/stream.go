package binlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"vitess.io/vitess/go/mysql"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/relay"
)

// Stream implements relay.Source: a binlog dump from from, decoded until
// ctx ends or the connection fails.
func (s *Source) Stream(ctx context.Context, from relay.Position, emit func(relay.Item) error) error {
	if from.IsZero() {
		return relay.Permanent(relay.StopOther, errors.New("stream: no binlog position to start from"))
	}
	meta, endMeta, err := s.session(ctx)
	if err != nil {
		return err
	}
	defer endMeta()
	dump, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer dump.Close()

	// The watchdog closes the dump connection when neither an event nor
	// a heartbeat arrived for three heartbeat periods: a server that
	// vanished without closing the socket would otherwise block the read
	// forever.
	var lastRead atomic.Int64
	lastRead.Store(time.Now().UnixNano())
	var silent atomic.Bool
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		limit := 3 * s.cfg.Heartbeat
		t := time.NewTicker(s.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-watchCtx.Done():
				dump.Close()
				return
			case <-t.C:
				if time.Since(time.Unix(0, lastRead.Load())) > limit {
					silent.Store(true)
					dump.Close()
					return
				}
			}
		}
	}()

	if err := startDump(dump, s.cfg.ServerID, from, s.cfg.Heartbeat); err != nil {
		return s.dumpError(err, from)
	}
	s.noteRowMetadata(meta, false)
	st := &streamState{src: s, meta: meta, file: from.File, gtid: from.GTID, maps: map[uint64]*mappedTable{},
		shapes: map[string]*tableInfo{}, schemas: map[string][]columnSpec{}, byMap: map[string]*tableInfo{}}
	for {
		ev, err := dump.ReadBinlogEvent()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case silent.Load():
				return fmt.Errorf("binlog stream from %s: nothing received for %s (not even a heartbeat); reconnecting", s.address(), 3*s.cfg.Heartbeat)
			}
			return s.dumpError(err, relay.Position{File: st.file, Pos: st.pos})
		}
		lastRead.Store(time.Now().UnixNano())
		if err := st.handle(ctx, ev, emit); err != nil {
			return err
		}
	}
}

// mappedTable is what a table-map event announced: the shape of a captured
// table, or nil for a table the relay ignores.
type mappedTable struct {
	info *tableInfo
	tm   *mysql.TableMap
}

// streamState is the decoder's memory between events.
type streamState struct {
	src    *Source
	meta   *mysql.Conn // reads table shapes
	format mysql.BinlogFormat
	file   string
	pos    uint64 // end of the last event read
	gtid   string
	thread int64
	inTx   bool
	// announced tells ItemStreaming was emitted.
	announced bool
	maps      map[uint64]*mappedTable
	// shapes are the captured tables as information_schema showed them
	// since the last DDL statement, schemas their columns.
	shapes  map[string]*tableInfo
	schemas map[string][]columnSpec
	// byMap holds the shapes table-map events described with their own
	// metadata, keyed by the event from its flags on: a *relay.Table per
	// shape, however often it is mapped.
	byMap map[string]*tableInfo
	// warnedPartial and warnedMetadata remember tables already logged for
	// partial images and for metadata the relay could not use.
	warnedPartial  map[string]bool
	warnedMetadata map[string]bool
}

// maxMapShapes bounds byMap: shapes only change with DDL, so a full map
// means many ALTERs, and starting over costs one parse per table.
const maxMapShapes = 256

func (st *streamState) handle(ctx context.Context, ev mysql.BinlogEvent, emit func(relay.Item) error) error {
	if !ev.IsValid() {
		return fmt.Errorf("binlog stream: invalid event after %s:%d", st.file, st.pos)
	}
	if ev.IsFormatDescription() {
		f, err := ev.Format()
		if err != nil {
			return fmt.Errorf("binlog stream: format description: %w", err)
		}
		st.format = f
		if !st.announced {
			st.announced = true
			return emit(relay.Item{Kind: relay.ItemStreaming})
		}
		return nil
	}
	if st.format.IsZero() {
		// The fake rotate the server sends first: the file is known.
		return nil
	}
	size := uint64(len(ev.Bytes()))
	if ev.IsRotate() {
		// Read before the checksum is stripped: the rotate is parsed here,
		// from the raw event (see rotate).
		return st.rotate(ev, emit, time.Unix(int64(ev.Timestamp()), 0))
	}
	ev, _, err := ev.StripChecksum(st.format)
	if err != nil {
		return fmt.Errorf("binlog stream: %w", err)
	}
	next := ev.NextPosition()
	start := uint64(0)
	if next >= size {
		start = next - size
	}
	at := time.Unix(int64(ev.Timestamp()), 0)
	switch {
	case ev.IsHeartbeat():
		// The server had nothing newer to send: everything before now
		// has been read, which is what keeps the relay's lag near zero
		// on an idle database. Its own timestamp is 0, hence our clock.
		return emit(relay.Item{Kind: relay.ItemHeartbeat, Time: st.src.cfg.Now()})
	}
	if next > 0 {
		st.pos = next
	}
	switch {
	case ev.IsGTID():
		g, begin, _, _, err := ev.GTID(st.format)
		if err != nil {
			return fmt.Errorf("binlog stream: gtid event at %s:%d: %w", st.file, start, err)
		}
		st.gtid, st.thread = g.String(), 0
		if begin {
			st.inTx = true
		}
	case ev.IsQuery():
		q, err := ev.Query(st.format)
		if err != nil {
			return fmt.Errorf("binlog stream: query event at %s:%d: %w", st.file, start, err)
		}
		sql := strings.TrimSpace(q.SQL)
		switch {
		case strings.EqualFold(sql, "BEGIN"):
			st.inTx = true
			st.thread = queryThread(ev)
		case strings.EqualFold(sql, "COMMIT"), strings.EqualFold(sql, "ROLLBACK"):
			return st.commit(emit, at)
		case !st.inTx:
			// DDL, or a statement of a non-transactional engine: a
			// boundary; table shapes may have changed.
			clear(st.shapes)
			clear(st.schemas)
			return st.commit(emit, at)
		}
	case ev.IsXID():
		return st.commit(emit, at)
	case ev.IsTableMap():
		return st.tableMap(ev)
	case ev.IsWriteRows(), ev.IsUpdateRows(), ev.IsDeleteRows():
		return st.rows(ev, start, at, emit)
	case ev.IsPartialUpdateRows():
		return relay.Permanent(relay.StopUnsupported, errors.New("binlog stream: partial JSON updates (binlog_row_value_options=PARTIAL_JSON) are not supported; turn the option off"))
	case ev.IsTransactionPayload():
		return relay.Permanent(relay.StopUnsupported, errors.New("binlog stream: compressed transactions (binlog_transaction_compression=ON) are not supported; turn the option off"))
	}
	return nil
}

func (st *streamState) commit(emit func(relay.Item) error, at time.Time) error {
	st.inTx = false
	return emit(relay.Item{Kind: relay.ItemCommit, Resume: relay.Position{File: st.file, Pos: st.pos, GTID: st.gtid}, Time: at})
}

// queryThread reads the thread id from a query event's post-header.
func queryThread(ev mysql.BinlogEvent) int64 {
	const headerLen = 19
	b := ev.Bytes()
	if len(b) < headerLen+4 {
		return 0
	}
	return int64(binary.LittleEndian.Uint32(b[headerLen:]))
}

func (st *streamState) tableMap(ev mysql.BinlogEvent) error {
	id := ev.TableID(st.format)
	tm, err := ev.TableMap(st.format)
	if err != nil {
		return fmt.Errorf("binlog stream: table map at %s:%d: %w", st.file, st.pos, err)
	}
	if tm.Database != st.src.db || !st.src.tables[tm.Name] {
		st.maps[id] = &mappedTable{tm: tm}
		return nil
	}
	info, err := st.ownShape(ev, tm)
	if err == nil && info == nil {
		info, err = st.schemaShape(tm)
	}
	if err != nil {
		return err
	}
	st.maps[id] = &mappedTable{info: info, tm: tm}
	return nil
}

// ownShape returns the shape the table-map event describes itself
// (binlog_row_metadata=FULL), so rows written before an ALTER decode as the
// table was then; nil when the event names no columns, or its metadata is
// of no use.
func (st *streamState) ownShape(ev mysql.BinlogEvent, tm *mysql.TableMap) (*tableInfo, error) {
	if st.src.ignoreRowMetadata {
		return nil, nil
	}
	body := ev.Bytes()[st.format.HeaderLength:]
	idLen := tableIDLength(st.format)
	if len(body) < idLen {
		return nil, nil
	}
	if info := st.byMap[string(body[idLen:])]; info != nil {
		return info, nil
	}
	md, columns, err := readTableMapMetadata(body, idLen)
	if err == nil && columns != len(tm.Types) {
		err = fmt.Errorf("%d columns, vitess read %d", columns, len(tm.Types))
	}
	if err != nil {
		st.warnMetadata(tm, err)
		return nil, nil
	}
	if !md.hasNames() {
		return nil, nil
	}
	charsetOf, err := st.src.charsets(st.meta)
	if err != nil {
		return nil, err
	}
	info, err := mapShape(tm.Database, tm.Name, tm, md, charsetOf, strings.Contains(st.format.ServerVersion, "MariaDB"))
	if errors.Is(err, errMetadataUnusable) {
		st.warnMetadata(tm, err)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := st.checkSchema(info); err != nil {
		return nil, err
	}
	if len(st.byMap) >= maxMapShapes {
		clear(st.byMap)
	}
	st.byMap[string(body[idLen:])] = info
	return info, nil
}

// tableIDLength is the length of a table map's table id: 6 bytes, 4 on
// servers older than MySQL 5.1.4.
func tableIDLength(f mysql.BinlogFormat) int {
	const tableMapEvent = 19
	if len(f.HeaderSizes) >= tableMapEvent && f.HeaderSize(tableMapEvent) == 6 {
		return 4
	}
	return 6
}

// checkSchema applies what only information_schema knows, when the table
// now has the columns, by name and position, the event describes: MariaDB's
// UUID, INET4 and INET6 reach the binlog as BINARY(n), and the relay cannot
// write them as the snapshot reads them. A table of another shape now (it
// was altered since) says nothing about the event's columns.
func (st *streamState) checkSchema(info *tableInfo) error {
	specs := st.schemas[info.table.Name]
	if specs == nil {
		var err error
		specs, _, err = readColumns(st.meta, info.table.DB, info.table.Name)
		if relay.IsPermanent(err) {
			// Dropped or hidden since: the event says all there is.
			return nil
		}
		if err != nil {
			return err
		}
		st.schemas[info.table.Name] = specs
	}
	if len(specs) != len(info.table.Columns) {
		return nil
	}
	for i, sp := range specs {
		if sp.col.Name != info.table.Columns[i].Name {
			return nil
		}
	}
	_, err := newTableInfo(info.table.DB, info.table.Name, specs, nil)
	return err
}

// schemaShape decodes an event without usable metadata with the table's
// shape in information_schema, which is right unless the table was altered
// after the event was written.
func (st *streamState) schemaShape(tm *mysql.TableMap) (*tableInfo, error) {
	info := st.shapes[tm.Name]
	if info == nil || !info.matches(tm) {
		// First sight, or the table changed: read its shape again.
		var err error
		if info, err = loadTable(st.meta, tm.Database, tm.Name); err != nil {
			return nil, err
		}
		st.shapes[tm.Name] = info
	}
	if info.matches(tm) {
		return info, nil
	}
	// The events predate an ALTER. Columns added at the end leave the
	// older events readable with the leading columns.
	if shape := info.prefix(tm); shape != nil {
		return shape, nil
	}
	return nil, relay.Permanent(relay.StopTableChanged, fmt.Errorf("binlog stream: %s.%s at %s:%d has %d columns of other types (binlog types %v) than the table has now (it was altered since), "+
		"and the event does not say what they were (binlog_row_metadata was not FULL when it was written): the relay cannot decode these events; "+
		"take a new snapshot (a fresh --relay-checkpoint-topic, or --snapshot=when_needed once the binlog is purged), and set binlog_row_metadata=FULL on the server so an ALTER made while the relay is down no longer stops it",
		tm.Database, tm.Name, st.file, st.pos, len(tm.Types), tm.Types))
}

// warnMetadata logs, once per table and stream, that a table map's metadata
// could not be used and the table's current shape decodes its rows.
func (st *streamState) warnMetadata(tm *mysql.TableMap, err error) {
	name := tm.Database + "." + tm.Name
	if st.warnedMetadata[name] {
		return
	}
	if st.warnedMetadata == nil {
		st.warnedMetadata = map[string]bool{}
	}
	st.warnedMetadata[name] = true
	st.src.log.Warn("binlog table map metadata not usable; decoding with the table's current shape", "table", name, "at", st.file+":"+strconv.FormatUint(st.pos, 10), "err", err)
}

func (st *streamState) rows(ev mysql.BinlogEvent, start uint64, at time.Time, emit func(relay.Item) error) error {
	id := ev.TableID(st.format)
	mt := st.maps[id]
	if mt == nil {
		return fmt.Errorf("binlog stream: rows event at %s:%d for table id %d without a table map", st.file, start, id)
	}
	if mt.info == nil {
		return nil
	}
	rs, err := ev.Rows(st.format, mt.tm)
	if err != nil {
		return fmt.Errorf("binlog stream: rows event at %s:%d: %w", st.file, start, err)
	}
	op := domain.OpCreate
	switch {
	case ev.IsUpdateRows():
		op = domain.OpUpdate
	case ev.IsDeleteRows():
		op = domain.OpDelete
	}
	for i, r := range rs.Rows {
		c := &relay.Change{
			Table: mt.info.table, Op: op,
			At:         relay.Position{File: st.file, Pos: start, GTID: st.gtid},
			RowInEvent: i, ServerID: ev.ServerID(), Thread: st.thread, Time: at,
		}
		missing := 0
		if op != domain.OpCreate {
			var m int
			if c.Before, m, err = decodeImage(mt.info, mt.tm, rs.IdentifyColumns, r.NullIdentifyColumns, r.Identify); err != nil {
				return relay.Permanent(relay.StopUnsupported, err)
			}
			missing += m
		}
		if op != domain.OpDelete {
			var m int
			if c.After, m, err = decodeImage(mt.info, mt.tm, rs.DataColumns, r.NullColumns, r.Data); err != nil {
				return relay.Permanent(relay.StopUnsupported, err)
			}
			missing += m
		}
		if missing > 0 {
			st.warnPartial(mt.info)
		}
		if err := emit(relay.Item{Kind: relay.ItemChange, Change: c, Time: at}); err != nil {
			return err
		}
	}
	return nil
}

// warnPartial logs, once per table and stream, that row images lack
// columns: a session changed binlog_row_image, and the missing columns are
// published as null.
func (st *streamState) warnPartial(info *tableInfo) {
	name := info.table.DB + "." + info.table.Name
	if st.warnedPartial[name] {
		return
	}
	if st.warnedPartial == nil {
		st.warnedPartial = map[string]bool{}
	}
	st.warnedPartial[name] = true
	st.src.log.Warn("binlog rows lack columns (a session set binlog_row_image other than FULL); missing columns are published as null", "table", name)
}

// rotate follows the binlog into the file a rotate event names. The event
// is parsed here rather than by vitess's NextLogFile, which always drops
// four trailing bytes as a checksum: given a stripped event it cut four
// characters off the name, and the checkpoint then named a file the server
// never had. Whether a checksum is present is read from the event itself.
func (st *streamState) rotate(ev mysql.BinlogEvent, emit func(relay.Item) error, at time.Time) error {
	name, pos, err := rotateTarget(ev.Bytes(), int(st.format.HeaderLength))
	if err != nil {
		return fmt.Errorf("binlog stream: rotate after %s:%d: %w", st.file, st.pos, err)
	}
	st.file, st.pos = name, pos
	// Forget the table ids: they are only valid within a file's
	// transactions anyway, and keeping them would grow the map.
	clear(st.maps)
	if st.inTx || ev.Timestamp() == 0 {
		return nil
	}
	return emit(relay.Item{Kind: relay.ItemCommit, Resume: relay.Position{File: name, Pos: pos, GTID: st.gtid}, Time: at})
}

// rotateTarget reads a rotate event's body: the position in the next file
// (8 bytes) and its name, followed by a CRC32 when the server checksums.
func rotateTarget(b []byte, headerLen int) (string, uint64, error) {
	if headerLen <= 0 {
		headerLen = mysql.BinlogFixedHeaderLen
	}
	if checksummed(b) {
		b = b[:len(b)-4]
	}
	if len(b) < headerLen+8+1 {
		return "", 0, fmt.Errorf("rotate event of %d bytes is too short for a position and a file name", len(b))
	}
	body := b[headerLen:]
	return string(body[8:]), binary.LittleEndian.Uint64(body), nil
}

// checksummed reports whether an event ends with the CRC32 of the rest of
// it, as the server writes events when binlog_checksum is CRC32.
func checksummed(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	n := len(b) - 4
	return crc32.ChecksumIEEE(b[:n]) == binary.LittleEndian.Uint32(b[n:])
}
