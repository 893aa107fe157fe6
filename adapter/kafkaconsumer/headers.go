package kafkaconsumer

import (
	"github.com/IBM/sarama"
)

// headerCarrier lets an OpenTelemetry propagator read the trace context a
// producer put in the message headers (traceparent, tracestate, baggage).
type headerCarrier []*sarama.RecordHeader

func (h headerCarrier) Get(key string) string {
	for _, rh := range h {
		if rh != nil && string(rh.Key) == key {
			return string(rh.Value)
		}
	}
	return ""
}

// Set is never used on consumed messages; the propagator API requires it.
func (h headerCarrier) Set(string, string) {}

func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for _, rh := range h {
		if rh != nil {
			keys = append(keys, string(rh.Key))
		}
	}
	return keys
}
