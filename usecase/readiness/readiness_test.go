package readiness

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type fakeDB struct{ err error }

func (f fakeDB) Ping(context.Context) error { return f.err }

func TestReady(t *testing.T) {
	notCaughtUp := func() error { return errors.New("change feed not caught up") }
	cases := []struct {
		name  string
		c     *Checker
		wantE string
	}{
		{"all good", New(fakeDB{}, time.Second), ""},
		{"db down", New(fakeDB{errors.New("connection refused")}, time.Second), "database unreachable: connection refused"},
		{"condition fails first", New(fakeDB{}, time.Second, notCaughtUp), "change feed not caught up"},
	}
	for _, tc := range cases {
		err := tc.c.Ready(context.Background())
		if tc.wantE == "" && err != nil || tc.wantE != "" && (err == nil || !strings.Contains(err.Error(), tc.wantE)) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.wantE)
		}
	}
}
