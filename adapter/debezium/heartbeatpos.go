package debezium

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gintoki/gintoki/adapter/internal/jsonstr"
	"github.com/gintoki/gintoki/domain"
)

// PositionMember is the member gintoki relay adds to Debezium's heartbeat
// value. Consumers that do not know it (Debezium's own, older nodes) read
// the heartbeat as before: they look at ts_ms, or at nothing.
const PositionMember = "gintoki_position"

// PartitionOffset is one partition of a change topic and the offset after
// the last message the source had on it.
type PartitionOffset struct {
	Topic     string
	Partition int32
	Offset    int64
}

// HeartbeatPosition is what a heartbeat says of how far its source has
// published: every change of every transaction GTID covers is on the change
// topics below Offsets.
type HeartbeatPosition struct {
	// GTID is the source's GTID position as the server writes it
	// (MariaDB's @@gtid_binlog_pos "0-1-4711,1-2-7"; MySQL uuid:seq,...).
	GTID    string
	Offsets []PartitionOffset
}

// positionKey is "<topic>/<partition>": a topic name cannot hold '/'.
func positionKey(o PartitionOffset) string {
	return o.Topic + "/" + strconv.FormatInt(int64(o.Partition), 10)
}

const (
	heartbeatSchema         = `{"type":"struct","fields":[{"type":"int64","optional":false,"field":"ts_ms"}],"optional":false,"name":"io.debezium.connector.common.Heartbeat"}`
	positionHeartbeatSchema = `{"type":"struct","fields":[{"type":"int64","optional":false,"field":"ts_ms"},` +
		`{"type":"struct","fields":[{"type":"string","optional":false,"field":"gtid"},` +
		`{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int64","optional":false},"optional":false,"field":"offsets"}],` +
		`"optional":true,"name":"io.gintoki.relay.Position","field":"` + PositionMember + `"}],` +
		`"optional":false,"name":"io.debezium.connector.common.Heartbeat"}`
)

// EncodePositionHeartbeat is EncodeHeartbeat with the source's position as
// one more member of the value (none when pos is nil). With the schema
// wrapper the schema declares it, optional, so a JsonConverter reads the
// record either way.
func EncodePositionHeartbeat(prefix string, tsMs int64, withSchema bool, pos *HeartbeatPosition) (key, value []byte) {
	key = append(jsonstr.Append([]byte(`{"serverName":`), prefix), '}')
	value = strconv.AppendInt([]byte(`{"ts_ms":`), tsMs, 10)
	schema := heartbeatSchema
	if pos != nil {
		value = appendPosition(append(value, `,"`+PositionMember+`":`...), pos)
		schema = positionHeartbeatSchema
	}
	value = append(value, '}')
	if !withSchema {
		return key, value
	}
	wrap := func(schema string, payload []byte) []byte {
		return append(append([]byte(`{"schema":`+schema+`,"payload":`), payload...), '}')
	}
	return wrap(`{"type":"struct","fields":[{"type":"string","optional":false,"field":"serverName"}],"optional":false,"name":"io.debezium.connector.common.ServerNameKey"}`, key),
		wrap(schema, value)
}

// appendPosition writes pos as {"gtid":...,"offsets":{...}}, the offsets
// in key order so equal positions are equal bytes.
func appendPosition(dst []byte, pos *HeartbeatPosition) []byte {
	dst = append(jsonstr.Append(append(dst, `{"gtid":`...), pos.GTID), `,"offsets":{`...)
	offsets := slices.Clone(pos.Offsets)
	slices.SortFunc(offsets, func(a, b PartitionOffset) int {
		if a.Topic != b.Topic {
			return strings.Compare(a.Topic, b.Topic)
		}
		return int(a.Partition - b.Partition)
	})
	for i, o := range offsets {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(jsonstr.Append(dst, positionKey(o)), ':')
		dst = strconv.AppendInt(dst, o.Offset, 10)
	}
	return append(dst, "}}"...)
}

// ErrBadPosition marks a heartbeat whose position member cannot be read:
// it is ignored, never trusted.
var ErrBadPosition = errors.New("malformed " + PositionMember)

// DecodeHeartbeatPosition reads the position a heartbeat value carries, in
// either form (bare, or in the schema/payload wrapper). found is false for
// a heartbeat without one (Debezium's own); an error wraps ErrBadPosition.
func DecodeHeartbeatPosition(value []byte) (pos HeartbeatPosition, gtids domain.SourcePos, found bool, err error) {
	var v struct {
		Schema   json.RawMessage `json:"schema"`
		Payload  json.RawMessage `json:"payload"`
		Position json.RawMessage `json:"gintoki_position"`
	}
	if err := json.Unmarshal(value, &v); err != nil {
		return pos, nil, false, nil // not an object: a sign of life, nothing more
	}
	if v.Position == nil && v.Schema != nil && v.Payload != nil {
		if err := json.Unmarshal(v.Payload, &v); err != nil {
			return pos, nil, false, nil
		}
	}
	if v.Position == nil || string(v.Position) == "null" {
		return pos, nil, false, nil
	}
	pos, gtids, err = parsePosition(v.Position)
	if err != nil {
		return HeartbeatPosition{}, nil, true, fmt.Errorf("%w: %w", ErrBadPosition, err)
	}
	return pos, gtids, true, nil
}

func parsePosition(raw json.RawMessage) (HeartbeatPosition, domain.SourcePos, error) {
	var p struct {
		GTID    *string          `json:"gtid"`
		Offsets map[string]int64 `json:"offsets"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return HeartbeatPosition{}, nil, err
	}
	if p.GTID == nil || *p.GTID == "" {
		return HeartbeatPosition{}, nil, errors.New("no gtid")
	}
	gtids, err := domain.ParseSourcePos(*p.GTID)
	if err != nil {
		return HeartbeatPosition{}, nil, err
	}
	pos := HeartbeatPosition{GTID: *p.GTID, Offsets: make([]PartitionOffset, 0, len(p.Offsets))}
	for k, off := range p.Offsets {
		o, err := parsePartitionOffset(k, off)
		if err != nil {
			return HeartbeatPosition{}, nil, err
		}
		pos.Offsets = append(pos.Offsets, o)
	}
	return pos, gtids, nil
}

func parsePartitionOffset(key string, offset int64) (PartitionOffset, error) {
	i := strings.LastIndexByte(key, '/')
	if i <= 0 {
		return PartitionOffset{}, fmt.Errorf("offsets key %q is not <topic>/<partition>", key)
	}
	part, err := strconv.ParseInt(key[i+1:], 10, 32)
	if err != nil || part < 0 {
		return PartitionOffset{}, fmt.Errorf("offsets key %q: bad partition", key)
	}
	if offset < 0 {
		return PartitionOffset{}, fmt.Errorf("offsets %q: negative offset %d", key, offset)
	}
	return PartitionOffset{Topic: key[:i], Partition: int32(part), Offset: offset}, nil
}
