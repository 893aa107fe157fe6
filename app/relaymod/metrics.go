package relaymod

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/relay"
)

// Metrics reports the relay to Prometheus (relay.Metrics).
type Metrics struct {
	events       *prometheus.CounterVec
	errors       *prometheus.CounterVec
	fileIndex    prometheus.Gauge
	position     prometheus.Gauge
	state        prometheus.Gauge
	heartbeats   prometheus.Counter
	stopped      *prometheus.GaugeVec
	rowMetadata  prometheus.Gauge
	checkpointed atomic.Int64 // unix nanos of the last save; process start before one
	// caughtUp: unix nanos up to which Kafka holds every change of the
	// database; 0 until the first acknowledgement says.
	caughtUp atomic.Int64
	started  time.Time
	now      func() time.Time
}

// NewMetrics registers the relay's metrics on reg:
//
//	gintoki_relay_events_total{table,op}      changes Kafka acknowledged
//	gintoki_relay_errors_total{stage}         failures by stage: mysql, kafka, checkpoint
//	gintoki_relay_binlog_file_index           numeric suffix of the acknowledged binlog file
//	gintoki_relay_binlog_position_bytes       acknowledged position within that file
//	gintoki_relay_lag_seconds                 time since Kafka last held every change of the database
//	gintoki_relay_checkpoint_age_seconds      time since the saved checkpoint was last current
//	gintoki_relay_state                       0 starting, 1 snapshotting, 2 streaming, 3 reconnecting, 4 stopped
//	gintoki_relay_heartbeats_total            source heartbeats on Kafka
//	gintoki_relay_stopped{reason}             1 for the reason the relay stopped for good, else 0
//	gintoki_relay_binlog_row_metadata_full    1 when the server writes binlog_row_metadata=FULL, 0 when not, -1 before it was asked
func NewMetrics(reg prometheus.Registerer, now func() time.Time) (*Metrics, error) {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gintoki_relay_events_total",
			Help: "Row changes the relay published and Kafka acknowledged, by table (db.table) and op (c, u, d, r).",
		}, []string{"table", "op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gintoki_relay_errors_total",
			Help: "Relay failures by stage (mysql, kafka, checkpoint); each ended a session or a checkpoint save.",
		}, []string{"stage"}),
		fileIndex: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gintoki_relay_binlog_file_index",
			Help: "Numeric suffix of the binlog file everything before which is on Kafka (3 for mysql-bin.000003).",
		}),
		position: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gintoki_relay_binlog_position_bytes",
			Help: "Position within that binlog file everything before which is on Kafka.",
		}),
		state: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gintoki_relay_state",
			Help: "Relay state: 0 starting, 1 snapshotting, 2 streaming, 3 reconnecting, 4 stopped.",
		}),
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gintoki_relay_heartbeats_total",
			Help: "Source heartbeats (Debezium format, __debezium-heartbeat.<prefix>) on Kafka; sent only while streaming and caught up.",
		}),
		stopped: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gintoki_relay_stopped",
			Help: "1 for the reason the relay stopped for good (binlog_purged, table_changed, unsupported, privileges, server_settings, missing_table, schema_mapping, other): " +
				"it reads no more changes and the process waits, not ready, for SIGTERM; 0 for every other reason.",
		}, []string{"reason"}),
		rowMetadata: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gintoki_relay_binlog_row_metadata_full",
			Help: "1 when the source server writes binlog_row_metadata=FULL (a table altered while the relay is down stays readable), " +
				"0 when it does not (such an ALTER stops the relay), -1 before the relay asked.",
		}),
		now: now,
	}
	for _, r := range relay.StopReasons() {
		m.stopped.WithLabelValues(string(r)).Set(0)
	}
	m.rowMetadata.Set(-1)
	m.started = now()
	m.checkpointed.Store(m.started.UnixNano())
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gintoki_relay_lag_seconds",
		Help: "Seconds since Kafka last held every change of the database: since the time of the last change published, or of the last binlog heartbeat heard after it " +
			"(an idle server sends one every --relay-heartbeat). Grows while the relay cannot read the binlog or publish; counted from start before the first.",
	}, m.lagSeconds)
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gintoki_relay_checkpoint_age_seconds",
		Help: "Seconds since the saved binlog checkpoint last matched the acknowledged position (below --relay-checkpoint-interval when healthy; grows while saves fail; counted from start before the first).",
	}, func() float64 { return m.now().Sub(time.Unix(0, m.checkpointed.Load())).Seconds() })
	for _, c := range []prometheus.Collector{m.events, m.errors, m.fileIndex, m.position, lag, m.state, age, m.heartbeats, m.stopped, m.rowMetadata} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				return nil, fmt.Errorf("relay metrics: %w (one relay per registry)", err)
			}
			return nil, fmt.Errorf("relay metrics: %w", err)
		}
	}
	return m, nil
}

// HeartbeatSent implements relay.Metrics.
func (m *Metrics) HeartbeatSent() { m.heartbeats.Inc() }

// Published implements relay.Metrics.
func (m *Metrics) Published(table string, op domain.Op) {
	m.events.WithLabelValues(table, op.String()).Inc()
}

// Acknowledged implements relay.Metrics.
func (m *Metrics) Acknowledged(pos relay.Position, caughtUp time.Time) {
	if n, ok := fileIndex(pos.File); ok {
		m.fileIndex.Set(float64(n))
	}
	m.position.Set(float64(pos.Pos))
	if caughtUp.IsZero() {
		return
	}
	// Never backwards: binlog times have whole seconds, so a change can
	// carry a time before the heartbeat heard just ahead of it.
	t := caughtUp.UnixNano()
	for {
		old := m.caughtUp.Load()
		if t <= old || m.caughtUp.CompareAndSwap(old, t) {
			return
		}
	}
}

func (m *Metrics) lagSeconds() float64 {
	since := m.started
	if t := m.caughtUp.Load(); t != 0 {
		since = time.Unix(0, t)
	}
	return max(0, m.now().Sub(since).Seconds())
}

// Checkpointed implements relay.Metrics.
func (m *Metrics) Checkpointed(cp relay.Checkpoint) {
	at := cp.SavedAt
	if at.IsZero() {
		at = m.now()
	}
	m.checkpointed.Store(at.UnixNano())
}

// Failed implements relay.Metrics.
func (m *Metrics) Failed(stage string) { m.errors.WithLabelValues(stage).Inc() }

// Stopped implements relay.Metrics.
func (m *Metrics) Stopped(reason relay.StopReason) { m.stopped.WithLabelValues(string(reason)).Set(1) }

// RowMetadataFull records whether the server writes full row metadata.
func (m *Metrics) RowMetadataFull(full bool) {
	v := 0.0
	if full {
		v = 1
	}
	m.rowMetadata.Set(v)
}

// StateChanged implements relay.Metrics.
func (m *Metrics) StateChanged(s relay.State) { m.state.Set(float64(s)) }

// fileIndex reads the number after the last dot of a binlog file name.
func fileIndex(file string) (uint64, bool) {
	i := strings.LastIndexByte(file, '.')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(file[i+1:], 10, 64)
	return n, err == nil
}
