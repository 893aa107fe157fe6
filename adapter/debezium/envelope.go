package debezium

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gintoki/gintoki/adapter/internal/jsonwalk"
	"github.com/gintoki/gintoki/domain"
)

// Form is the shape a change-event message value arrived in.
type Form uint8

// The forms a value is recognised in.
const (
	// FormWrapped: the JsonConverter's {"schema":...,"payload":{envelope}}
	// (value.converter.schemas.enable=true).
	FormWrapped Form = iota + 1
	// FormBare: the envelope itself, {"before","after","source","op","ts_ms"}.
	FormBare
	// FormFlattened: a row flattened by ExtractNewRecordState, its columns and
	// __op, __deleted, __table..., maybe in a wrapper (Envelope.Wrapped).
	FormFlattened
)

func (f Form) String() string {
	if f > FormFlattened {
		f = 0
	}
	return [...]string{"unknown", "wrapped", "bare", "flattened"}[f]
}

// Envelope is a decoded change event of any table, with raw row images.
type Envelope struct {
	Form    Form
	Wrapped bool // a schema/payload wrapper was present (always for FormWrapped)
	Op      domain.Op
	// Before and After are the row images, nil when absent or null, aliasing
	// the value. A flattened row is the whole object: in Before for a delete.
	Before, After json.RawMessage
	Source        SourceInfo
	TsMs          int64 // when the connector processed the event (0 if absent)
}

// SourceInfo is the envelope's source block; a flattened row fills only what
// its __ members carry.
type SourceInfo struct {
	Version, Connector string
	Name               string // topic.prefix
	DB, Table          string
	// Snapshot is a string ("true", "first", "last", "incremental", ...,
	// also from a boolean); "false" for a source block without it (the
	// schema's default), "" when the message says nothing of it.
	Snapshot   string
	TsMs       int64 // when the change happened; from ts_sec in the old layout
	ServerID   int64
	GTID, File string
	Pos, Row   int64
	Thread     int64 // 0 when null (snapshot reads)
}

// DecodeEnvelope decodes a message value of any table, in any Form. A null
// value returns ErrTombstone, messages without a row ErrNotRowEvent.
func DecodeEnvelope(value []byte) (Envelope, error) {
	var e message
	if err := e.parse(value, "change event"); err != nil {
		return Envelope{}, err
	}
	s, str := &e.src, jsonwalk.String
	env := Envelope{Form: e.form, Wrapped: e.wrapped, Op: e.op, Before: e.before, After: e.after, TsMs: e.tsMs,
		Source: SourceInfo{Version: str(s.version), Connector: str(s.connector), Name: str(s.name), DB: str(s.db),
			Table: str(s.table), TsMs: e.sourceTsMs, ServerID: s.serverID.n, GTID: str(s.gtid), File: str(s.file),
			Pos: s.pos.n, Row: s.row.n, Thread: s.thread.n}}
	switch snap := s.snapshot; {
	case len(snap) > 0 && snap[0] == '"':
		env.Source.Snapshot = str(snap)
	case len(snap) > 0 && snap[0] != 'n':
		env.Source.Snapshot = string(snap) // true or false
	case e.hasSource:
		env.Source.Snapshot = "false"
	}
	return env, nil
}

// source is the envelope's source block, or what a flattened row's __
// members say of it. Strings stay raw until a caller asks for them.
type source struct {
	version, connector, name, db, table, snapshot, gtid, file []byte
	tsMs, tsSec, serverID, pos, row, thread                   integer // ts_sec: the old layout
}

func (s *source) member(name, v []byte) (err error) {
	var str *[]byte
	switch string(name) {
	case "version":
		str = &s.version
	case "connector":
		str = &s.connector
	case "name":
		str = &s.name
	case "db":
		str = &s.db
	case "table":
		str = &s.table
	case "gtid":
		str = &s.gtid
	case "file":
		str = &s.file
	case "snapshot":
		s.snapshot, err = v, kind("snapshot", v, `"tfn`, "not a string or boolean")
	case "ts_ms":
		err = intField("ts_ms", v, &s.tsMs)
	case "ts_sec":
		err = intField("ts_sec", v, &s.tsSec)
	case "server_id":
		err = intField("server_id", v, &s.serverID)
	case "pos":
		// Past 2^48 a position does not fit its place in a transaction
		// (domain.SubOf); a binlog event header holds 32 bits of it.
		if err = intField("pos", v, &s.pos); s.pos.n < 0 || s.pos.n >= 1<<48 {
			s.pos, err = integer{}, named("pos", probRange)
		}
	case "row":
		err = intField("row", v, &s.row)
	case "thread":
		err = intField("thread", v, &s.thread)
	}
	if str != nil {
		if *str = v; v[0] != '"' && v[0] != 'n' {
			err = named(string(name), probNotString)
		}
	}
	return err
}

// message is a message read: its members that matter, raw (nil if absent),
// and the event they make. With envelope, an object "source" goes into src.
type message struct {
	envelope           bool
	count, wrapperKeys int // members, and of them "schema" and "payload"

	schema, payload, before, after, rawOp, rawTsMs, source []byte // source: when not an object
	src, flat                                              source // flat: from a flattened row's __ members
	hasSource                                              bool
	flatOp, flatDeleted, flatTsMs                          []byte
	txStatus                                               []byte // "status" of transaction metadata
	txID, schemaChange                                     bool   // "id"; "ddl", "tableChanges" or "databaseName"
	heartbeatPos                                           bool   // gintoki relay's PositionMember

	form             Form // the event; before and after become its row images
	wrapped          bool
	op               domain.Op
	tsMs, sourceTsMs int64
	deletedField     bool // a flattened row carried __deleted
}

func (m *message) member(name, v []byte) error {
	m.count++
	var dst *[]byte
	switch string(name) {
	case "schema", "payload":
		m.wrapperKeys++
		dst = &m.schema
		if name[0] == 'p' {
			dst = &m.payload
		}
	case "source":
		m.source, m.hasSource = v, m.envelope && v[0] == '{'
		if !m.hasSource {
			return nil
		}
		m.source, m.src = nil, source{}
		err := jsonwalk.Fields(v, m.src.member)
		if member, ok := err.(*decodeError); ok {
			member.path = "source." + member.path
		}
		return err
	case "before":
		dst = &m.before
	case "after":
		dst = &m.after
	case "op":
		dst = &m.rawOp
	case "ts_ms":
		dst = &m.rawTsMs
	case "__op":
		dst = &m.flatOp
	case "__deleted":
		dst = &m.flatDeleted
	// ExtractNewRecordState's add.fields: source.gtid becomes __source_gtid,
	// a bare gtid __gtid.
	case "__table", "__source_table", "__db", "__source_db", "__snapshot", "__source_snapshot", "__source_ts_ms",
		"__gtid", "__source_gtid", "__pos", "__source_pos", "__row", "__source_row":
		err := m.flat.member(bytes.TrimPrefix(name[2:], []byte("source_")), v)
		if member, ok := err.(*decodeError); ok {
			member.path = string(name)
		}
		return err
	case "__ts_ms":
		dst = &m.flatTsMs
	case "status":
		dst = &m.txStatus
	case "ddl", "tableChanges", "databaseName":
		m.schemaChange = true
	case "id":
		m.txID = true
	case PositionMember:
		m.heartbeatPos = true
	}
	if dst != nil {
		*dst = v
	}
	return nil
}

// readObject reads in, a JSON object, into m: the payload of a schema/payload
// wrapper (m.wrapped), or the object itself (only the outermost object can be
// a wrapper: a payload with schema and payload members is a row with such
// columns). It returns the object read, errNull for a null in or payload.
func readObject(in []byte, subject, what string, m *message) ([]byte, error) {
	obj, envelope := bytes.Trim(in, " \t\r\n"), m.envelope
	switch {
	case len(obj) == 0 || string(obj) == "null":
		return nil, errNull
	case obj[0] != '{' && bytes.IndexByte([]byte(`["-0123456789tfn`), obj[0]) >= 0:
		return nil, malformed(subject, "", what+" is not a JSON object")
	}
	if payload := knownSchema(obj); payload != nil && jsonwalk.Object(payload, m.member) == nil {
		m.wrapped = true
		return payload, nil
	}
	*m = message{envelope: envelope}
	if err := jsonwalk.Object(in, m.member); err != nil || m.payload == nil || m.count != m.wrapperKeys {
		return obj, decodeErr(subject, "", err)
	}
	payload := m.payload
	switch {
	case present(m.schema) && m.schema[0] != '{':
		return nil, malformed(subject, "schema", "not an object or null")
	case isNull(payload):
		m.wrapped = true
		return nil, errNull
	case payload[0] != '{':
		return nil, malformed(subject, "payload", "not an object")
	case m.count == 2 && bytes.HasPrefix(obj, []byte(`{"schema":`+string(m.schema)+`,"payload":`)):
		s := bytes.Clone(m.schema)
		knownSchemas[nextSchema.Add(1)%uint32(len(knownSchemas))].Store(&s)
	}
	*m = message{envelope: envelope, wrapped: true}
	return payload, decodeErr(subject, "", jsonwalk.Object(payload, m.member))
}

// knownSchemas are schemas already found valid. The JsonConverter sends a
// table's schema, the same until the table changes, with each event, and
// checking it is most of the cost: a value {"schema":S,"payload":P} with a
// known S has only P checked and read.
var (
	knownSchemas [4]atomic.Pointer[[]byte]
	nextSchema   atomic.Uint32
)

// knownSchema returns P of {"schema":S,"payload":P} with a known S, or nil.
func knownSchema(obj []byte) []byte {
	rest, ok := bytes.CutPrefix(obj, []byte(`{"schema":`))
	if !ok || obj[len(obj)-1] != '}' {
		return nil
	}
	for i := range knownSchemas {
		if s := knownSchemas[i].Load(); s != nil && bytes.HasPrefix(rest, *s) {
			if payload, ok := bytes.CutPrefix(rest[len(*s):], []byte(`,"payload":`)); ok && payload[0] == '{' {
				return payload[: len(payload)-1 : len(payload)-1]
			}
		}
	}
	return nil
}

// image returns the row image a domain change is built from, and its name.
func (m *message) image() (img []byte, name string) {
	img, name = m.after, "after"
	if m.op == domain.OpDelete {
		img, name = m.before, "before"
	}
	if m.form == FormFlattened {
		name = "row"
	}
	return img, name
}

func isNull(v []byte) bool  { return string(v) == "null" }
func present(v []byte) bool { return v != nil && !isNull(v) }

// parse decodes a message value of any form.
func (m *message) parse(value []byte, subject string) error {
	m.envelope = true
	obj, err := readObject(value, subject, "value", m)
	switch {
	case err == errNull:
		return ErrTombstone
	case err != nil:
		return err
	case m.rawOp != nil || m.before != nil || m.after != nil || m.source != nil || m.hasSource:
		return m.fromEnvelope(subject)
	case m.schemaChange || m.txID && (string(m.txStatus) == `"BEGIN"` || string(m.txStatus) == `"END"`),
		m.rawTsMs != nil && (m.count == 1 || m.count == 2 && m.heartbeatPos): // a heartbeat
		return ErrNotRowEvent
	case m.count == 0:
		return malformed(subject, "", "empty object")
	}
	return m.fromFlattened(obj, subject)
}

func (m *message) fromEnvelope(subject string) error {
	if m.rawOp == nil {
		if m.schemaChange {
			return ErrNotRowEvent
		}
		return malformed(subject, "op", string(probMissing))
	}
	op, err := parseOp(m.rawOp)
	if err != nil {
		return decodeErr(subject, "op", err)
	}
	m.op, m.form, m.sourceTsMs = op, FormBare, m.src.tsMs.n
	if m.wrapped {
		m.form = FormWrapped
	}
	for i, img := range [...]*[]byte{&m.before, &m.after} {
		if isNull(*img) {
			*img = nil
		} else if *img != nil && (*img)[0] != '{' {
			return malformed(subject, [...]string{"before", "after"}[i], "not an object or null")
		}
	}
	switch {
	case m.after == nil && (op == domain.OpCreate || op == domain.OpUpdate || op == domain.OpRead):
		return malformed(subject, "after", fmt.Sprintf("missing for op %q", string(rune(op))))
	case m.before == nil && op == domain.OpDelete:
		return malformed(subject, "before", `missing for op "d"`)
	case present(m.source):
		return malformed(subject, "source", "not an object or null")
	}
	var ts integer
	if err := intField("ts_ms", m.rawTsMs, &ts); err != nil {
		return decodeErr(subject, "", err)
	}
	m.tsMs = ts.n
	if sec := m.src.tsSec; !m.src.tsMs.set && sec.set {
		// Only the old layout (the tutorial's) has ts_sec; a value this
		// large is no time, and multiplying it would overflow.
		if sec.n > 1<<53 || sec.n < -(1<<53) {
			return fieldError(subject, "source", "ts_sec", probRange)
		}
		m.sourceTsMs = sec.n * 1000
	}
	return nil
}

func (m *message) fromFlattened(row []byte, subject string) error {
	// Without __op (add.fields=op) a flattened row is an upsert: all it says
	// is "this is the row now".
	m.form, m.op, m.before, m.after = FormFlattened, domain.OpUpdate, nil, row
	var err error
	if present(m.flatOp) {
		if m.op, err = parseOp(m.flatOp); err != nil {
			return decodeErr(subject, "__op", err)
		}
	}
	if m.deletedField = present(m.flatDeleted); m.deletedField {
		deleted, err := parseBoolish(m.flatDeleted)
		if err != nil {
			return fieldError(subject, "", "__deleted", err)
		}
		if deleted {
			m.op = domain.OpDelete
		}
	}
	switch m.op {
	case domain.OpDelete:
		m.before, m.after = row, nil
	case domain.OpTruncate:
		m.after = nil
	}
	var ts integer
	err = intField("__ts_ms", m.flatTsMs, &ts)
	m.src, m.sourceTsMs, m.tsMs = m.flat, m.flat.tsMs.n, ts.n
	return decodeErr(subject, "", err)
}

// parseOp reads an operation code. Codes of other Debezium messages (logical
// message "m", no-op "n", command "cmd") carry no row: ErrNotRowEvent.
func parseOp(raw []byte) (domain.Op, error) {
	if raw[0] != '"' {
		return 0, probNotString
	}
	code := raw[1 : len(raw)-1]
	if bytes.IndexByte(code, '\\') >= 0 {
		code, _ = jsontext.AppendUnquote(nil, raw)
	}
	switch string(code) {
	case "c", "u", "d", "r", "t":
		return domain.Op(code[0]), nil
	case "m", "n", "cmd":
		return 0, ErrNotRowEvent
	}
	return 0, problem(fmt.Sprintf("unknown operation %q", code[:min(len(code), 16)]))
}
