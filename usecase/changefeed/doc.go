// Package changefeed is the policy of the change path: when the cache may be
// trusted (the consumer owns every partition and has caught up with the end
// offsets it saw), when it must be flushed (a gap in the feed) and when it
// must be bypassed (the broker has been away longer than the staleness
// bound). The Kafka adapter reports what it sees; this package decides.
package changefeed

// Partition names one partition of one topic.
type Partition struct {
	Topic     string
	Partition int32
}
