// Package kafkaconsumer reads the Debezium change feed from Kafka with a
// sarama consumer group, applies each event to the cache, and tells the
// change-feed tracker what it sees: which partitions it owns, where they
// start and end, when the broker answers, and when events may have been lost.
//
// Offsets: the first session of a process starts every partition at its
// newest offset (the cache starts empty, so history is not needed), whatever
// the group committed before. From then on it marks each message once handled
// and commits, so a later session — after a rebalance or a broker loss —
// resumes exactly there. A start past the expected offset, an end below it,
// an offset the broker no longer has, a group that lost its offsets, or a
// topic deleted or created again is reported as a gap, and the partition
// continues from the oldest offset the broker still has: nothing cached
// before the gap survives it (the tracker flushes), and nothing the broker
// holds after it is skipped.
package kafkaconsumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/gintoki/gintoki/adapter/fleetcontrol"
	"github.com/gintoki/gintoki/usecase/changefeed"
	"github.com/gintoki/gintoki/usecase/pace"
)

// Options are the consumer's collaborators; zero values get defaults.
type Options struct {
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	// TracerProvider defaults to the global one.
	TracerProvider trace.TracerProvider
	// PollInterval is how often the end offsets are polled; default 1s.
	PollInterval time.Duration
	// BootstrapRefused is told why the table topics cannot bootstrap the
	// cache (Config.Bootstrap); the consumer then starts at their newest
	// offsets, as without a bootstrap.
	BootstrapRefused func(reason string)
}

// DefaultPollInterval is the end-offset poll period when none is given.
const DefaultPollInterval = time.Second

// Retry and log pacing. The consumer's tunable timing (the end-offset poll)
// is an Option; these are not worth tuning.
const (
	retryMin      = 250 * time.Millisecond
	retryMax      = 5 * time.Second
	topicRetry    = 2 * time.Second
	topicLogEvery = 30 * time.Second
	poisonLogGap  = 10 * time.Second
	errorLogGap   = 5 * time.Second
)

// maxBatch bounds how many already-fetched messages one span covers.
const maxBatch = 500

// Consumer consumes the change feed. Start it once per process; a new
// Consumer value is a new process as far as offsets are concerned.
type Consumer struct {
	cfg       Config
	sc        *sarama.Config
	applier   Applier
	feed      Feed
	log       *slog.Logger
	tracer    trace.Tracer
	metrics   *metrics
	stock     *topicMetrics
	warehouse *topicMetrics
	control   *topicMetrics
	heartbeat *topicMetrics
	pollEvery time.Duration
	// required are the topics that must exist (the tables'); optional are
	// consumed while they exist (the control topic, created when missing,
	// and the heartbeat topic, which the source creates).
	required []string
	optional []string

	lifeMu sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	// stopping is the previous run's done channel, kept when Stop gave up
	// waiting, so a new Start cannot overlap a run still shutting down.
	stopping chan struct{}

	// mu guards the process memory below. Feed calls that must not
	// interleave with a session's start and end are made under it too.
	mu sync.Mutex
	// expected is, per partition this process has owned, the next offset
	// it expects: last handled + 1, or where its claim started.
	expected map[changefeed.Partition]int64
	session  *session
	// endSession ends the running session, so the next one starts with
	// the topics as they are now.
	endSession context.CancelFunc
	// ids is each topic's id as last seen (zero when unknown); fromOldest
	// are the topics whose partitions start at their oldest offset in the
	// next session (see observeTopics).
	ids        map[string]sarama.Uuid
	fromOldest map[string]bool
	topicLog   map[string]time.Time
	// controlCreated: this process created the control topic once.
	controlCreated bool

	// bootstrapRefused: see Options.BootstrapRefused.
	bootstrapRefused func(reason string)
	errLog           logLimiter
	sourceShape      sourceShape
}

// New checks cfg and builds a consumer; nothing connects until Start.
func New(cfg Config, applier Applier, feed Feed, opts Options) (*Consumer, error) {
	if applier == nil || feed == nil {
		return nil, errors.New("kafka consumer: applier and feed are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka consumer config: %w", err)
	}
	sc, err := cfg.saramaConfig(opts.Logger)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	tp := opts.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	poll := opts.PollInterval
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	c := &Consumer{
		cfg:              cfg,
		sc:               sc,
		applier:          applier,
		feed:             feed,
		log:              log.With("component", "kafka-consumer"),
		tracer:           tp.Tracer("github.com/gintoki/gintoki/adapter/kafkaconsumer"),
		metrics:          m,
		stock:            m.forTopic(cfg.StockTopic),
		warehouse:        warehouseMetrics(m, cfg.WarehouseTopic),
		pollEvery:        poll,
		expected:         make(map[changefeed.Partition]int64),
		ids:              make(map[string]sarama.Uuid),
		fromOldest:       make(map[string]bool),
		topicLog:         make(map[string]time.Time),
		errLog:           logLimiter{every: errorLogGap},
		required:         cfg.tableTopics(),
		bootstrapRefused: func(string) {},
	}
	if opts.BootstrapRefused != nil {
		c.bootstrapRefused = opts.BootstrapRefused
	}
	if t := cfg.ControlTopic; t != "" {
		c.control = m.forTopic(t)
		c.optional = append(c.optional, t)
	}
	if t := cfg.HeartbeatTopic; t != "" {
		c.heartbeat = m.forTopic(t)
		c.optional = append(c.optional, t)
	}
	return c, nil
}

// Start begins consuming in the background and returns at once. An
// unreachable broker is not an error here: the consumer keeps trying, with
// backoff, until Stop. ctx only bounds Start itself.
func (c *Consumer) Start(_ context.Context) error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.done != nil {
		return errors.New("kafka consumer: already started")
	}
	if c.stopping != nil {
		select {
		case <-c.stopping:
			c.stopping = nil
		default:
			return errors.New("kafka consumer: the previous run is still stopping")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	go c.run(ctx, c.done)
	c.log.Info("kafka consumer starting", "config", c.cfg.redacted())
	return nil
}

// Stop ends the session, which commits the offsets of every handled
// message, leaves the group and closes the client. It returns when that is
// done or when ctx ends, whichever is first.
func (c *Consumer) Stop(ctx context.Context) error {
	c.lifeMu.Lock()
	cancel, done := c.cancel, c.done
	if done == nil {
		done = c.stopping // a Stop that gave up before: wait again
	} else {
		c.stopping = done
	}
	c.cancel, c.done = nil, nil
	c.lifeMu.Unlock()
	if done == nil {
		return nil
	}
	if cancel != nil {
		cancel()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kafka consumer stop: %w", ctx.Err())
	}
}

func (c *Consumer) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	client := c.connect(ctx)
	if client == nil {
		return
	}
	group, err := sarama.NewConsumerGroupFromClient(c.cfg.Group, client)
	if err != nil {
		c.log.Error("kafka consumer group cannot be created", "group", c.cfg.Group, "err", err)
		_ = client.Close()
		return
	}
	if c.cfg.Bootstrap {
		c.prepareBootstrap(client)
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.drainErrors(group.Errors()) })
	wg.Go(func() { c.pollLoop(ctx, client) })

	c.consumeLoop(ctx, client, group)

	// The session has been released by now (Consume returns only after
	// it): its final commit is done. Close leaves the group.
	if err := group.Close(); err != nil {
		c.log.Warn("kafka consumer group close", "err", err)
	}
	if err := client.Close(); err != nil && !errors.Is(err, sarama.ErrClosedClient) {
		c.log.Warn("kafka client close", "err", err)
	}
	wg.Wait()
	c.log.Info("kafka consumer stopped")
}

// connect makes the client, retrying with backoff while no broker answers.
func (c *Consumer) connect(ctx context.Context) sarama.Client {
	b := pace.Backoff{Min: retryMin, Max: retryMax}
	for {
		client, err := sarama.NewClient(c.cfg.Brokers, c.sc)
		if err == nil {
			c.log.Info("kafka brokers reached", "brokers", c.cfg.Brokers)
			return client
		}
		wait := b.Next()
		c.log.Warn("kafka brokers unreachable; retrying", "brokers", c.cfg.Brokers, "err", err, "retry_in", wait)
		if !pace.Sleep(ctx, wait) {
			return nil
		}
	}
}

// consumeLoop runs one session after another: sarama's Consume returns at
// every rebalance and whenever the session breaks. Before each, it looks
// at the topics as they are now.
func (c *Consumer) consumeLoop(ctx context.Context, client sarama.Client, group sarama.ConsumerGroup) {
	b := pace.Backoff{Min: retryMin, Max: retryMax}
	for ctx.Err() == nil {
		topics, wait, err := c.sessionTopics(client)
		if err != nil {
			c.logError("kafka topics cannot be looked up; retrying", err)
			if !pace.Sleep(ctx, b.Next()) {
				return
			}
			continue
		}
		if wait {
			if !pace.Sleep(ctx, topicRetry) {
				return
			}
			continue
		}
		sessCtx, endSession := context.WithCancel(ctx)
		c.mu.Lock()
		c.endSession = endSession
		c.mu.Unlock()
		err = group.Consume(sessCtx, topics, &groupHandler{c: c, client: client, topics: topics})
		endSession()
		if ctx.Err() != nil || errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return
		}
		if err != nil && sessCtx.Err() == nil {
			wait := b.Next()
			c.log.Warn("kafka consumer session failed; retrying", "group", c.cfg.Group, "err", err, "retry_in", wait)
			if !pace.Sleep(ctx, wait) {
				return
			}
			continue
		}
		b.Reset()
	}
}

// sessionTopics looks at every configured topic and returns those the next
// session consumes: the tables, and each optional topic that exists (the
// control topic is created when missing). wait means a table is missing, or
// not settled yet: no session can start. An error means no broker answered.
func (c *Consumer) sessionTopics(client sarama.Client) (topics []string, wait bool, err error) {
	states, err := describeTopics(client, c.allTopics())
	if err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	for _, r := range c.observeTopics(states) {
		c.reportReplaced(r)
	}
	c.mu.Unlock()
	for _, t := range c.required {
		st, known := states[t]
		if known && !st.exists {
			c.reportMissing(t)
		}
		// A topic the answer did not settle (a leader being elected) is
		// looked at again shortly.
		wait = wait || !st.exists
	}
	if wait {
		return nil, true, nil
	}
	topics = slices.Clone(c.required)
	for _, t := range c.optional {
		st, known := states[t]
		if st.exists || known && t == c.cfg.ControlTopic && c.createControlTopic(client) {
			topics = append(topics, t)
		}
	}
	return topics, false, nil
}

// createControlTopic creates the missing control topic and reports whether
// it exists now. Without it the feed goes on: a fleet flush then does not
// reach this instance, which is said, until the topic exists.
func (c *Consumer) createControlTopic(client sarama.Client) bool {
	t := c.cfg.ControlTopic
	if err := fleetcontrol.EnsureTopic(client, t); err != nil {
		c.logError("fleet control topic missing and not created: a fleet-wide flush will not reach this instance until it exists", err)
		return false
	}
	c.mu.Lock()
	again := c.controlCreated || c.ownedAny(t)
	c.controlCreated = true
	c.mu.Unlock()
	if again {
		c.log.Warn("fleet control topic was gone (deleted, or the broker lost its data); created it again", "topic", t)
	} else {
		c.log.Info("fleet control topic created", "topic", t)
	}
	return true
}

// logError logs a repeated failure at most once per errorLogGap.
func (c *Consumer) logError(msg string, err error) {
	if ok, suppressed := c.errLog.allow(time.Now()); ok {
		c.log.Warn(msg, "err", err, "suppressed", suppressed)
	}
}

func (c *Consumer) reportMissing(topic string) {
	c.feed.TopicMissing(topic)
	now := time.Now()
	c.mu.Lock()
	last, seen := c.topicLog[topic]
	logIt := !seen || now.Sub(last) >= topicLogEvery
	if logIt {
		c.topicLog[topic] = now
	}
	c.mu.Unlock()
	if logIt {
		c.log.Warn("kafka topic does not exist; no change is read until it does (a node still in its start gap stays not ready)", "topic", topic)
	}
}

// drainErrors logs the group's errors and turns an offset the broker no
// longer has into a gap.
func (c *Consumer) drainErrors(errs <-chan error) {
	for err := range errs {
		var ce *sarama.ConsumerError
		if errors.Is(err, sarama.ErrOffsetOutOfRange) && errors.As(err, &ce) {
			c.gap(changefeed.Partition{Topic: ce.Topic, Partition: ce.Partition}, "offset out of range on the broker")
			continue
		}
		c.logError("kafka consumer error", err)
	}
}

func (c *Consumer) gap(p changefeed.Partition, reason string) {
	c.log.Debug("kafka change feed gap reported", "topic", p.Topic, "partition", p.Partition, "reason", reason)
	c.feed.Gap(p, reason)
}

// pollLoop fetches the end offsets of the owned partitions every
// PollInterval: proof the broker is there (the tracker measures silence) and
// the source of the lag gauge.
func (c *Consumer) pollLoop(ctx context.Context, client sarama.Client) {
	pace.Every(ctx, c.pollEvery, func() bool { c.pollOnce(client); return true })
}

func (c *Consumer) pollOnce(client sarama.Client) {
	c.mu.Lock()
	sess := c.session
	c.mu.Unlock()
	if sess == nil || !sess.isStarted() || len(sess.assigned) == 0 {
		return
	}
	if c.topicsChanged(client, sess) {
		return // the session is ending; the next one reports its own ends
	}
	// Read before the ends are fetched: a position read after could be
	// past an end fetched before it, and look like a truncated log.
	read := c.positions(sess.assigned)
	ends := make(map[changefeed.Partition]int64, len(sess.assigned))
	for _, p := range sess.assigned {
		end, err := endOffset(client, p)
		if err != nil {
			return // silence is what the tracker measures
		}
		ends[p] = end
	}
	if c.logsTruncated(sess, read, ends) {
		return
	}
	now := time.Now()
	c.mu.Lock()
	current := c.session == sess
	if current {
		// Under mu so the contact cannot land after the session's end.
		c.feed.Contact(ends)
	}
	c.mu.Unlock()
	if !current {
		return
	}
	c.metrics.lastContact.Set(float64(now.UnixNano()) / 1e9)
	positions := c.positions(sess.assigned)
	for p, end := range ends {
		if pos, ok := positions[p]; ok {
			c.metrics.setLag(p, max(end-pos, 0))
		}
	}
}

// positions are the next offsets expected of ps, where known.
func (c *Consumer) positions(ps []changefeed.Partition) map[changefeed.Partition]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[changefeed.Partition]int64, len(ps))
	for _, p := range ps {
		if pos, ok := c.expected[p]; ok {
			out[p] = pos
		}
	}
	return out
}

// topicsChanged ends the session when its topics are no longer what it
// consumes: a topic deleted or created again (each replaced table a gap),
// or an optional topic that appeared.
func (c *Consumer) topicsChanged(client sarama.Client, sess *session) bool {
	states, err := describeTopics(client, c.allTopics())
	if err != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session != sess {
		return false
	}
	replaced := c.observeTopics(states)
	for _, r := range replaced {
		c.reportReplaced(r)
	}
	appeared := slices.ContainsFunc(c.optional, func(t string) bool {
		return states[t].exists && !slices.Contains(sess.topics, t)
	})
	if len(replaced) == 0 && !appeared {
		return false
	}
	c.endSessionLocked()
	return true
}

// logsTruncated ends the session, with a gap, when a partition's end fell
// below the position read before it was fetched: its log was truncated or
// replaced, and the claim would go on at an offset of a log that no longer
// exists, skipping what the new one holds below it.
func (c *Consumer) logsTruncated(sess *session, read, ends map[changefeed.Partition]int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session != sess {
		return false
	}
	truncated := false
	for p, end := range ends {
		if want, ok := read[p]; ok && end < want && !c.fromOldest[p.Topic] {
			c.fromOldest[p.Topic] = true
			c.reportReplaced(replacement{topic: p.Topic,
				why: fmt.Sprintf("topic truncated or recreated: end offset %d of partition %d is below the position %d", end, p.Partition, want)})
			truncated = true
		}
	}
	if truncated {
		c.endSessionLocked()
	}
	return truncated
}

// endSessionLocked ends the running session; the next one starts with the
// topics as they are then. Callers hold c.mu.
func (c *Consumer) endSessionLocked() {
	if c.endSession != nil {
		c.endSession()
	}
}

// endOffset asks the partition's leader for its high-water mark.
func endOffset(client sarama.Client, p changefeed.Partition) (int64, error) {
	return offsetAt(client, p, sarama.OffsetNewest)
}

// offsetAt asks the partition's leader for its newest or oldest offset,
// refreshing the metadata once if the leader seems to have moved.
func offsetAt(client sarama.Client, p changefeed.Partition, which int64) (int64, error) {
	off, err := client.GetOffset(p.Topic, p.Partition, which)
	if err == nil {
		return off, nil
	}
	if rerr := client.RefreshMetadata(p.Topic); rerr != nil {
		return 0, err
	}
	return client.GetOffset(p.Topic, p.Partition, which)
}

// logLimiter lets one line through per period and counts the rest, so a
// flood of identical failures does not flood the log.
type logLimiter struct {
	every      time.Duration
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return false, 0
	}
	l.last, suppressed, l.suppressed = now, l.suppressed, 0
	return true, suppressed
}

// warehouseMetrics are the warehouse topic's, nil when there is none (the
// schema has no warehouses table): no series for a topic never read.
func warehouseMetrics(m *metrics, topic string) *topicMetrics {
	if topic == "" {
		return nil
	}
	return m.forTopic(topic)
}
