package debezium

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gintoki/gintoki/adapter/internal/jsonwalk"
)

var (
	// ErrTombstone is returned for a null or empty message value: the
	// tombstone log compaction needs after a delete. It is not poison; the
	// delete event before it (or the message key) says which row went away.
	ErrTombstone = errors.New("debezium: tombstone (null value)")

	// ErrNotRowEvent is returned for a message that carries no row change:
	// transaction metadata, a schema change, a heartbeat, a logical message
	// or no-op. Callers skip it.
	ErrNotRowEvent = errors.New("debezium: not a row change event")

	// ErrMalformed is wrapped by every error about a message that cannot be
	// decoded; such a message is poison for the consumer.
	ErrMalformed = errors.New("debezium: malformed change event")

	errNull = fmt.Errorf("%w: null", ErrTombstone)
)

// decodeError says what is wrong with a message and where, e.g.
// "stock_items event: after.version: not an integer"; made for a member, it
// gets its subject from decodeErr.
type decodeError struct{ subject, path, problem string }

func (e *decodeError) Error() string {
	if e.path == "" {
		return e.subject + ": " + e.problem
	}
	return e.subject + ": " + e.path + ": " + e.problem
}

func (e *decodeError) Unwrap() error { return ErrMalformed }

func malformed(subject, path, problem string) error { return &decodeError{subject, path, problem} }

// problem is what is wrong with a member's value.
type problem string

func (p problem) Error() string { return string(p) }

const (
	probMissing     problem = "missing"
	probNull        problem = "is null"
	probNotInteger  problem = "not an integer"
	probRange       problem = "out of range"
	probNotPositive problem = "must be a positive integer"
	probNotString   problem = "not a string"
	probNotBool     problem = "not a boolean or 0/1"
)

// fieldError is the error of the member field under prefix ("after", "row").
func fieldError(subject, prefix, field string, err error) error {
	if prefix != "" {
		field = prefix + "." + field
	}
	return malformed(subject, field, err.Error())
}

// decodeErr makes err one of ours: a syntax error the library found, or the
// problem of a member whose path is taken under prefix.
func decodeErr(subject, prefix string, err error) error {
	switch e := err.(type) {
	case *jsontext.SyntacticError:
		return malformed(subject, "", fmt.Sprintf("invalid JSON at offset %d: %v", e.ByteOffset, e.Err))
	case *decodeError:
		if e.subject == "" {
			return fieldError(subject, prefix, e.path, problem(e.problem))
		}
	case problem:
		return malformed(subject, prefix, string(e))
	}
	return err
}

// named gives a problem the name of the member whose value has it.
func named(name string, err error) error {
	if p, ok := err.(problem); ok {
		return &decodeError{path: name, problem: string(p)}
	}
	return err
}

// integer is an integer member read exactly, never through float64.
type integer struct {
	n         int64
	set, null bool
}

func intField(name string, v []byte, dst *integer) (err error) {
	if v != nil {
		*dst, err = parseInt(v)
	}
	return named(name, err)
}

func parseInt(v []byte) (integer, error) {
	if string(v) == "null" {
		return integer{null: true}, nil
	}
	mag, neg, err := magnitude(v)
	switch {
	case err != nil:
		return integer{}, err
	case neg && mag > 1<<63, !neg && mag > math.MaxInt64:
		return integer{}, probRange
	case neg: // for 1<<63 the conversion and the negation both wrap, to MinInt64
		return integer{n: -int64(mag), set: true}, nil
	}
	return integer{n: int64(mag), set: true}, nil
}

// magnitude reads an integer. A fraction or exponent is probNotInteger even
// for a whole value (1e3): no JSON writer puts one in an integer column.
func magnitude(v []byte) (mag uint64, neg bool, err error) {
	if neg = v[0] == '-'; neg {
		v = v[1:]
	}
	if len(v) == 0 {
		return 0, false, probNotInteger
	}
	for i, c := range v {
		switch d := uint64(c - '0'); {
		case d > 9:
			return 0, false, probNotInteger
		case i >= 19 && (i > 19 || mag > (math.MaxUint64-d)/10): // 19 digits always fit
			err = probRange // unless a fraction further on says more
		default:
			mag = mag*10 + d
		}
	}
	return mag, neg, err
}

// id is the value of an id column: a positive integer.
func (n integer) id() (int64, error) {
	switch {
	case n.null:
		return 0, probNull
	case !n.set:
		return 0, probMissing
	case n.n <= 0:
		return 0, probNotPositive
	}
	return n.n, nil
}

// versionField reads a BIGINT UNSIGNED version. Debezium's default
// bigint.unsigned.handling.mode=long writes values above 2^63-1 as negative
// longs whose bits are the value; the unsigned decimal is read too.
func versionField(v []byte, dst *uint64, set *bool) error {
	if string(v) == "null" {
		return named("version", probNull)
	}
	mag, neg, err := magnitude(v)
	if err == nil && neg && mag > 1<<63 {
		err = probRange
	}
	if neg {
		mag = -mag // the bits of the negative long
	}
	*dst, *set = mag, err == nil
	return named("version", err)
}

// timestampField checks a DATETIME(6) member the domain does not use: epoch
// micros (or millis, time.precision.mode=connect), an ISO string, or null.
func timestampField(name string, v []byte) error {
	if v[0] == '"' {
		return nil
	}
	_, err := parseInt(v)
	return named(name, err)
}

// textField reads a string member, or null when nullable.
func textField(name string, v []byte, nullable bool) (string, error) {
	switch {
	case v[0] == '"':
		return jsonwalk.String(v), nil
	case v[0] == 'n' && nullable:
		return "", nil
	case v[0] == 'n':
		return "", named(name, probNull)
	}
	return "", named(name, probNotString)
}

// kind checks a raw member is absent or of one of the kinds (first bytes).
func kind(name string, v []byte, kinds string, p problem) error {
	if v != nil && strings.IndexByte(kinds, v[0]) < 0 {
		return named(name, p)
	}
	return nil
}

// parseBoolish reads a TINYINT(1)/BOOLEAN in any converter's spelling:
// true/false, an integer (non-zero is true), "true"/"false"/"1"/"0".
func parseBoolish(v []byte) (bool, error) {
	switch string(v) {
	case "true", `"true"`, `"1"`:
		return true, nil
	case "false", `"false"`, `"0"`:
		return false, nil
	case "null":
		return false, probNull
	}
	if n, err := parseInt(v); err == nil {
		return n.n != 0, nil
	}
	return false, probNotBool
}
