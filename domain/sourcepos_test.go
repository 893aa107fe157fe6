package domain

import (
	"errors"
	"testing"
)

func TestSourcePosCovers(t *testing.T) {
	maria, err := ParseSourcePos("0-1-100,1-2-7")
	if err != nil {
		t.Fatal(err)
	}
	mysql, err := ParseSourcePos("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:11-18,\n2174b383-5441-11e8-b90a-c80aa9429562:1-27")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		pos  SourcePos
		gtid string
		want bool
	}{
		{maria, "0-1-100", true},
		{maria, "0-3-99", true}, // another server of domain 0: the domain orders
		{maria, "0-1-101", false},
		{maria, "1-2-7", true},
		{maria, "2-1-1", false}, // a domain the position does not name
		{mysql, "3e11fa47-71ca-11e1-9e33-c80aa9429562:18", true},
		{mysql, "3E11FA47-71CA-11E1-9E33-C80AA9429562:19", false},
		{mysql, "2174b383-5441-11e8-b90a-c80aa9429562:27", true},
		{mysql, "ffffffff-5441-11e8-b90a-c80aa9429562:1", false},
		{maria, "", false}, // no GTID (a snapshot read): never covered
		{nil, "0-1-1", false},
	}
	for _, tc := range cases {
		g, _ := ParseGTID(tc.gtid)
		if got := tc.pos.Covers(g); got != tc.want {
			t.Errorf("%v covers %q = %v, want %v", tc.pos, tc.gtid, got, tc.want)
		}
	}
}

func TestParseGTIDRejectsJunk(t *testing.T) {
	for _, s := range []string{"", "0-1", "a-b-c", "x:1", "3e11fa47-71ca-11e1-9e33-c80aa9429562:", "0-1-1-1"} {
		if _, ok := ParseGTID(s); ok {
			t.Errorf("ParseGTID(%q) accepted", s)
		}
	}
	for _, s := range []string{"0-1", "3e11fa47:1-5"} {
		if _, err := ParseSourcePos(s); err == nil {
			t.Errorf("ParseSourcePos(%q) accepted", s)
		}
	}
	if p, err := ParseSourcePos(""); err != nil || len(p) != 0 {
		t.Errorf("empty position: %v %v", p, err)
	}
}

func TestParseReadAfter(t *testing.T) {
	for _, tc := range []struct {
		token string
		ok    bool
		n     int
	}{
		{"", true, 0}, {"  ", true, 0}, {"0-1-4711", true, 1}, {"0-1-4711,1-2-9", true, 2},
		{"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-23", true, 1},
		{"x", false, 0}, {"0-1", false, 0}, {"0-1-a", false, 0}, {"3e11fa47:1", false, 0}, {",", false, 0},
	} {
		pos, err := ParseReadAfter(tc.token)
		if tc.ok != (err == nil) || len(pos) != tc.n {
			t.Errorf("%q: %v %v", tc.token, pos, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%q: error %v is not an invalid argument", tc.token, err)
		}
	}
}
