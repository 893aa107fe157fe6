package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gintoki/gintoki/adapter/internal/jsonstr"
)

// ReadinessTimeout bounds one readiness check, so a hung dependency makes
// the probe fail rather than hang.
const ReadinessTimeout = 2 * time.Second

var (
	healthyBody = []byte(`{"status":"ok"}`)
	readyBody   = []byte(`{"status":"ready"}`)
)

// healthz answers 200 while the process can serve HTTP at all.
func healthz(c *gin.Context) {
	writeJSON(c, http.StatusOK, healthyBody)
}

func readyz(checker ReadinessChecker) gin.HandlerFunc {
	return func(c *gin.Context) {
		if checker == nil {
			writeJSON(c, http.StatusOK, readyBody)
			return
		}
		ctx, cancel := context.WithTimeout(c.Request.Context(), ReadinessTimeout)
		err := checker.Ready(ctx)
		cancel()
		if err == nil {
			writeJSON(c, http.StatusOK, readyBody)
			return
		}
		buf := getBuffer()
		b := append((*buf)[:0], `{"status":"not_ready","reason":`...)
		b = jsonstr.AppendHTMLSafe(b, err.Error())
		*buf = append(b, '}')
		writeJSON(c, http.StatusServiceUnavailable, *buf)
		putBuffer(buf)
	}
}

func metricsHandler(g prometheus.Gatherer, logger *slog.Logger) gin.HandlerFunc {
	return gin.WrapH(promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog: promLogger{logger},
		// A failing collector should not hide every other metric.
		ErrorHandling: promhttp.ContinueOnError,
	}))
}

// promLogger passes promhttp's error lines to slog.
type promLogger struct{ logger *slog.Logger }

func (l promLogger) Println(v ...any) {
	l.logger.Error("serving metrics", slog.String("error", fmt.Sprint(v...)))
}
