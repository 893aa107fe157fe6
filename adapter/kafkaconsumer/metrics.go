package kafkaconsumer

import (
	"strconv"

	"github.com/gintoki/gintoki/infrastructure/telemetry"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gintoki/gintoki/usecase/changefeed"
	"github.com/gintoki/gintoki/usecase/inventory"
)

// Metric names; exported so dashboards and tests do not repeat strings.
const (
	EventsTotalName      = "gintoki_cdc_events_total"
	StalenessName        = "gintoki_cdc_staleness_seconds"
	LagName              = "gintoki_cdc_consumer_lag"
	LastContactName      = "gintoki_cdc_last_contact_timestamp_seconds"
	PositionsTotalName   = "gintoki_cdc_positions_total"
	positionRead         = "read"
	positionMalformed    = "malformed"
	outcomeTombstone     = "tombstone"
	outcomeHeartbeat     = "heartbeat"
	outcomePoison        = "poison"
	outcomeSkipped       = "skipped"
	stalenessBucketCount = 16
)

type metrics struct {
	events      *prometheus.CounterVec
	staleness   *prometheus.HistogramVec
	lag         *prometheus.GaugeVec
	lastContact prometheus.Gauge
	positions   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: EventsTotalName,
			Help: "Change events consumed, by topic and outcome (applied, older, marked, flushed, tombstone, heartbeat, poison, skipped).",
		}, []string{"topic", "outcome"}),
		staleness: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: StalenessName,
			Help: "Time from the change in the database (source ts_ms) to its event being applied.",
			// 1 ms to 60 s: sub-millisecond is below the clock skew between
			// hosts anyway, and past a minute the bound on staleness acts.
			Buckets: prometheus.ExponentialBucketsRange(0.001, 60, stalenessBucketCount),
		}, []string{"topic"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: LagName,
			Help: "Messages between the partition's end offset and this consumer's position.",
		}, []string{"topic", "partition"}),
		lastContact: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: LastContactName,
			Help: "Unix time the broker last answered the end-offset poll for every owned partition.",
		}),
		positions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: PositionsTotalName,
			Help: "Source positions read from heartbeats (gintoki relay's gintoki_position), by outcome: read, or malformed (ignored).",
		}, []string{"outcome"}),
	}
	if reg != nil {
		if err := m.register(reg); err != nil {
			return nil, err
		}
	}
	// Both shown from the start, so a rate of malformed is 0, not absent.
	for _, o := range []string{positionRead, positionMalformed} {
		m.positions.WithLabelValues(o)
	}
	return m, nil
}

func (m *metrics) register(reg prometheus.Registerer) error {
	var err error
	if m.events, err = telemetry.Register(reg, m.events); err != nil {
		return err
	}
	if m.staleness, err = telemetry.Register(reg, m.staleness); err != nil {
		return err
	}
	if m.lag, err = telemetry.Register(reg, m.lag); err != nil {
		return err
	}
	if m.lastContact, err = telemetry.Register(reg, m.lastContact); err != nil {
		return err
	}
	m.positions, err = telemetry.Register(reg, m.positions)
	return err
}

// topicMetrics holds the children of one topic, resolved once so the
// per-message path does no label lookups.
type topicMetrics struct {
	topic      string
	events     *prometheus.CounterVec
	byOutcome  map[inventory.Outcome]prometheus.Counter
	tombstone  prometheus.Counter
	heartbeats prometheus.Counter
	poison     prometheus.Counter
	skipped    prometheus.Counter
	staleness  prometheus.Observer
}

func (m *metrics) forTopic(topic string) *topicMetrics {
	tm := &topicMetrics{
		topic:      topic,
		events:     m.events,
		byOutcome:  make(map[inventory.Outcome]prometheus.Counter, 4),
		tombstone:  m.events.WithLabelValues(topic, outcomeTombstone),
		heartbeats: m.events.WithLabelValues(topic, outcomeHeartbeat),
		poison:     m.events.WithLabelValues(topic, outcomePoison),
		skipped:    m.events.WithLabelValues(topic, outcomeSkipped),
		staleness:  m.staleness.WithLabelValues(topic),
	}
	for _, o := range []inventory.Outcome{inventory.Applied, inventory.Older, inventory.Marked, inventory.Flushed, inventory.Evicted} {
		tm.byOutcome[o] = m.events.WithLabelValues(topic, o.String())
	}
	return tm
}

func (tm *topicMetrics) outcome(o inventory.Outcome) prometheus.Counter {
	if c, ok := tm.byOutcome[o]; ok {
		return c
	}
	return tm.events.WithLabelValues(tm.topic, o.String())
}

func (m *metrics) setLag(p changefeed.Partition, lag int64) {
	m.lag.WithLabelValues(p.Topic, strconv.FormatInt(int64(p.Partition), 10)).Set(float64(lag))
}
