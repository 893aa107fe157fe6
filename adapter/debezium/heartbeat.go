package debezium

import (
	"encoding/json"
	"strconv"
)

// HeartbeatTopic is where Debezium sends a connector's heartbeats
// (topic.heartbeat.prefix, default __debezium-heartbeat, dot, topic.prefix).
func HeartbeatTopic(prefix string) string { return "__debezium-heartbeat." + prefix }

// Heartbeat schemas as Debezium's JsonConverter writes them.
const (
	heartbeatKeySchema   = `{"type":"struct","fields":[{"type":"string","optional":false,"field":"serverName"}],"optional":false,"name":"io.debezium.connector.common.ServerNameKey"}`
	heartbeatValueSchema = `{"type":"struct","fields":[{"type":"int64","optional":false,"field":"ts_ms"}],"optional":false,"name":"io.debezium.connector.common.Heartbeat"}`
)

// EncodeHeartbeat returns a heartbeat record as Debezium writes it: key
// {"serverName":<prefix>}, value {"ts_ms":<connector clock>}, each in the
// schema/payload wrapper when withSchema. It goes to partition 0 of
// HeartbeatTopic(prefix).
func EncodeHeartbeat(prefix string, tsMs int64, withSchema bool) (key, value []byte) {
	name, _ := json.Marshal(prefix) // a string always marshals
	key = append(append([]byte(`{"serverName":`), name...), '}')
	value = strconv.AppendInt([]byte(`{"ts_ms":`), tsMs, 10)
	value = append(value, '}')
	if withSchema {
		key = wrapHeartbeat(heartbeatKeySchema, key)
		value = wrapHeartbeat(heartbeatValueSchema, value)
	}
	return key, value
}

func wrapHeartbeat(schema string, payload []byte) []byte {
	out := make([]byte, 0, len(schema)+len(payload)+24)
	out = append(out, `{"schema":`...)
	out = append(out, schema...)
	out = append(out, `,"payload":`...)
	out = append(out, payload...)
	return append(out, '}')
}
