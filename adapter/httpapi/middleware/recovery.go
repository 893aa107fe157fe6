package middleware

import (
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/gin-gonic/gin"
)

// Recovery turns a panic further down the chain into a logged error and,
// when nothing has been written yet, a response made by respond. A panic
// with http.ErrAbortHandler is passed on: it is net/http's way to drop the
// connection on purpose.
func Recovery(logger *slog.Logger, respond gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if err, ok := rec.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(rec)
			}
			ctx := c.Request.Context()
			logger.LogAttrs(ctx, slog.LevelError, "panic while serving request",
				slog.String("request_id", RequestIDFrom(ctx)),
				slog.String("method", c.Request.Method),
				slog.String("route", c.FullPath()),
				slog.Any("panic", rec),
				slog.String("stack", string(debug.Stack())),
			)
			if !c.Writer.Written() {
				respond(c)
			}
			c.Abort()
		}()
		c.Next()
	}
}
