package kafkaconsumer

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/usecase/changefeed"
)

// session is what the consumer knows about one sarama session: set up in
// Setup, started once every claim has reported where it begins.
type session struct {
	// topics are those the session consumes.
	topics   []string
	assigned []changefeed.Partition
	ends     map[changefeed.Partition]int64
	complete bool
	// later: this process owned partitions before this session, so a
	// partition it has never owned appears after events may have passed.
	later bool
	// restarted are the partitions Setup moved to their oldest offset: a
	// gap there was reported when their topic was seen replaced.
	restarted []changefeed.Partition

	mu      sync.Mutex
	starts  map[changefeed.Partition]int64
	ready   chan struct{}
	started bool
}

func newSession(topics []string, assigned []changefeed.Partition, ends map[changefeed.Partition]int64, complete, later bool) *session {
	return &session{
		topics:   topics,
		assigned: assigned,
		ends:     ends,
		complete: complete,
		later:    later,
		starts:   make(map[changefeed.Partition]int64, len(assigned)),
		ready:    make(chan struct{}),
	}
}

// register records where p's claim starts. The claim that completes the set
// tells the feed the session started, then releases every claim: no message
// is handled before the tracker knows the session.
func (s *session) register(p changefeed.Partition, start int64, feed Feed) {
	s.mu.Lock()
	s.starts[p] = start
	last := len(s.starts) == len(s.assigned) && !s.started
	s.mu.Unlock()
	if last {
		s.start(feed)
	}
}

func (s *session) start(feed Feed) {
	s.mu.Lock()
	starts := make(map[changefeed.Partition]int64, len(s.starts))
	for p, o := range s.starts {
		starts[p] = o
	}
	ends := make(map[changefeed.Partition]int64, len(s.ends))
	for p, o := range s.ends {
		ends[p] = o
	}
	s.mu.Unlock()
	feed.SessionStarted(slices.Clone(s.assigned), starts, ends, s.complete)
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	close(s.ready)
}

func (s *session) isStarted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// groupHandler is the sarama.ConsumerGroupHandler; it is separate from
// Consumer so Setup/Cleanup/ConsumeClaim stay out of the exported API.
type groupHandler struct {
	c      *Consumer
	client sarama.Client
	// topics are those of this Consume call.
	topics []string
}

// Setup runs after the assignment and after sarama has read the committed
// offsets, but before any claim picks its start: sarama takes the start from
// the partition offset manager only when the claim begins (checked in
// sarama v1.61.1, consumer_group_session.go: newConsumerGroupSession calls
// manageClaims, then Setup, then startClaims; consume() reads
// pom.NextOffset()). So marking an offset here moves where the claim starts.
func (h *groupHandler) Setup(s sarama.ConsumerGroupSession) error {
	c := h.c
	claims := s.Claims()
	assigned := flatten(claims)
	ends := make(map[changefeed.Partition]int64, len(assigned))
	for _, p := range assigned {
		end, err := endOffset(h.client, p)
		if err != nil {
			return fmt.Errorf("end offset of %s/%d: %w", p.Topic, p.Partition, err)
		}
		ends[p] = end
	}

	c.mu.Lock()
	later := len(c.expected) > 0
	oldest := c.restartsAtOldest(assigned)
	var fresh []changefeed.Partition
	for _, p := range assigned {
		if _, owned := c.expected[p]; !owned && !slices.Contains(oldest, p) {
			fresh = append(fresh, p)
		}
	}
	c.mu.Unlock()
	// A partition this process has never owned starts at its newest
	// offset whatever the group committed: what came before is history the
	// empty cache does not need.
	for _, p := range fresh {
		moveTo(s, p, ends[p])
	}
	// A partition of a replaced or newly appeared topic starts at the
	// oldest offset the broker has: all there is of that topic.
	for _, p := range oldest {
		start, err := offsetAt(h.client, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("oldest offset of %s/%d: %w", p.Topic, p.Partition, err)
		}
		moveTo(s, p, start)
	}
	c.restarted(oldest)

	sess := newSession(h.topics, assigned, ends, h.ownsAll(claims), later)
	sess.restarted = oldest
	c.mu.Lock()
	c.session = sess
	c.mu.Unlock()
	c.log.Info("kafka session assigned", "partitions", len(assigned), "complete", sess.complete,
		"moved_to_newest", len(fresh), "moved_to_oldest", len(oldest), "generation", s.GenerationID())
	if len(assigned) == 0 {
		sess.start(c.feed) // no claim will come to start it
	}
	return nil
}

// Cleanup runs once every claim has returned, before the final commit.
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error {
	c := h.c
	c.mu.Lock()
	sess := c.session
	c.session = nil
	c.mu.Unlock()
	if sess != nil && sess.isStarted() {
		c.feed.SessionEnded()
	}
	return nil
}

// moveTo makes p's claim start at offset whatever the group committed:
// ResetOffset moves the mark down, MarkOffset up; one of them lands it
// exactly there.
func moveTo(s sarama.ConsumerGroupSession, p changefeed.Partition, offset int64) {
	s.ResetOffset(p.Topic, p.Partition, offset, "")
	s.MarkOffset(p.Topic, p.Partition, offset, "")
}

// ownsAll reports whether the claims cover every partition of every topic
// of the session.
func (h *groupHandler) ownsAll(claims map[string][]int32) bool {
	for _, t := range h.topics {
		parts, err := h.client.Partitions(t)
		if err != nil || len(parts) == 0 {
			return false
		}
		owned := claims[t]
		for _, p := range parts {
			if !slices.Contains(owned, p) {
				return false
			}
		}
	}
	return true
}

func flatten(claims map[string][]int32) []changefeed.Partition {
	var out []changefeed.Partition
	for t, ps := range claims {
		for _, p := range ps {
			out = append(out, changefeed.Partition{Topic: t, Partition: p})
		}
	}
	slices.SortFunc(out, func(a, b changefeed.Partition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// checkStart compares where a claim starts with where this process left the
// partition, and records the new position.
func (c *Consumer) checkStart(sess *session, p changefeed.Partition, start, end int64, reset bool) {
	c.mu.Lock()
	want, owned := c.expected[p]
	c.expected[p] = start
	c.mu.Unlock()

	if !c.isTable(p.Topic) || slices.Contains(sess.restarted, p) {
		return // nothing wrong left in the cache, or already reported
	}
	var reason string
	switch {
	case !owned:
		if sess.later && start > 0 {
			reason = fmt.Sprintf("partition first owned after the process started, at offset %d; earlier events were not seen", start)
		}
	case end < want:
		reason = fmt.Sprintf("topic truncated or recreated: end offset %d is below the expected offset %d", end, want)
	case reset:
		// Even start == want is suspect here: a broker that lost its data
		// may have been written up to the same offset again. Setup marks
		// every partition it takes, so a commit missing is itself abnormal.
		reason = fmt.Sprintf("no usable committed offset (lost, or out of range); restarted at the oldest offset %d, expected %d", start, want)
	case start > want:
		reason = fmt.Sprintf("start jumped forward from the expected offset %d to %d", want, start)
	}
	// start < want is a re-delivery: harmless, versions make it a no-op.
	if reason != "" {
		c.gap(p, reason)
	}
}
