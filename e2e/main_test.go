// Package e2e drives the whole system over real sockets, the way chargers and
// operators do, in both deployment modes: embedded (one process, SQLite,
// in-process bus) and scale-out (PostgreSQL, RabbitMQ, two gateways).
package e2e

import (
	"testing"

	"go.uber.org/goleak"
)

// Every part started by a test is shut down by that test, so anything still
// running when the package ends is a leak in the system under test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
