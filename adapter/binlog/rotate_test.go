package binlog

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// rotateEvent builds a rotate event's bytes as the server writes them: a
// 19-byte header, the position, the name, and a CRC32 when checksummed.
func rotateEvent(name string, pos uint64, checksum bool) []byte {
	b := make([]byte, 19, 19+8+len(name)+4)
	b[4] = 4 // ROTATE_EVENT
	b = binary.LittleEndian.AppendUint64(b, pos)
	b = append(b, name...)
	binary.LittleEndian.PutUint32(b[9:], uint32(len(b)+map[bool]int{true: 4}[checksum]))
	if checksum {
		b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	}
	return b
}

// The whole name survives with or without a checksum (the relay once cut
// four characters off it and checkpointed a file the server never had).
func TestRotateTargetReadsTheWholeName(t *testing.T) {
	for _, checksum := range []bool{true, false} {
		name, pos, err := rotateTarget(rotateEvent("mysql-bin.000005", 4, checksum), 19)
		if err != nil || name != "mysql-bin.000005" || pos != 4 {
			t.Errorf("checksum %v: got %q at %d, %v; want mysql-bin.000005 at 4", checksum, name, pos, err)
		}
	}
	if _, _, err := rotateTarget(make([]byte, 20), 19); err == nil {
		t.Error("a rotate too short for a position and a name was accepted")
	}
}
