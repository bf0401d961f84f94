package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultAMQPURL is the broker integration tests use unless TEST_AMQP_URL
// says otherwise.
const DefaultAMQPURL = "amqp://guest:guest@127.0.0.1:5672/"

// AMQPURL returns the RabbitMQ URL for integration tests (TEST_AMQP_URL, or
// DefaultAMQPURL) after checking that a broker answers there with a real
// AMQP handshake. An unreachable broker fails the test: integration tests
// never skip silently.
func AMQPURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_AMQP_URL")
	if u == "" {
		u = DefaultAMQPURL
	}
	conn, err := amqp.DialConfig(u, amqp.Config{
		Dial:       amqp.DefaultDial(5 * time.Second),
		Properties: amqp.Table{"connection_name": "chargeplane testenv probe"},
	})
	if err != nil {
		t.Fatalf("RabbitMQ is not reachable at %s: %v\nstart it with: rabbitmq-server -detached (or point TEST_AMQP_URL at a running broker)", redactAMQP(u), err)
	}
	_ = conn.Close()
	return u
}

func redactAMQP(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

var (
	prefixCounter atomic.Uint64
	processTag    = func() string {
		var b [3]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		return hex.EncodeToString(b[:])
	}()
)

// UniquePrefix returns a short name prefix (for RabbitMQ exchanges and
// queues, or anything else shared between test processes) that no other
// test, in this process or another one running at the same time, gets.
// It is derived from the test name for readability in the broker's UI.
func UniquePrefix(t testing.TB) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(t.Name()))
	return fmt.Sprintf("t%s-%x-%d", processTag, h.Sum32()&0xffff, prefixCounter.Add(1))
}
