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

// node is one read node.
type node struct {
	*rig.Node
}

// newPipeline prepares the pipeline; schema is the mapping file the relay
// and the nodes get ("" for gintoki's own tables).
func newPipeline(t *testing.T, dsn database.DSN, gdb *gorm.DB, nodes int, schema string) *pipeline {
	p := &pipeline{Pipeline: rig.New(t, dsn, gdb, rig.Options{Prefix: topicPrefix, Nodes: nodes, Partitions: partitions, Schema: schema})}
	for _, n := range p.Nodes {
		p.nodes = append(p.nodes, &node{Node: n})
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
