package kafkaauth

import (
	"strings"
	"testing"
)

// RFC 7677 section 3: the SCRAM-SHA-256 exchange for user "user", password
// "pencil".
func TestSCRAMSHA256MatchesRFC7677(t *testing.T) {
	c := newSCRAMClient(sha256Hash)
	c.nonceFn = func() (string, error) { return "rOprNGfwEbeRWgbNEkqO", nil }
	if err := c.Begin("user", "pencil", ""); err != nil {
		t.Fatal(err)
	}
	first, err := c.Step("")
	if err != nil || first != "n,,n=user,r=rOprNGfwEbeRWgbNEkqO" {
		t.Fatalf("client-first = %q, %v", first, err)
	}
	final, err := c.Step("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
	want := "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	if err != nil || final != want {
		t.Fatalf("client-final = %q, %v\nwant %q", final, err, want)
	}
	if c.Done() {
		t.Fatal("done before the server proved itself")
	}
	if _, err := c.Step("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="); err != nil {
		t.Fatalf("server-final: %v", err)
	}
	if !c.Done() {
		t.Error("not done after a valid server signature")
	}
}

func TestSCRAMRejectsBadServers(t *testing.T) {
	const serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	tests := []struct {
		name        string
		serverFirst string
		serverFinal string
		want        string
	}{
		{"nonce not extended", "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "", "nonce"},
		{"nonce not extended at all", "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "", "nonce"},
		{"bad salt", "r=rOprNGfwEbeRWgbNEkqOx,s=***,i=4096", "", "salt"},
		{"zero iterations", "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0", "", "iteration"},
		{"huge iterations", "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=999999999", "", "iteration"},
		{"mandatory extension", "m=ext," + serverFirst, "", "extension"},
		{"malformed", "garbage", "", "malformed"},
		{"wrong server signature", serverFirst, "v=AAAA", "signature"},
		{"server error", serverFirst, "e=invalid-proof", "invalid-proof"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newSCRAMClient(sha256Hash)
			c.nonceFn = func() (string, error) { return "rOprNGfwEbeRWgbNEkqO", nil }
			_ = c.Begin("user", "pencil", "")
			if _, err := c.Step(""); err != nil {
				t.Fatal(err)
			}
			_, err := c.Step(tc.serverFirst)
			if tc.serverFinal != "" {
				if err != nil {
					t.Fatalf("server-first refused: %v", err)
				}
				_, err = c.Step(tc.serverFinal)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
			if c.Done() {
				t.Error("done after a failed exchange")
			}
		})
	}
}

func TestSCRAMEscapesNames(t *testing.T) {
	c := newSCRAMClient(sha256Hash)
	c.nonceFn = func() (string, error) { return "abc", nil }
	_ = c.Begin("a=b,c", "p", "z,z")
	first, _ := c.Step("")
	if first != "n,a=z=2Cz,n=a=3Db=2Cc,r=abc" {
		t.Errorf("client-first = %q", first)
	}
}
