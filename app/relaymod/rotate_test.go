package relaymod

import (
	"fmt"
	"testing"
)

// TestRelayFollowsABinlogRotation: the server moves to a new binlog file
// while the relay streams (FLUSH BINARY LOGS, as max_binlog_size does under
// load). The relay must follow it under the file's real name, so that the
// checkpoint names a file the server has and a restarted relay resumes
// there. (MariaDB's made-up rotate at the start of the new file carries no
// checksum; stripping one cut four characters off the name.)
func TestRelayFollowsABinlogRotation(t *testing.T) {
	h := newHarness(t, 1)
	cfg := h.cfg
	cfg.Snapshot = "never"
	rr := startRelay(t, cfg)
	h.exec("INSERT INTO warehouses VALUES (1,'W1','North',1,1,'" + t1 + "')")
	h.exec("FLUSH BINARY LOGS")
	var file string
	if err := h.db.QueryRow("SHOW MASTER STATUS").Scan(&file, new(any), new(any), new(any)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		h.exec(fmt.Sprintf("INSERT INTO stock_items VALUES (%d,1,%d,1,'%s')", i, i, t1))
	}
	waitFor(t, "the relay past the rotation", func() bool {
		return rr.relay.Acknowledged().File >= file && len(rr.relay.Acknowledged().File) == len(file)
	}, rr.done)
	rr.stop(t)

	// The checkpoint names a file the server has: a new relay resumes there.
	again := startRelay(t, cfg)
	h.exec(fmt.Sprintf("INSERT INTO stock_items VALUES (%d,1,%d,1,'%s')", 4, 4, t1))
	waitFor(t, "the restarted relay publishing", func() bool { return topicSize(t, h.broker.Addrs(), h.topic("stock_items")) >= 4 }, again.done)
	if got := again.relay.Acknowledged().File; len(got) != len(file) {
		t.Fatalf("acknowledged binlog file %q, the server's is %q", got, file)
	}
}
