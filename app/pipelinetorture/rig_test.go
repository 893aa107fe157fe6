package pipelinetorture

import (
	"strconv"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/gintoki/gintoki/adapter/kafkaconsumer"
	"github.com/gintoki/gintoki/app/apptest/rig"
	"github.com/gintoki/gintoki/infrastructure/database"
)

const (
	topicPrefix = "torture"
	partitions  = 3
	startLimit  = rig.StartLimit
)

// pipeline is the database, the broker, the relay process and the read
// node processes of one run (package rig), with what readers saw of each
// node.
type pipeline struct {
	*rig.Pipeline
	nodes []*node
}

// node is one read node and the newest states its readers have seen.
type node struct {
	*rig.Node
	seen *seen
}

func newPipeline(t *testing.T, dsn database.DSN, gdb *gorm.DB, nodes int) *pipeline {
	p := &pipeline{Pipeline: rig.New(t, dsn, gdb, rig.Options{Prefix: topicPrefix, Nodes: nodes, Partitions: partitions})}
	for _, n := range p.Nodes {
		p.nodes = append(p.nodes, &node{Node: n, seen: &seen{rows: map[rowKey]uint64{}, whs: map[int64]uint64{}}})
	}
	return p
}

// eventCounts sums a node's gintoki_cdc_events_total by outcome.
func eventCounts(text string) map[string]float64 {
	out := map[string]float64{}
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, kafkaconsumer.EventsTotalName+"{") {
			continue
		}
		_, rest, ok := strings.Cut(l, `outcome="`)
		if !ok {
			continue
		}
		outcome, _, _ := strings.Cut(rest, `"`)
		v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		if err == nil {
			out[outcome] += v
		}
	}
	return out
}

// disruptions counts what a run did to the processes.
type disruptions struct {
	relayKills, nodeTerms, nodeKills, brokerRestarts, binlogRotations int
}
