package debezium

import (
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gintoki/gintoki/adapter/internal/jsonwalk"
	"github.com/gintoki/gintoki/domain"
)

var gtidSeeds = []string{
	"0-1-4711", "4294967295-4294967295-18446744073709551615", "4294967296-1-1", "0-1-18446744073709551616",
	"0-1", "0-1-2-3", "-1-2", "0--2", "0-1-", "+0-1-2", "0-1-2 ", "00-01-002",
	"3e11fa47-71ca-11e1-9e33-c80aa9429562:23", "3E11FA47-71CA-11E1-9E33-C80AA9429562:23",
	"3e11fa4771ca11e19e33c80aa9429562:1", " 3e11fa47-71ca-11e1-9e33-c80aa9429562\t:1",
	"3e11fa47-71ca-11e1-9e33-c80aa9429562:", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1:2",
	"3e11fa47-71ca-11e1-9e33-c80aa956:1", "3e11fa47-71ca-11e1-9e33-c80aa9429562aa:1",
	"3e11fa47-71ca-11e1-9e33-c80aa942956:1", "3e11fa47-71ca-11e1-9e33-c80aa94295621:1",
	"3e11fa47-71ca-11e1-9e33-c80aa942956g:1", "-3e11fa47-71ca-11e1-9e33-c80aa9429562-:18446744073709551615",
	"3e11fa47-71ca-11e1-9e33-c80aa9429562:18446744073709551616", "\u00a03e11fa47-71ca-11e1-9e33-c80aa9429562:5",
	"3e11 fa47-71ca-11e1-9e33-c80aa9429562:5", "", ":", "-", "--", "0-1-4711\n", "0-1-4\u00e9",
}

// parseGTID reads in place what domain.ParseGTID reads from the string:
// the same GTID for every JSON string, escaped or not.
func FuzzParseGTID(f *testing.F) {
	for _, s := range gtidSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		quoted, err := jsontext.AppendQuote(nil, s)
		if err != nil {
			return // invalid UTF-8: no JSON string holds it
		}
		checkGTID(t, quoted)
		if raw := []byte(`"` + s + `"`); jsontext.Value(raw).IsValid() {
			checkGTID(t, raw) // unescaped, as servers write them
		}
	})
}

func checkGTID(t *testing.T, raw []byte) {
	t.Helper()
	want, _ := domain.ParseGTID(jsonwalk.String(raw))
	if got := parseGTID(raw); got != want {
		t.Fatalf("parseGTID(%s) = %+v, domain.ParseGTID %+v", raw, got, want)
	}
}

func TestParseGTIDTakesNoStringsForTheUsualForms(t *testing.T) {
	for _, s := range []string{`"0-1-4711"`, `"3e11fa47-71ca-11e1-9e33-c80aa9429562:23"`, `"3E11FA47-71CA-11E1-9E33-C80AA9429562:23"`, `null`} {
		raw := []byte(s)
		if allocs := testing.AllocsPerRun(50, func() { parseGTID(raw) }); allocs != 0 {
			t.Errorf("parseGTID(%s) allocates %.0f times", raw, allocs)
		}
	}
}
