package debezium

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

// A heartbeat is what Debezium writes, and the decoder takes its value for a
// non-row message, never for poison.
func TestHeartbeatAsDebeziumWritesIt(t *testing.T) {
	if got := HeartbeatTopic("dbserver1"); got != "__debezium-heartbeat.dbserver1" {
		t.Fatalf("topic %q", got)
	}
	key, value := EncodeHeartbeat(`db"1`, 1_700_000_000_123, false)
	if string(key) != `{"serverName":"db\"1"}` || string(value) != `{"ts_ms":1700000000123}` {
		t.Fatalf("key %s value %s", key, value)
	}
	key, value = EncodeHeartbeat("dbserver1", 42, true)
	var k struct {
		Schema struct {
			Name   string
			Fields []struct{ Field, Type string }
		}
		Payload struct{ ServerName string }
	}
	if err := json.Unmarshal(key, &k); err != nil || k.Schema.Name != "io.debezium.connector.common.ServerNameKey" ||
		k.Payload.ServerName != "dbserver1" || len(k.Schema.Fields) != 1 || k.Schema.Fields[0].Field != "serverName" {
		t.Fatalf("wrapped key %s: %+v %v", key, k, err)
	}
	var v struct {
		Schema struct {
			Name   string
			Fields []struct{ Field, Type string }
		}
		Payload struct {
			TsMs int64 `json:"ts_ms"`
		}
	}
	if err := json.Unmarshal(value, &v); err != nil || v.Schema.Name != "io.debezium.connector.common.Heartbeat" ||
		v.Payload.TsMs != 42 || v.Schema.Fields[0].Type != "int64" {
		t.Fatalf("wrapped value %s: %+v %v", value, v, err)
	}
	for _, raw := range [][]byte{value, []byte(`{"ts_ms":1}`)} {
		if _, err := DecodeEnvelope(raw); !errors.Is(err, ErrNotRowEvent) {
			t.Fatalf("decoding heartbeat %s: %v, want ErrNotRowEvent", raw, err)
		}
	}
}

// A heartbeat with the relay's position reads back as written, in both
// forms; Debezium's own heartbeats carry none; the decoder still takes the
// value for a heartbeat, never for a row.
func TestHeartbeatPositionRoundTrip(t *testing.T) {
	pos := &HeartbeatPosition{GTID: "0-1-4711,1-2-7", Offsets: []PartitionOffset{
		{Topic: "gintoki.shop.warehouses", Partition: 0, Offset: 3},
		{Topic: "gintoki.shop.stock_items", Partition: 2, Offset: 40},
		{Topic: "gintoki.shop.stock_items", Partition: 0, Offset: 17},
	}}
	for _, withSchema := range []bool{false, true} {
		_, value := EncodePositionHeartbeat("gintoki", 42, withSchema, pos)
		if !withSchema {
			want := `{"ts_ms":42,"gintoki_position":{"gtid":"0-1-4711,1-2-7","offsets":{"gintoki.shop.stock_items/0":17,"gintoki.shop.stock_items/2":40,"gintoki.shop.warehouses/0":3}}}`
			if string(value) != want {
				t.Fatalf("value\n%s\nwant\n%s", value, want)
			}
		}
		got, gtids, found, err := DecodeHeartbeatPosition(value)
		if err != nil || !found {
			t.Fatalf("schema %v: decode %s: found %v, %v", withSchema, value, found, err)
		}
		if got.GTID != pos.GTID || len(got.Offsets) != 3 || gtids.String() != "0-0-4711,1-0-7" {
			t.Fatalf("schema %v: got %+v %v", withSchema, got, gtids)
		}
		for _, o := range pos.Offsets {
			if !slices.Contains(got.Offsets, o) {
				t.Errorf("schema %v: %+v missing from %+v", withSchema, o, got.Offsets)
			}
		}
		if _, err := DecodeEnvelope(value); !errors.Is(err, ErrNotRowEvent) {
			t.Errorf("schema %v: decoding the heartbeat as an event: %v, want ErrNotRowEvent", withSchema, err)
		}
		if withSchema {
			var v struct {
				Schema struct{ Fields []struct{ Field string } }
			}
			if err := json.Unmarshal(value, &v); err != nil || len(v.Schema.Fields) != 2 || v.Schema.Fields[1].Field != PositionMember {
				t.Errorf("schema does not declare the member: %+v %v", v, err)
			}
		}
	}
	for _, withSchema := range []bool{false, true} {
		_, value := EncodeHeartbeat("dbserver1", 42, withSchema)
		if _, _, found, err := DecodeHeartbeatPosition(value); found || err != nil {
			t.Errorf("Debezium's heartbeat %s: found %v, %v", value, found, err)
		}
	}
}

// A position member that cannot be read is an error, never a position:
// a node ignores it (and counts it) rather than trust part of it.
func TestMalformedHeartbeatPositions(t *testing.T) {
	for _, v := range []string{
		`{"ts_ms":1,"gintoki_position":{}}`,
		`{"ts_ms":1,"gintoki_position":{"gtid":"","offsets":{}}}`,
		`{"ts_ms":1,"gintoki_position":{"gtid":"zero","offsets":{}}}`,
		`{"ts_ms":1,"gintoki_position":{"gtid":"0-1-5","offsets":{"t":1}}}`,
		`{"ts_ms":1,"gintoki_position":{"gtid":"0-1-5","offsets":{"/0":1}}}`,
		`{"ts_ms":1,"gintoki_position":{"gtid":"0-1-5","offsets":{"t/x":1}}}`,
		`{"ts_ms":1,"gintoki_position":{"gtid":"0-1-5","offsets":{"t/-1":1}}}`,
		`{"ts_ms":1,"gintoki_position":{"gtid":"0-1-5","offsets":{"t/0":-1}}}`,
		`{"ts_ms":1,"gintoki_position":{"gtid":"0-1-5","offsets":{"t/0":1.5}}}`,
		`{"ts_ms":1,"gintoki_position":{"gtid":"0-1-5","offsets":{"t/99999999999":1}}}`,
		`{"ts_ms":1,"gintoki_position":"0-1-5"}`,
		`{"schema":{},"payload":{"ts_ms":1,"gintoki_position":{"gtid":7}}}`,
	} {
		if _, _, found, err := DecodeHeartbeatPosition([]byte(v)); !found || !errors.Is(err, ErrBadPosition) {
			t.Errorf("%s: found %v, err %v; want ErrBadPosition", v, found, err)
		}
	}
	// Without the member, or not even JSON: a sign of life, no position.
	for _, v := range []string{`{"ts_ms":1}`, `{"ts_ms":1,"gintoki_position":null}`, `anything`, ``, `[1]`} {
		if _, _, found, err := DecodeHeartbeatPosition([]byte(v)); found || err != nil {
			t.Errorf("%q: found %v, err %v; want no position", v, found, err)
		}
	}
	// An empty offsets map is well formed: the relay had written nothing.
	if p, _, found, err := DecodeHeartbeatPosition([]byte(`{"ts_ms":1,"gintoki_position":{"gtid":"0-1-5","offsets":{}}}`)); !found || err != nil || len(p.Offsets) != 0 {
		t.Errorf("empty offsets: %+v %v %v", p, found, err)
	}
}
