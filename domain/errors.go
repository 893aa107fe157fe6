package domain

import (
	"errors"
	"fmt"
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

// messageError carries a caller-facing message; its kind is what errors.Is
// matches, so adapters never parse messages.
type messageError struct {
	kind error
	msg  string
}

func (e *messageError) Error() string { return e.msg }
func (e *messageError) Unwrap() error { return e.kind }
