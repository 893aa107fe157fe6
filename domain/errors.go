package domain

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors every adapter maps to its own status codes.
var (
	// ErrNotFound: the product has no stock row in an active warehouse.
	ErrNotFound = errors.New("not found")
	// ErrInvalidArgument: the request itself is wrong; retrying will not help.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnavailable: the answer needs the database and the database cannot
	// take the query now (down, overloaded, too slow). Retry later.
	ErrUnavailable = errors.New("unavailable")
)

// InvalidArgumentf returns an error that wraps ErrInvalidArgument with a
// message meant for the caller.
func InvalidArgumentf(format string, args ...any) error {
	return &messageError{kind: ErrInvalidArgument, msg: fmt.Sprintf(format, args...)}
}

// NotFoundf returns an error that wraps ErrNotFound with a message.
func NotFoundf(format string, args ...any) error {
	return &messageError{kind: ErrNotFound, msg: fmt.Sprintf(format, args...)}
}

// Unavailablef returns an error that wraps ErrUnavailable with a message.
func Unavailablef(format string, args ...any) error {
	return &messageError{kind: ErrUnavailable, msg: fmt.Sprintf(format, args...)}
}

// StaleNotFoundf is NotFoundf for a possibly stale answer (see
// ProductInventory.StaleFor): the cache held the product as not found, and
// neither the change feed nor the database could confirm it for staleFor.
func StaleNotFoundf(staleFor time.Duration, format string, args ...any) error {
	return &messageError{kind: ErrNotFound, msg: fmt.Sprintf(format, args...), staleFor: staleFor}
}

// StaleFor is how long the answer err stands for has been unconfirmed
// (StaleNotFoundf); zero for every other error.
func StaleFor(err error) time.Duration {
	var m *messageError
	if errors.As(err, &m) {
		return m.staleFor
	}
	return 0
}

// messageError carries a caller-facing message; its kind is what errors.Is
// matches, so adapters never parse messages.
type messageError struct {
	kind     error
	msg      string
	staleFor time.Duration
}

func (e *messageError) Error() string { return e.msg }
func (e *messageError) Unwrap() error { return e.kind }
