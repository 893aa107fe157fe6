package relay

// Debezium's source.snapshot markers.
const (
	markFirst        = "first"
	markFirstInTable = "first_in_data_collection"
	markMiddle       = "true"
	markLastInTable  = "last_in_data_collection"
	markLast         = "last"
)

// snapshotMarker sets source.snapshot on snapshot rows as Debezium does:
// the very first and very last rows, and the first and last of each table,
// are marked. Knowing that a row is a table's last takes the next row, so
// each row is held back until the next one arrives (or finish is called).
type snapshotMarker struct {
	emit func(*Change) error

	pending      *Change
	pendingFirst bool // pending is the first row of its table
	released     int
}

func (m *snapshotMarker) add(c *Change) error {
	if m.pending == nil {
		m.pending, m.pendingFirst = c, true
		return nil
	}
	newTable := !sameTable(m.pending.Table, c.Table)
	if err := m.release(newTable, false); err != nil {
		return err
	}
	m.pending, m.pendingFirst = c, newTable
	return nil
}

// finish releases the held row as the snapshot's last.
func (m *snapshotMarker) finish() error {
	if m.pending == nil {
		return nil
	}
	return m.release(true, true)
}

func (m *snapshotMarker) release(lastInTable, lastOverall bool) error {
	c := m.pending
	m.pending = nil
	switch {
	case lastOverall:
		c.Snapshot = markLast
	case m.released == 0:
		c.Snapshot = markFirst
	case m.pendingFirst:
		c.Snapshot = markFirstInTable
	case lastInTable:
		c.Snapshot = markLastInTable
	default:
		c.Snapshot = markMiddle
	}
	m.released++
	return m.emit(c)
}

func sameTable(a, b *Table) bool {
	if a == b {
		return true
	}
	return a != nil && b != nil && a.DB == b.DB && a.Name == b.Name
}
