package kafkaconsumer

import (
	"log/slog"
	"sync"

	"github.com/gintoki/gintoki/adapter/debezium"
)

// sourceShape warns, once per topic, when the events show a source set up
// in a way that can lose deletes. Only one such set-up can be seen from the
// events: ExtractNewRecordState rows without __deleted. The transform then
// either turns deletes into null-value records (delete.tombstone.handling.mode
// =tombstone, or the older delete.handling.mode=none), which this consumer
// applies, or drops them altogether (drop, the older default), which nothing
// downstream can notice. The flag says which to use.
type sourceShape struct {
	mu     sync.Mutex
	warned map[string]bool
}

func (s *sourceShape) observe(topic string, meta debezium.Meta, log *slog.Logger) {
	if meta.Form != debezium.FormFlattened || meta.DeletedField {
		return
	}
	s.mu.Lock()
	if s.warned == nil {
		s.warned = make(map[string]bool)
	}
	first := !s.warned[topic]
	s.warned[topic] = true
	s.mu.Unlock()
	if first {
		log.Warn("flattened change events without __deleted: deletes reach this instance only as null-value records; "+
			"if the source drops them (ExtractNewRecordState delete.tombstone.handling.mode=drop, or delete.handling.mode=drop "+
			"before Debezium 2.5) cached rows outlive their deletes until --cache-ttl. "+
			"Set delete.tombstone.handling.mode=rewrite and add.fields=op (or delete.handling.mode=rewrite)",
			"topic", topic)
	}
}
