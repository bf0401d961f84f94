// Package e2e drives the whole system over real sockets, the way chargers and
// operators do, in both deployment modes: embedded (one process, SQLite,
// in-process bus) and scale-out (PostgreSQL, RabbitMQ, two gateways).
//
// Run with `go test ./e2e/`; PostgreSQL and RabbitMQ must be reachable (see
// internal/testenv). The system's logs are printed for failed tests;
// E2E_LOG=1 prints them always, E2E_LOG=stderr streams them (for hangs).
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
