package middleware

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

// AccessLog logs one request in every N. At tens of thousands of requests a
// second a line per request would cost more than serving it; a sample still
// shows what traffic looks like. All routes share one counter.
type AccessLog struct {
	logger *slog.Logger
	every  uint64
	seen   atomic.Uint64
}

// NewAccessLog logs 1 in every requests through logger; every < 1 means 1.
func NewAccessLog(logger *slog.Logger, every int) *AccessLog {
	if every < 1 {
		every = 1
	}
	return &AccessLog{logger: logger, every: uint64(every)}
}

// Route returns the middleware for one route; route is logged as given,
// never the raw path.
func (a *AccessLog) Route(route string) gin.HandlerFunc {
	return func(c *gin.Context) {
		// The first request is logged, so a quiet instance still shows one.
		if (a.seen.Add(1)-1)%a.every != 0 {
			c.Next()
			return
		}
		ctx := c.Request.Context()
		start := time.Now()
		c.Next()
		a.logger.LogAttrs(ctx, slog.LevelInfo, "http request",
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.Int("status", c.Writer.Status()),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", RequestIDFrom(ctx)),
		)
	}
}
