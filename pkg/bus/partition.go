package bus

import "hash/fnv"

// DefaultPartitions is the number of upstream partitions when a
// configuration leaves it unset. Every gateway and core instance sharing a
// broker must agree on it, or one station's messages could land in two
// partitions and lose their order.
const DefaultPartitions = 16

// Partition returns the upstream partition of stationID: FNV-1a of the id,
// modulo partitions. It is part of the wire contract (gateways publish with
// it, every core instance consumes by it), so it must never change.
// partitions < 1 is treated as 1.
func Partition(stationID string, partitions int) int {
	if partitions < 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(stationID)) // hash.Hash never returns an error
	return int(h.Sum32() % uint32(partitions))
}
