// Package telemetry builds the logger, the trace provider and the Prometheus
// registry a process reports through.
package telemetry

import (
	"io"
	"log/slog"
)

// NewLogger returns a JSON or text slog logger at level.
func NewLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
