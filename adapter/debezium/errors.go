package debezium

import "errors"

var (
	// ErrTombstone is returned for a null or empty message value: the
	// tombstone Kafka log compaction needs after a delete. It is not a poison
	// message; the delete event before it (or, when ExtractNewRecordState drops
	// deletes, the message key) says which row went away.
	ErrTombstone = errors.New("debezium: tombstone (null value)")

	// ErrNotRowEvent is returned for a well-formed message that carries no row
	// change: transaction BEGIN/END metadata, a schema change, a heartbeat, or
	// an operation such as a logical message or no-op. Callers skip it.
	ErrNotRowEvent = errors.New("debezium: not a row change event")

	// ErrMalformed is wrapped by every error about a message that cannot be
	// decoded; such a message is poison for the consumer.
	ErrMalformed = errors.New("debezium: malformed change event")
)

// decodeError says what is wrong with a message and where, e.g.
// "stock_items event: after.version: not an integer".
type decodeError struct {
	subject string // "stock_items event", "warehouses key", ...
	path    string // dotted member path, empty for the document as a whole
	problem string
}

func (e *decodeError) Error() string {
	if e.path == "" {
		return e.subject + ": " + e.problem
	}
	return e.subject + ": " + e.path + ": " + e.problem
}

func (e *decodeError) Unwrap() error { return ErrMalformed }

func malformed(subject, path, problem string) error {
	return &decodeError{subject: subject, path: path, problem: problem}
}

// problem is a field-level complaint; the caller knows the path and turns it
// into a decodeError. It is a string type so returning one costs nothing.
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
	probNotObject   problem = "not an object"
)

// fieldError builds the error for a member path: prefix ("after", "before",
// "row", "source"...) and field name are joined only when an error is made.
func fieldError(subject, prefix, field string, err error) error {
	path := field
	if prefix != "" {
		path = prefix + "." + field
	}
	return malformed(subject, path, err.Error())
}
