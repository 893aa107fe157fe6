package debezium

import (
	"encoding/json"
	"errors"
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
