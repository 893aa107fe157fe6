package debezium

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/gintoki/gintoki/domain"
)

// Form is the shape a change-event message value arrived in.
type Form uint8

// The forms a value is recognised in.
const (
	// FormWrapped: the JsonConverter wrapper {"schema":...,"payload":{envelope}}
	// (value.converter.schemas.enable=true).
	FormWrapped Form = iota + 1
	// FormBare: the envelope itself, {"before","after","source","op","ts_ms"}
	// (schemas.enable=false).
	FormBare
	// FormFlattened: a row flattened by the ExtractNewRecordState transform,
	// its columns plus optional __op, __deleted, __table, __source_ts_ms...
	// Envelope.Wrapped tells whether a schema/payload wrapper was around it.
	FormFlattened
)

func (f Form) String() string {
	switch f {
	case FormWrapped:
		return "wrapped"
	case FormBare:
		return "bare"
	case FormFlattened:
		return "flattened"
	}
	return "unknown"
}

// Envelope is a decoded change event for any table: the row images stay raw
// JSON so a caller decodes only the columns it knows.
type Envelope struct {
	Form    Form
	Wrapped bool // a schema/payload wrapper was present (always for FormWrapped)
	Op      domain.Op
	// Before and After are the row images, nil when absent or null. They
	// alias the decoded value. A flattened row is the whole flattened object
	// (with its __ members): in Before for a delete, in After otherwise.
	Before json.RawMessage
	After  json.RawMessage
	Source SourceInfo
	// TsMs is when the connector processed the event (0 if absent).
	TsMs int64
}

// SourceInfo is the part of the envelope's source block a consumer can use.
// A flattened row fills only what its __ members carry.
type SourceInfo struct {
	Version   string
	Connector string
	Name      string // topic.prefix
	DB        string
	Table     string
	// Snapshot is normalised to a string: "true", "first", "last", "false",
	// "incremental", ... A boolean true/false becomes "true"/"false"; a source
	// block without it means "false" (the schema's default); "" when the
	// message carries no snapshot information at all.
	Snapshot string
	// TsMs is when the change happened in the database. The old source layout
	// with ts_sec is converted.
	TsMs     int64
	ServerID int64
	GTID     string
	File     string
	Pos      int64
	Row      int64
	Thread   int64 // 0 when null (snapshot reads)
}

// IsSnapshot reports whether the event comes from a (initial, blocking or
// incremental) snapshot rather than from the binlog stream.
func (s SourceInfo) IsSnapshot() bool {
	return s.Snapshot != "" && s.Snapshot != "false"
}

// DecodeEnvelope decodes a message value of any table into its envelope,
// detecting the form by itself. A null or empty value returns ErrTombstone;
// transaction metadata, schema changes and heartbeats return ErrNotRowEvent.
func DecodeEnvelope(value []byte) (Envelope, error) {
	const subject = "change event"
	var raw rawEnvelope
	if err := raw.parse(value, subject); err != nil {
		return Envelope{}, err
	}
	env := Envelope{
		Form:    raw.form,
		Wrapped: raw.wrapped,
		Op:      raw.op,
		Before:  json.RawMessage(raw.before),
		After:   json.RawMessage(raw.after),
		TsMs:    raw.tsMs,
	}
	src := &raw.src
	env.Source = SourceInfo{
		Version:   spanString(src.version),
		Connector: spanString(src.connector),
		Name:      spanString(src.name),
		DB:        spanString(src.db),
		Table:     spanString(src.table),
		TsMs:      raw.sourceTsMs,
		ServerID:  spanInt(src.serverID),
		GTID:      spanString(src.gtid),
		File:      spanString(src.file),
		Pos:       spanInt(src.pos),
		Row:       spanInt(src.row),
		Thread:    spanInt(src.thread),
	}
	switch {
	case len(src.snapshot) > 0 && src.snapshot[0] == 't':
		env.Source.Snapshot = "true"
	case len(src.snapshot) > 0 && src.snapshot[0] == 'f':
		env.Source.Snapshot = "false"
	case len(src.snapshot) > 0 && src.snapshot[0] == '"':
		env.Source.Snapshot = spanString(src.snapshot)
	case raw.hasSource:
		env.Source.Snapshot = "false"
	}
	return env, nil
}

// sourceSpans holds the raw values of the source members, each nil when
// absent. A flattened row puts its __table, __db and __source_snapshot here.
type sourceSpans struct {
	version, connector, name, db, table, snapshot, gtid, file []byte
	tsMs, tsSec, serverID, pos, row, thread                   []byte
}

// members is what one pass over an object found: the raw values of every
// member a change event, its wrapper or a non-row message can have.
type members struct {
	count       int // members seen
	wrapperKeys int // of which "schema" or "payload"

	schema, payload         []byte
	before, after, op, tsMs []byte
	source                  []byte // set when "source" is not an object
	src                     sourceSpans
	hasSource               bool // "source" is an object, parsed into src

	flatOp, flatDeleted, flatTable, flatDB, flatSnapshot, flatSourceTsMs, flatTsMs []byte

	txStatus     []byte // "status" of transaction metadata
	txID         bool
	schemaChange bool // "ddl", "tableChanges" or "databaseName"
}

// readMembers reads the object at the scanner into top in one pass. The
// source block is taken apart on the way, and when payload is not nil an
// object-valued "payload" member is read into it in the same pass, so neither
// is scanned twice. (Two frames in one loop rather than a recursive call:
// recursion would make the members escape to the heap.)
func (s *scanner) readMembers(top, payload *members) error {
	if err := s.openObject(); err != nil {
		return err
	}
	m := top
	payloadStart := 0
	first := true
	for {
		key, ok, err := s.nextKey(&first)
		if err != nil {
			return err
		}
		if !ok {
			if m == top {
				return nil
			}
			top.payload = s.buf[payloadStart:s.pos:s.pos]
			m, first = top, false
			continue
		}
		m.count++
		var dst *[]byte
		switch string(key) {
		case "schema":
			m.wrapperKeys++
			dst = &m.schema
		case "payload":
			m.wrapperKeys++
			if m == top && payload != nil && s.peek() == '{' {
				payloadStart = s.pos
				s.pos++
				*payload = members{}
				m, first = payload, true
				continue
			}
			dst = &m.payload
		case "before":
			dst = &m.before
		case "after":
			dst = &m.after
		case "op":
			dst = &m.op
		case "ts_ms":
			dst = &m.tsMs
		case "source":
			m.source, m.hasSource, m.src = nil, false, sourceSpans{}
			if s.peek() == '{' {
				if err := s.readSource(&m.src); err != nil {
					return err
				}
				m.hasSource = true
				continue
			}
			dst = &m.source
		case "__op":
			dst = &m.flatOp
		case "__deleted":
			dst = &m.flatDeleted
		case "__table", "__source_table":
			dst = &m.flatTable
		case "__db", "__source_db":
			dst = &m.flatDB
		case "__snapshot", "__source_snapshot":
			dst = &m.flatSnapshot
		case "__source_ts_ms":
			dst = &m.flatSourceTsMs
		case "__ts_ms":
			dst = &m.flatTsMs
		case "status":
			dst = &m.txStatus
		case "id":
			m.txID = true
		case "ddl", "tableChanges", "databaseName":
			m.schemaChange = true
		}
		if dst == nil {
			if err := s.skipValue(1); err != nil {
				return err
			}
			continue
		}
		if *dst, err = s.rawValue(); err != nil {
			return err
		}
	}
}

func (s *scanner) readSource(src *sourceSpans) error {
	if err := s.openObject(); err != nil {
		return err
	}
	first := true
	for {
		key, ok, err := s.nextKey(&first)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		var dst *[]byte
		switch string(key) {
		case "version":
			dst = &src.version
		case "connector":
			dst = &src.connector
		case "name":
			dst = &src.name
		case "db":
			dst = &src.db
		case "table":
			dst = &src.table
		case "snapshot":
			dst = &src.snapshot
		case "gtid":
			dst = &src.gtid
		case "file":
			dst = &src.file
		case "ts_ms":
			dst = &src.tsMs
		case "ts_sec":
			dst = &src.tsSec
		case "server_id":
			dst = &src.serverID
		case "pos":
			dst = &src.pos
		case "row":
			dst = &src.row
		case "thread":
			dst = &src.thread
		default:
			if err := s.skipValue(2); err != nil {
				return err
			}
			continue
		}
		if *dst, err = s.rawValue(); err != nil {
			return err
		}
	}
}

// rawEnvelope is a decoded event whose strings and row images still point
// into the message: the table decoders read it without allocating.
type rawEnvelope struct {
	form          Form
	wrapped       bool
	op            domain.Op
	before, after []byte
	tsMs          int64
	sourceTsMs    int64
	src           sourceSpans
	hasSource     bool
	// deletedField: a flattened row carried __deleted (the transform
	// rewrites deletes instead of dropping them).
	deletedField bool
}

// image returns the row image the domain change is built from and its name
// for error paths.
func (e *rawEnvelope) image() ([]byte, string) {
	name := "after"
	img := e.after
	if e.op == domain.OpDelete {
		name, img = "before", e.before
	}
	if e.form == FormFlattened {
		name = "row"
	}
	return img, name
}

func isNull(v []byte) bool { return len(v) == 4 && string(v) == "null" }

// present reports whether a member was given a non-null value.
func present(v []byte) bool { return v != nil && !isNull(v) }

// parse decodes a message value of any form.
func (e *rawEnvelope) parse(value []byte, subject string) error {
	s := scanner{buf: value}
	switch s.peek() {
	case 0:
		if s.pos >= len(value) {
			return ErrTombstone
		}
		return malformed(subject, "", s.unexpected().Error())
	case 'n':
		if s.literal("null") == nil && s.atEnd() {
			return ErrTombstone
		}
		return malformed(subject, "", "value is not a JSON object")
	case '{':
	default:
		return malformed(subject, "", "value is not a JSON object")
	}
	start := s.pos
	var top, inner members
	if err := s.readMembers(&top, &inner); err != nil {
		return malformed(subject, "", err.Error())
	}
	end := s.pos
	if !s.atEnd() {
		return malformed(subject, "", s.fail("data after the JSON value").Error())
	}

	m, obj := &top, value[start:end:end]
	// Only the outermost object can be the wrapper: a payload holding schema
	// and payload members is a row with columns of those names.
	if top.payload != nil && top.count == top.wrapperKeys {
		if top.schema != nil && !isNull(top.schema) && top.schema[0] != '{' {
			return malformed(subject, "schema", "not an object or null")
		}
		if isNull(top.payload) {
			return ErrTombstone
		}
		if top.payload[0] != '{' {
			return malformed(subject, "payload", string(probNotObject))
		}
		m, obj = &inner, top.payload
		e.wrapped = true
	}
	switch {
	case m.op != nil || m.before != nil || m.after != nil || m.source != nil || m.hasSource:
		if err := e.fromEnvelope(m, subject); err != nil {
			return err
		}
		if e.wrapped {
			e.form = FormWrapped
		}
		return nil
	case m.schemaChange || isTransactionStatus(m.txStatus) && m.txID || m.count == 1 && m.tsMs != nil:
		return ErrNotRowEvent
	case m.count == 0:
		return malformed(subject, "", "empty object")
	}
	return e.fromFlattened(m, obj, subject)
}

// rowImage checks that a before/after member is an object or null; nil
// stands for both absent and null.
func rowImage(raw []byte, subject, name string) ([]byte, error) {
	switch {
	case !present(raw):
		return nil, nil
	case raw[0] == '{':
		return raw, nil
	}
	return nil, malformed(subject, name, "not an object or null")
}

func isTransactionStatus(v []byte) bool {
	return string(v) == `"BEGIN"` || string(v) == `"END"`
}

func (e *rawEnvelope) fromEnvelope(m *members, subject string) error {
	if m.op == nil {
		if m.schemaChange {
			return ErrNotRowEvent
		}
		return malformed(subject, "op", string(probMissing))
	}
	op, err := parseOp(m.op, subject, "op")
	if err != nil {
		return err
	}
	e.op = op
	if e.before, err = rowImage(m.before, subject, "before"); err != nil {
		return err
	}
	if e.after, err = rowImage(m.after, subject, "after"); err != nil {
		return err
	}
	switch op {
	case domain.OpCreate, domain.OpUpdate, domain.OpRead:
		if e.after == nil {
			return malformed(subject, "after", fmt.Sprintf("missing for op %q", string(rune(op))))
		}
	case domain.OpDelete:
		if e.before == nil {
			return malformed(subject, "before", fmt.Sprintf("missing for op %q", string(rune(op))))
		}
	}
	if e.tsMs, err = optionalInt(m.tsMs); err != nil {
		return fieldError(subject, "", "ts_ms", err)
	}
	if present(m.source) {
		return malformed(subject, "source", "not an object or null")
	}
	e.form = FormBare
	e.hasSource = m.hasSource
	e.src = m.src
	return e.checkSource(subject)
}

// checkSource type-checks the source members a caller may read, so that
// DecodeEnvelope cannot fail where the table decoders succeed, and works out
// the source timestamp.
func (e *rawEnvelope) checkSource(subject string) error {
	src := &e.src
	for _, f := range [...]struct {
		name string
		raw  []byte
	}{
		{"version", src.version}, {"connector", src.connector}, {"name", src.name}, {"db", src.db},
		{"table", src.table}, {"gtid", src.gtid}, {"file", src.file},
	} {
		if present(f.raw) && f.raw[0] != '"' {
			return fieldError(subject, "source", f.name, probNotString)
		}
	}
	if present(src.snapshot) {
		if c := src.snapshot[0]; c != '"' && c != 't' && c != 'f' {
			return malformed(subject, "source.snapshot", "not a string or boolean")
		}
	}
	for _, f := range [...]struct {
		name string
		raw  []byte
	}{
		{"ts_ms", src.tsMs}, {"ts_sec", src.tsSec}, {"server_id", src.serverID},
		{"pos", src.pos}, {"row", src.row}, {"thread", src.thread},
	} {
		if _, err := optionalInt(f.raw); err != nil {
			return fieldError(subject, "source", f.name, err)
		}
	}
	ts, _ := optionalInt(src.tsMs)
	if !present(src.tsMs) && present(src.tsSec) {
		sec, _ := optionalInt(src.tsSec)
		// Only the old layout (the tutorial's) has ts_sec; a value this
		// large is no time, and multiplying it would overflow.
		if sec > 1<<53 || sec < -(1<<53) {
			return fieldError(subject, "source", "ts_sec", probRange)
		}
		ts = sec * 1000
	}
	e.sourceTsMs = ts
	return nil
}

func (e *rawEnvelope) fromFlattened(m *members, row []byte, subject string) error {
	// A flattened row without __op is an upsert: the transform was run
	// without add.fields=op, and all it says is "this is the row now".
	op := domain.OpUpdate
	if present(m.flatOp) {
		var err error
		if op, err = parseOp(m.flatOp, subject, "__op"); err != nil {
			return err
		}
	}
	if present(m.flatDeleted) {
		e.deletedField = true
		deleted, err := parseBoolish(m.flatDeleted)
		if err != nil {
			return fieldError(subject, "", "__deleted", err)
		}
		if deleted {
			op = domain.OpDelete
		}
	}
	e.op = op
	switch op {
	case domain.OpDelete:
		e.before = row
	case domain.OpTruncate:
	default:
		e.after = row
	}
	var err error
	if e.sourceTsMs, err = optionalInt(m.flatSourceTsMs); err != nil {
		return fieldError(subject, "", "__source_ts_ms", err)
	}
	if e.tsMs, err = optionalInt(m.flatTsMs); err != nil {
		return fieldError(subject, "", "__ts_ms", err)
	}
	for _, f := range [...]struct {
		name string
		raw  []byte
	}{{"__table", m.flatTable}, {"__db", m.flatDB}} {
		if present(f.raw) && f.raw[0] != '"' {
			return fieldError(subject, "", f.name, probNotString)
		}
	}
	if present(m.flatSnapshot) {
		if c := m.flatSnapshot[0]; c != '"' && c != 't' && c != 'f' {
			return malformed(subject, "__source_snapshot", "not a string or boolean")
		}
	}
	e.form = FormFlattened
	e.src = sourceSpans{table: m.flatTable, db: m.flatDB, snapshot: m.flatSnapshot}
	return nil
}

// parseOp reads an operation code. Codes of other Debezium messages (logical
// message "m", no-op "n", command "cmd") carry no row: ErrNotRowEvent.
func parseOp(raw []byte, subject, path string) (domain.Op, error) {
	if raw[0] != '"' {
		return 0, malformed(subject, path, string(probNotString))
	}
	s := scanner{buf: raw}
	code, err := s.readString()
	if err != nil {
		return 0, malformed(subject, path, err.Error())
	}
	if len(code) == 1 {
		switch op := domain.Op(code[0]); op {
		case domain.OpCreate, domain.OpUpdate, domain.OpDelete, domain.OpRead, domain.OpTruncate:
			return op, nil
		case 'm', 'n':
			return 0, ErrNotRowEvent
		}
	}
	if string(code) == "cmd" {
		return 0, ErrNotRowEvent
	}
	if len(code) > 16 {
		code = code[:16]
	}
	return 0, malformed(subject, path, fmt.Sprintf("unknown operation %q", code))
}

// optionalInt parses a raw member value that must be an integer or null;
// absent and null read as 0.
func optionalInt(raw []byte) (int64, error) {
	if !present(raw) {
		return 0, nil
	}
	if c := raw[0]; c != '-' && !isDigit(c) {
		return 0, probNotInteger
	}
	s := scanner{buf: raw}
	mag, neg, err := s.readInt()
	if err != nil {
		if err == probRange {
			return 0, probRange
		}
		return 0, probNotInteger
	}
	v, ok := signedInt(mag, neg)
	if !ok {
		return 0, probRange
	}
	return v, nil
}

// spanInt reads a member already checked by optionalInt.
func spanInt(raw []byte) int64 {
	v, _ := optionalInt(raw)
	return v
}

// spanString reads a member already checked to be a string or null.
func spanString(raw []byte) string {
	if !present(raw) || raw[0] != '"' {
		return ""
	}
	s := scanner{buf: raw}
	b, err := s.readString()
	if err != nil {
		return ""
	}
	return validString(b)
}

// validString converts to a string, replacing invalid UTF-8 the way
// encoding/json does, so a decoded name is always printable and re-encodable.
func validString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		out = utf8.AppendRune(out, r)
		b = b[size:]
	}
	return string(out)
}

// parseBoolish reads a TINYINT(1)/BOOLEAN value in any of the spellings
// converters produce: true/false, an integer (MySQL: non-zero is true), or
// the strings "true"/"false"/"1"/"0" (ExtractNewRecordState's __deleted).
func parseBoolish(raw []byte) (bool, error) {
	switch c := raw[0]; {
	case c == 't':
		return true, nil
	case c == 'f':
		return false, nil
	case c == '-' || isDigit(c):
		v, err := optionalInt(raw)
		if err != nil {
			return false, probNotBool
		}
		return v != 0, nil
	case c == '"':
		switch string(raw) {
		case `"true"`, `"1"`:
			return true, nil
		case `"false"`, `"0"`:
			return false, nil
		}
	case c == 'n':
		return false, probNull
	}
	return false, probNotBool
}
