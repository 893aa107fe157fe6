package kafkaauth

import (
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// RFC 7677 section 3: the SCRAM-SHA-256 exchange for user "user", password
// "pencil", through the client sarama is given.
func TestSCRAMSHA256MatchesRFC7677(t *testing.T) {
	c := newSCRAMClient(scram.SHA256)
	c.nonce = func() string { return "rOprNGfwEbeRWgbNEkqO" }
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

// A server that does not extend the nonce, or cannot prove it knows the
// password, is refused.
func TestSCRAMRejectsBadServers(t *testing.T) {
	const serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	for _, tc := range []struct{ name, serverFirst, serverFinal string }{
		{"nonce not extended", "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", ""},
		{"malformed", "garbage", ""},
		{"wrong server signature", serverFirst, "v=AAAA"},
		{"server error", serverFirst, "e=invalid-proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSCRAMClient(scram.SHA256)
			c.nonce = func() string { return "rOprNGfwEbeRWgbNEkqO" }
			if err := c.Begin("user", "pencil", ""); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Step(""); err != nil {
				t.Fatal(err)
			}
			_, err := c.Step(tc.serverFirst)
			if err == nil && tc.serverFinal != "" {
				_, err = c.Step(tc.serverFinal)
			}
			if err == nil || !strings.Contains(err.Error(), "scram") {
				t.Fatalf("err %v, want a scram error", err)
			}
		})
	}
}
