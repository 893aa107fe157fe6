package relaymod

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gintoki/gintoki/adapter/binlog"
	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/usecase/relay"
)

// newSource is the binlog source, whose start-up check also checks the
// schema mapping when one is given.
func newSource(c Config, src *binlog.Source, log *slog.Logger) relay.Source {
	if !c.Schema.Mapped() {
		return src
	}
	return &mappedSource{Source: src, checkMapping: mappingCheck(c, log)}
}

// mappedSource checks the schema mapping against the database before the
// source's own check, as serve does at start: a mapping the read nodes
// cannot use stops the relay before it publishes anything, with the line
// that says what to change, instead of filling topics no node can read.
type mappedSource struct {
	relay.Source
	checkMapping func(context.Context) error
}

func (s *mappedSource) Check(ctx context.Context) error {
	err := s.checkMapping(ctx)
	if err == nil {
		return s.Source.Check(ctx)
	}
	if relay.IsPermanent(err) {
		return err
	}
	// The database could not be asked. The source's check says why in the
	// relay's terms (a wrong password stops it, an unreachable server is
	// retried), and otherwise the mapping's error is retried.
	if serr := s.Source.Check(ctx); serr != nil {
		return serr
	}
	return err
}

// mappingCheck checks c's mapping with gormrepo.CheckMapping over a
// connection of its own: a *MismatchError stops the relay for good, a
// missing table as missing_table and anything else as schema_mapping;
// other errors are the database's, and retried.
func mappingCheck(c Config, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		dsn, err := database.ParseDSN(c.DSN)
		if err != nil {
			return relay.Permanent(relay.StopOther, fmt.Errorf("--db: %w", err))
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		db, err := database.Open(ctx, dsn, database.PoolConfig{MaxOpen: 1}, nil, database.WithLogger(log, time.Second))
		if err != nil {
			return fmt.Errorf("check the schema mapping %s: %w", c.Schema.File, err)
		}
		defer func() { _ = database.Close(db) }()
		err = gormrepo.CheckMapping(ctx, db, c.Schema.Mapping)
		var mismatch *gormrepo.MismatchError
		switch {
		case err == nil:
			m := c.Schema.Mapping
			log.Info("schema mapping checked", "file", c.Schema.File, "tables", m.Tables(), "binlog_order", m.NeedsPositions())
			return nil
		case errors.As(err, &mismatch):
			reason := relay.StopSchemaMapping
			if mismatch.MissingTable {
				reason = relay.StopMissingTable
			}
			return relay.Permanent(reason, fmt.Errorf("--schema %s: %w", c.Schema.File, err))
		}
		return fmt.Errorf("check the schema mapping %s: %w", c.Schema.File, err)
	}
}
