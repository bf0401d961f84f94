// Package energy computes a transaction's energy from its meter register
// readings (the store keeps the readings; this decides what they add up
// to).
package energy

// SumOfRises is the energy of a register series that may have been reset
// during the session: from start through samples to stop, every rise
// counts, a drop counts nothing and the series goes on from the lower
// value.
func SumOfRises(start float64, samples []float64, stop float64) float64 {
	var sum float64
	prev := start
	for _, v := range append(samples, stop) {
		if v > prev {
			sum += v - prev
		}
		prev = v
	}
	return sum
}
