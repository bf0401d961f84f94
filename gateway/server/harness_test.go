package server_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/gateway/server"
	"github.com/chargeplane/chargeplane/pkg/bus"
	"github.com/chargeplane/chargeplane/pkg/bus/inproc"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
)

const (
	gatewayID = "gw-test"
	coreID    = "core-test"
	wait      = 5 * time.Second
)

// fixedNow is the gateway's clock in tests: envelopes carry it, and core
// CALL expiry is judged against it.
var fixedNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeCore plays the core's admission judgement: the test double of the
// core's control plane.
// tryLaterStation is told to come back in 42 s (a flapping id).
const tryLaterStation = "FLAPPING"

type fakeCore struct {
	mu       sync.Mutex
	stations map[string]string // station id → password ("" = none required)
	fail     error
	n        int
	admits   []*gatewayv1.AdmitConnectionRequest
	renewals []*gatewayv1.RenewLeaseRequest
	// newLeases renewals from now on answer that the lease was new (it
	// had expired).
	newLeases int
}

func (f *fakeCore) AdmitConnection(_ context.Context, req *gatewayv1.AdmitConnectionRequest) (*gatewayv1.AdmitConnectionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.admits = append(f.admits, req)
	if f.fail != nil {
		return nil, f.fail
	}
	if req.GetStationId() == tryLaterStation {
		return &gatewayv1.AdmitConnectionResponse{Decision: gatewayv1.Decision_DECISION_TRY_LATER, RetryAfterSeconds: 42}, nil
	}
	pw, ok := f.stations[req.GetStationId()]
	if !ok {
		return &gatewayv1.AdmitConnectionResponse{Decision: gatewayv1.Decision_DECISION_UNKNOWN_STATION}, nil
	}
	if pw != "" && (!req.GetHasBasicAuth() || req.GetUsername() != req.GetStationId() || req.GetPassword() != pw) {
		return &gatewayv1.AdmitConnectionResponse{Decision: gatewayv1.Decision_DECISION_UNAUTHORIZED}, nil
	}
	f.n++
	return &gatewayv1.AdmitConnectionResponse{
		Decision:     gatewayv1.Decision_DECISION_ACCEPTED,
		ConnectionId: fmt.Sprintf("conn-%d", f.n),
	}, nil
}

func (f *fakeCore) RenewLease(_ context.Context, req *gatewayv1.RenewLeaseRequest) (*gatewayv1.RenewLeaseResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renewals = append(f.renewals, req)
	resp := &gatewayv1.RenewLeaseResponse{NewLease: f.newLeases > 0}
	f.newLeases = max(f.newLeases-1, 0)
	return resp, nil
}

func (f *fakeCore) renewalCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.renewals)
}

// waitRenewals waits until the gateway has renewed n more times.
func (h *harness) waitRenewals(n int) {
	h.t.Helper()
	want := h.core.renewalCount() + n
	for deadline := time.Now().Add(6 * wait); h.core.renewalCount() < want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			h.t.Fatalf("the gateway renewed %d times, want %d", h.core.renewalCount(), want)
		}
	}
}

func (f *fakeCore) admitCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.admits)
}

func (f *fakeCore) lastConnID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprintf("conn-%d", f.n)
}

func (f *fakeCore) lastAdmit() *gatewayv1.AdmitConnectionRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.admits[len(f.admits)-1]
}

// faultyBus is the real in-process bus with switchable upstream failures and
// an optional gate that holds upstream publishes.
type faultyBus struct {
	bus.Bus
	failUpstream atomic.Bool
	gate         atomic.Pointer[chan struct{}]
	held         chan struct{} // a publish is waiting at the gate
}

var errBroker = errors.New("broker unavailable")

func (b *faultyBus) PublishUpstream(ctx context.Context, env *busv1.Envelope) error {
	if b.failUpstream.Load() {
		return errBroker
	}
	if g := b.gate.Load(); g != nil && env.GetKind() == busv1.Kind_KIND_FRAME {
		select {
		case b.held <- struct{}{}:
		default:
		}
		select {
		case <-*g:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return b.Bus.PublishUpstream(ctx, env)
}

type harness struct {
	t    *testing.T
	core *fakeCore
	bus  *faultyBus
	gw   *server.Server
	srv  *httptest.Server
	up   chan *busv1.Envelope // what the gateway published upstream
	ans  chan *busv1.Envelope // charger answers published to coreID
}

func newHarness(t *testing.T, cfg server.Config) *harness {
	t.Helper()
	// Registered first, so it runs after every other cleanup.
	t.Cleanup(func() { goleak.VerifyNone(t) })

	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ib := inproc.New(inproc.Config{Partitions: 4, Logger: log})
	h := &harness{
		t:    t,
		core: &fakeCore{stations: map[string]string{"CP1": "", "CP2": "", "SECURE": "s3cret-password-16"}},
		bus:  &faultyBus{Bus: ib, held: make(chan struct{}, 1)},
		up:   make(chan *busv1.Envelope, 1000),
		ans:  make(chan *busv1.Envelope, 1000),
	}
	t.Cleanup(func() { _ = ib.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := ib.ConsumeUpstream(ctx, func(_ context.Context, env *busv1.Envelope) error {
		h.up <- env
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := ib.ConsumeCore(ctx, coreID, func(_ context.Context, env *busv1.Envelope) error {
		h.ans <- env
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	cfg.GatewayID = gatewayID
	if cfg.Logger == nil {
		cfg.Logger = log
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fixedNow }
	}
	if cfg.DrainWindow == 0 {
		cfg.DrainWindow = 50 * time.Millisecond
	}
	h.gw = server.New(cfg, h.bus, h.core)
	if err := h.gw.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(h.gw)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := h.gw.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		h.srv.Close()
	})
	return h
}

func (h *harness) gw2Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{h.t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newHTTPServer serves gw and returns its ws:// base URL.
func newHTTPServer(t *testing.T, gw http.Handler) string {
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dialURL(t *testing.T, url string, subprotocols ...string) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: subprotocols})
	if c != nil {
		t.Cleanup(func() { _ = c.CloseNow() })
	}
	return c, resp, err
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (h *harness) url(station string) string {
	return "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/ocpp/" + station
}

type dialOpts struct {
	subprotocols []string
	user, pass   string
	compress     bool
}

// dial connects a charger; it returns the HTTP response for refused ones.
func (h *harness) dial(station string, o dialOpts) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	opts := &websocket.DialOptions{Subprotocols: o.subprotocols, HTTPHeader: http.Header{}}
	if o.user != "" {
		opts.HTTPHeader.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(o.user+":"+o.pass)))
	}
	if o.compress {
		opts.CompressionMode = websocket.CompressionNoContextTakeover
	}
	c, resp, err := websocket.Dial(ctx, h.url(station), opts)
	if c != nil {
		h.t.Cleanup(func() { _ = c.CloseNow() })
	}
	return c, resp, err
}

// connect dials station with subprotocols and returns the socket and the
// CONNECTED envelope the gateway published for it.
func (h *harness) connect(station string, subprotocols ...string) (*websocket.Conn, *busv1.Envelope) {
	h.t.Helper()
	if len(subprotocols) == 0 {
		subprotocols = []string{"ocpp2.0.1"}
	}
	c, _, err := h.dial(station, dialOpts{subprotocols: subprotocols})
	if err != nil {
		h.t.Fatalf("dial %s: %v", station, err)
	}
	env := h.nextUp()
	if env.GetKind() != busv1.Kind_KIND_CONNECTED || env.GetStationId() != station {
		h.t.Fatalf("want CONNECTED of %s, got %v", station, env)
	}
	return c, env
}

func (h *harness) nextUp() *busv1.Envelope {
	h.t.Helper()
	select {
	case env := <-h.up:
		return env
	case <-time.After(wait):
		h.t.Fatal("no upstream envelope")
		return nil
	}
}

// upUntil skips upstream envelopes until one matches.
func (h *harness) upUntil(match func(*busv1.Envelope) bool) *busv1.Envelope {
	h.t.Helper()
	deadline := time.After(3 * wait)
	for {
		select {
		case env := <-h.up:
			if match(env) {
				return env
			}
		case <-deadline:
			h.t.Fatal("expected upstream envelope never came")
			return nil
		}
	}
}

func (h *harness) disconnected(connID string) *busv1.Envelope {
	h.t.Helper()
	return h.upUntil(func(e *busv1.Envelope) bool {
		return e.GetKind() == busv1.Kind_KIND_DISCONNECTED && e.GetConnectionId() == connID
	})
}

func (h *harness) nextAnswer() *busv1.Envelope {
	h.t.Helper()
	select {
	case env := <-h.ans:
		return env
	case <-time.After(wait):
		h.t.Fatal("no answer published to the core")
		return nil
	}
}

// reply plays the core answering a charger CALL read on connID.
func (h *harness) reply(station, connID, frame string) {
	h.t.Helper()
	err := h.bus.PublishToGateway(context.Background(), gatewayID, &busv1.Envelope{
		Kind: busv1.Kind_KIND_FRAME, StationId: station, ConnectionId: connID, Frame: []byte(frame),
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// command plays the core sending a CALL to a station (fanout).
func (h *harness) command(station, connID, id, frame string, expires time.Time) {
	h.t.Helper()
	env := &busv1.Envelope{
		Kind: busv1.Kind_KIND_FRAME, StationId: station, ConnectionId: connID,
		MessageId: id, Frame: []byte(frame), ReplyTo: coreID,
	}
	if !expires.IsZero() {
		env.ExpiresAt = timestamppb.New(expires)
	}
	if err := h.bus.PublishDownstream(context.Background(), env); err != nil {
		h.t.Fatal(err)
	}
}

func write(t *testing.T, c *websocket.Conn, frame string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		t.Fatalf("write %s: %v", frame, err)
	}
}

func read(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

// readClose reads until the gateway closes the socket and returns the code.
func readClose(t *testing.T, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatal("socket not closed")
			}
			return websocket.CloseStatus(err)
		}
		t.Logf("read before close: %s", b)
	}
}
