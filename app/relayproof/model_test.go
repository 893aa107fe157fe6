package relayproof

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// rowKey is a stock_items primary key.
type rowKey struct{ p, w int64 }

// image is a row image as the change events carry it (Debezium's JSON,
// numbers kept exact): what a state of a row must look like on the topic.
type image map[string]any

// stockModel writes stock_items and remembers every state each row has
// been in, so each row image on the topic can be checked against it. An
// ALTER gives every row a state of the new shape without a new version.
type stockModel struct {
	t       *testing.T
	db      *sql.DB
	version uint64
	withMid bool // the mid column exists
	rows    map[rowKey]image
	states  map[string]image
	writes  []string // op/p/w/version of every write, for the topic to show
}

// timeBase stamps the writes: updated_at is it plus the version in µs.
var timeBase = time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)

const dbTime = "2006-01-02 15:04:05.000000"

// newStockModel reads the rows the database holds now.
func newStockModel(t *testing.T, db *sql.DB) *stockModel {
	m := &stockModel{t: t, db: db, rows: map[rowKey]image{}, states: map[string]image{}}
	rows, err := db.Query("SELECT product_id, warehouse_id, qty_salable, version, DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s.%f') FROM stock_items")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k rowKey
		var qty int32
		var v uint64
		var at string
		if err := rows.Scan(&k.p, &k.w, &qty, &v, &at); err != nil {
			t.Fatal(err)
		}
		ts, err := time.Parse(dbTime, at)
		if err != nil {
			t.Fatal(err)
		}
		m.set(k, m.image(k, qty, v, ts, nil))
		m.version = max(m.version, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func num[T int64 | int32 | uint64](v T) json.Number {
	return json.Number(strconv.FormatInt(int64(v), 10))
}

func (m *stockModel) image(k rowKey, qty int32, v uint64, at time.Time, mid *string) image {
	img := image{"product_id": num(k.p), "warehouse_id": num(k.w), "qty_salable": num(qty), "version": num(v),
		"updated_at": num(at.UnixMicro())}
	if m.withMid {
		img["mid"] = nil
		if mid != nil {
			img["mid"] = *mid
		}
	}
	return img
}

func stateKey(img image) string {
	_, mid := img["mid"]
	return fmt.Sprintf("%v/%v/%v/%v", img["product_id"], img["warehouse_id"], img["version"], mid)
}

func (m *stockModel) set(k rowKey, img image) {
	m.rows[k] = img
	if img != nil {
		m.states[stateKey(img)] = img
	}
}

func (m *stockModel) exec(q string, args ...any) {
	m.t.Helper()
	if _, err := m.db.Exec(q, args...); err != nil {
		m.t.Fatalf("%s: %v", q, err)
	}
}

// write inserts or updates a row to a new version and quantity.
func (m *stockModel) write(k rowKey, qty int32, mid *string) {
	m.t.Helper()
	m.version++
	at := timeBase.Add(time.Duration(m.version) * time.Microsecond)
	op := "u"
	if m.rows[k] == nil {
		op = "c"
	}
	cols, args := "qty_salable = ?, version = ?, updated_at = ?", []any{qty, m.version, at.Format(dbTime)}
	if mid != nil {
		cols, args = cols+", mid = ?", append(args, *mid)
	}
	if op == "c" {
		m.exec("INSERT INTO stock_items SET product_id = ?, warehouse_id = ?, "+cols, append([]any{k.p, k.w}, args...)...)
	} else {
		m.exec("UPDATE stock_items SET "+cols+" WHERE product_id = ? AND warehouse_id = ?", append(args, k.p, k.w)...)
	}
	m.set(k, m.image(k, qty, m.version, at, mid))
	m.writes = append(m.writes, fmt.Sprintf("%s/%d/%d/%d", op, k.p, k.w, m.version))
}

// remove deletes a row; the event's before image is its last state.
func (m *stockModel) remove(k rowKey) {
	m.t.Helper()
	m.exec("DELETE FROM stock_items WHERE product_id = ? AND warehouse_id = ?", k.p, k.w)
	m.writes = append(m.writes, fmt.Sprintf("d/%d/%d/%v", k.p, k.w, m.rows[k]["version"]))
	m.set(k, nil)
}

// alter runs an ALTER that adds mid: every row gains the column, NULL.
func (m *stockModel) alter(ddl string) {
	m.t.Helper()
	m.exec(ddl)
	m.withMid = true
	for k, img := range m.rows {
		if img == nil {
			continue
		}
		next := image{"mid": nil}
		for c, v := range img {
			next[c] = v
		}
		m.set(k, next)
	}
}

// check compares a row image from the topic with the state it names.
func (m *stockModel) check(raw json.RawMessage) (img image, problem string) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&img); err != nil {
		return nil, fmt.Sprintf("undecodable image %s: %v", raw, err)
	}
	want, ok := m.states[stateKey(img)]
	switch {
	case !ok:
		return img, fmt.Sprintf("image %s is no state the row was ever in", raw)
	case !reflect.DeepEqual(img, want):
		return img, fmt.Sprintf("image %s, the row's state was %v", raw, want)
	}
	return img, ""
}
