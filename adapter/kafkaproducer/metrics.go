package kafkaproducer

import (
	"errors"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gintoki/gintoki/infrastructure/telemetry"
)

type metrics struct {
	published, failed *prometheus.CounterVec
}

// newMetrics registers the counters on reg, or shares those another
// publisher registered there; nil reg counts nothing.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	var vecs [2]*prometheus.CounterVec
	for i, opts := range [...]prometheus.CounterOpts{
		{Name: "gintoki_cdc_published_total", Help: "Change-event messages (events and tombstones) acknowledged by Kafka, by topic."},
		{Name: "gintoki_cdc_publish_errors_total", Help: "Change-event messages Kafka did not acknowledge, by topic."},
	} {
		var err error
		if vecs[i], err = telemetry.Register(reg, prometheus.NewCounterVec(opts, []string{"topic"})); err != nil {
			return nil, err
		}
	}
	return &metrics{published: vecs[0], failed: vecs[1]}, nil
}

// record counts each message of a send as published or failed: when sarama
// names the messages that failed, only those.
func (p *Publisher) record(msgs []*sarama.ProducerMessage, err error) {
	m := p.metrics
	if m == nil {
		return
	}
	failed := map[*sarama.ProducerMessage]bool{}
	var perrs sarama.ProducerErrors
	if errors.As(err, &perrs) {
		for _, pe := range perrs {
			failed[pe.Msg] = true
		}
	}
	for _, msg := range msgs {
		if err != nil && (len(perrs) == 0 || failed[msg]) {
			m.failed.WithLabelValues(msg.Topic).Inc()
			continue
		}
		m.published.WithLabelValues(msg.Topic).Inc()
	}
}
