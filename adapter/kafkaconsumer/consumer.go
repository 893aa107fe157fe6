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
// or an offset the broker no longer has is reported as a gap.
package kafkaconsumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
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
}

// DefaultPollInterval is the end-offset poll period when none is given.
const DefaultPollInterval = time.Second

// Retry pacing. Variables so tests can shorten them.
var (
	retryMin   = 250 * time.Millisecond
	retryMax   = 5 * time.Second
	topicRetry = 2 * time.Second
	// heartbeatTopicCheck is how often a missing heartbeat topic is looked
	// for: the source creates it with its first heartbeat.
	heartbeatTopicCheck = 10 * time.Second
	topicLogEvery       = 30 * time.Second
	poisonLogGap        = 10 * time.Second
	errorLogGap         = 5 * time.Second
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
	// required are the topics that must exist: the tables' and the control
	// topic once it does. topics are those consumed: required, and the
	// heartbeat topic once it exists. Set by the run's goroutine before a
	// session starts; sessions read them.
	required []string
	topics   []string

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
	topicLog map[string]time.Time

	errLog      logLimiter
	sourceShape sourceShape
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
	return &Consumer{
		cfg:       cfg,
		sc:        sc,
		applier:   applier,
		feed:      feed,
		log:       log.With("component", "kafka-consumer"),
		tracer:    tp.Tracer("github.com/gintoki/gintoki/adapter/kafkaconsumer"),
		metrics:   m,
		stock:     m.forTopic(cfg.StockTopic),
		warehouse: m.forTopic(cfg.WarehouseTopic),
		pollEvery: poll,
		expected:  make(map[changefeed.Partition]int64),
		topicLog:  make(map[string]time.Time),
		errLog:    logLimiter{every: errorLogGap},
	}, nil
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
	c.required = c.cfg.tableTopics()
	if t := c.cfg.ControlTopic; t != "" {
		c.control = c.metrics.forTopic(t)
		if err := fleetcontrol.EnsureTopic(client, t); err != nil {
			c.log.Warn("fleet control topic unavailable: a fleet-wide flush will not reach this instance; create the topic (1 partition) and restart",
				"topic", t, "err", err)
		} else {
			c.required = append(c.required, t)
		}
	}
	c.topics = c.required
	if t := c.cfg.HeartbeatTopic; t != "" {
		c.heartbeat = c.metrics.forTopic(t)
		if c.heartbeatTopicExists(client) {
			c.subscribeHeartbeats()
		}
	}
	group, err := sarama.NewConsumerGroupFromClient(c.cfg.Group, client)
	if err != nil {
		c.log.Error("kafka consumer group cannot be created", "group", c.cfg.Group, "err", err)
		_ = client.Close()
		return
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
// every rebalance and whenever the session breaks.
func (c *Consumer) consumeLoop(ctx context.Context, client sarama.Client, group sarama.ConsumerGroup) {
	h := &groupHandler{c: c, client: client}
	b := pace.Backoff{Min: retryMin, Max: retryMax}
	for ctx.Err() == nil {
		topics := c.topics
		if missing := c.missingTopics(client); len(missing) > 0 {
			for _, t := range missing {
				c.reportMissing(t)
			}
			if !pace.Sleep(ctx, topicRetry) {
				return
			}
			continue
		}
		sessCtx, endSession := context.WithCancel(ctx)
		var appeared atomic.Bool
		watched := c.watchHeartbeatTopic(sessCtx, client, endSession, &appeared)
		err := group.Consume(sessCtx, topics, h)
		endSession()
		<-watched
		if ctx.Err() != nil || errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return
		}
		if appeared.Load() {
			c.subscribeHeartbeats() // and join again with it
			continue
		}
		if err != nil {
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

// missingTopics asks the broker about each configured topic. A broker that
// cannot be asked is not evidence that a topic is missing.
func (c *Consumer) missingTopics(client sarama.Client) []string {
	var missing []string
	for _, t := range c.required {
		if err := client.RefreshMetadata(t); errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			missing = append(missing, t)
		}
	}
	return missing
}

func (c *Consumer) heartbeatTopicExists(client sarama.Client) bool {
	return !errors.Is(client.RefreshMetadata(c.cfg.HeartbeatTopic), sarama.ErrUnknownTopicOrPartition)
}

func (c *Consumer) subscribeHeartbeats() {
	c.topics = append(slices.Clip(c.required), c.cfg.HeartbeatTopic)
	c.log.Info("source heartbeats consumed", "topic", c.cfg.HeartbeatTopic)
}

// watchHeartbeatTopic, while the heartbeat topic is configured but not
// consumed, looks for it every heartbeatTopicCheck and, once it exists, sets
// appeared and ends the session (endSession) so the next one consumes it.
// The returned channel closes when the watch is over (at the latest when ctx
// ends).
func (c *Consumer) watchHeartbeatTopic(ctx context.Context, client sarama.Client, endSession context.CancelFunc, appeared *atomic.Bool) <-chan struct{} {
	done := make(chan struct{})
	if c.cfg.HeartbeatTopic == "" || slices.Contains(c.topics, c.cfg.HeartbeatTopic) {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		pace.Every(ctx, heartbeatTopicCheck, func() bool {
			if !c.heartbeatTopicExists(client) {
				return true
			}
			appeared.Store(true)
			endSession()
			return false
		})
	}()
	return done
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
		c.log.Warn("kafka topic does not exist; waiting for it (the instance stays not ready)", "topic", topic)
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
		if ok, suppressed := c.errLog.allow(time.Now()); ok {
			c.log.Warn("kafka consumer error", "err", err, "suppressed", suppressed)
		}
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
	ends := make(map[changefeed.Partition]int64, len(sess.assigned))
	for _, p := range sess.assigned {
		end, err := endOffset(client, p)
		if err != nil {
			return // silence is what the tracker measures
		}
		ends[p] = end
	}
	now := time.Now()
	c.mu.Lock()
	current := c.session == sess
	if current {
		// Under mu so the contact cannot land after the session's end.
		c.feed.Contact(ends)
	}
	positions := make(map[changefeed.Partition]int64, len(ends))
	for p := range ends {
		if pos, ok := c.expected[p]; ok {
			positions[p] = pos
		}
	}
	c.mu.Unlock()
	if !current {
		return
	}
	c.metrics.lastContact.Set(float64(now.UnixNano()) / 1e9)
	for p, end := range ends {
		if pos, ok := positions[p]; ok {
			c.metrics.setLag(p, max(end-pos, 0))
		}
	}
}

// endOffset asks the partition's leader for its high-water mark, refreshing
// the metadata once if the leader seems to have moved.
func endOffset(client sarama.Client, p changefeed.Partition) (int64, error) {
	end, err := client.GetOffset(p.Topic, p.Partition, sarama.OffsetNewest)
	if err == nil {
		return end, nil
	}
	if rerr := client.RefreshMetadata(p.Topic); rerr != nil {
		return 0, err
	}
	return client.GetOffset(p.Topic, p.Partition, sarama.OffsetNewest)
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
