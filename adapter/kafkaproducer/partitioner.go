package kafkaproducer

import (
	"math/rand/v2"

	"github.com/IBM/sarama"
)

// Murmur2 is the 32-bit MurmurHash2 variant Kafka's Java client uses to place
// keyed records (org.apache.kafka.common.utils.Utils.murmur2): seed
// 0x9747b28c, little-endian 4-byte blocks, the tail folded in the same way.
// Its result is returned as Java's signed int.
func Murmur2(data []byte) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(data)
	h := uint32(seed) ^ uint32(n)
	blocks := n &^ 3
	for i := 0; i < blocks; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	// The tail cases fall through, as in the reference implementation.
	switch n & 3 {
	case 3:
		h ^= uint32(data[blocks+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[blocks+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[blocks])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// PartitionFor is the partition Kafka's default partitioner picks for a
// keyed record: the hash with its sign bit cleared (Utils.toPositive, not an
// absolute value), modulo the partition count. numPartitions must be
// positive.
func PartitionFor(key []byte, numPartitions int32) int32 {
	return int32(uint32(Murmur2(key))&0x7fffffff) % numPartitions
}

// NewPartitioner is a sarama.PartitionerConstructor that places keyed records
// exactly where Java producers (Debezium, Kafka Connect) place them, so events
// of one row share a partition whichever client wrote them. sarama's own hash
// partitioners differ: they use FNV-1a or take an absolute value.
func NewPartitioner(string) sarama.Partitioner { return murmur2Partitioner{} }

type murmur2Partitioner struct{}

func (murmur2Partitioner) Partition(msg *sarama.ProducerMessage, numPartitions int32) (int32, error) {
	if numPartitions <= 0 {
		return -1, sarama.ErrInvalidPartition
	}
	if msg.Key == nil {
		// Keyless records carry no ordering promise; spreading them is
		// what Kafka does too.
		return rand.Int32N(numPartitions), nil
	}
	key, err := msg.Key.Encode()
	if err != nil {
		return -1, err
	}
	return PartitionFor(key, numPartitions), nil
}

// RequiresConsistency is true: a key must go to its partition even when that
// partition's leader is briefly unavailable, or per-key order would break.
func (murmur2Partitioner) RequiresConsistency() bool { return true }

// MessageRequiresConsistency lets keyless records avoid unavailable
// partitions.
func (murmur2Partitioner) MessageRequiresConsistency(msg *sarama.ProducerMessage) bool {
	return msg.Key != nil
}
