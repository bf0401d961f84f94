package ocpp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/pkg/bus"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema/schematest"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/bus/inproc"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	gatewayID = "gw-1"
	stationID = "CS-1"
	connID    = "conn-1"
)

var testNow = time.Date(2025, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

// databases are the two stores every handler test runs against.
var databases = []string{"sqlite", "postgres"}

type harness struct {
	t       *testing.T
	store   *store.Store
	bus     *inproc.Bus
	router  *Router
	schemas *schema.Registry
	replies chan *busv1.Envelope
	nextID  atomic.Int64
}

func openStore(t *testing.T, db string) *store.Store {
	t.Helper()
	cfg := store.Config{Logger: quietLogger(), Now: func() time.Time { return testNow }}
	switch db {
	case "sqlite":
		cfg.DataDir = t.TempDir()
	case "postgres":
		cfg.DatabaseURL = testenv.PostgresURL(t)
	default:
		t.Fatalf("unknown database %q", db)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open %s store: %v", db, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newHarness gives a router on a real store and a real in-process bus, with
// one registered station and a gateway consumer collecting the replies;
// opts complete the router's Deps.
func newHarness(t *testing.T, db string, opts ...func(*Deps)) *harness {
	t.Helper()
	schemas, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, db)
	if err := st.CreateStation(context.Background(), &store.Station{ID: stationID, Name: "test"}); err != nil {
		t.Fatal(err)
	}
	b := inproc.New(inproc.Config{Logger: quietLogger()})
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, store: st, bus: b, schemas: schemas, replies: make(chan *busv1.Envelope, 16)}
	t.Cleanup(func() {
		cancel()
		_ = b.Close()
	})
	err = b.ConsumeGateway(ctx, gatewayID, func(ctx context.Context, env *busv1.Envelope) error {
		select {
		case h.replies <- env:
		case <-ctx.Done():
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d := Deps{
		Store: st, Bus: b, Schemas: schemas,
		Now:               func() time.Time { return testNow },
		HeartbeatInterval: 300 * time.Second,
		Logger:            quietLogger(),
		ValidateResponses: true,
	}
	for _, o := range opts {
		o(&d)
	}
	h.router = NewRouter(d)
	return h
}

func (h *harness) frameEnvelope(v ocppj.Version, frame []byte) *busv1.Envelope {
	return &busv1.Envelope{
		Kind: busv1.Kind_KIND_FRAME, StationId: stationID, GatewayId: gatewayID, ConnectionId: connID,
		OcppVersion: bus.EnvelopeVersion(v), ReceivedAt: timestamppb.New(testNow), Frame: frame,
	}
}

// call sends a CALL through the router and returns the parsed answer.
func (h *harness) call(v ocppj.Version, action, payload string) ocppj.Frame {
	h.t.Helper()
	id := fmt.Sprintf("m%d", h.nextID.Add(1))
	frame, err := ocppj.EncodeCall(id, action, json.RawMessage(payload))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.router.HandleUpstream(context.Background(), h.frameEnvelope(v, frame)); err != nil {
		h.t.Fatalf("HandleUpstream: %v", err)
	}
	f := h.reply(v)
	if f.ID != id {
		h.t.Fatalf("reply id %q, want %q", f.ID, id)
	}
	return f
}

func (h *harness) reply(v ocppj.Version) ocppj.Frame {
	h.t.Helper()
	select {
	case env := <-h.replies:
		if env.GetKind() != busv1.Kind_KIND_FRAME || env.GetStationId() != stationID ||
			env.GetConnectionId() != connID || env.GetGatewayId() != gatewayID || env.GetOcppVersion() != bus.EnvelopeVersion(v) {
			h.t.Fatalf("reply envelope does not address the connection: %v", env)
		}
		f, err := ocppj.Parse(env.GetFrame())
		if err != nil {
			h.t.Fatalf("reply is not a frame: %v: %s", err, env.GetFrame())
		}
		if env.GetMessageId() != f.ID {
			h.t.Fatalf("envelope message id %q, frame id %q", env.GetMessageId(), f.ID)
		}
		return f
	case <-time.After(30 * time.Second):
		h.t.Fatal("no reply on the gateway queue")
	}
	return ocppj.Frame{}
}

func (h *harness) noReply() {
	h.t.Helper()
	select {
	case env := <-h.replies:
		h.t.Fatalf("unexpected reply %s", env.GetFrame())
	case <-time.After(100 * time.Millisecond):
	}
}

// result asserts f is a CALLRESULT valid for action and decodes it.
func (h *harness) result(v ocppj.Version, action string, f ocppj.Frame, out any) {
	h.t.Helper()
	if f.Type != ocppj.CallResult {
		h.t.Fatalf("%s: got %v %s %q, want a CALLRESULT", action, f.Type, f.ErrorCode, f.ErrorDescription)
	}
	if err := h.schemas.ValidateResponse(v, action, f.Payload); err != nil {
		h.t.Fatalf("%s: response %s violates its schema: %v", action, f.Payload, err)
	}
	if out != nil {
		if err := json.Unmarshal(f.Payload, out); err != nil {
			h.t.Fatal(err)
		}
	}
}

func requireError(t *testing.T, f ocppj.Frame, code ocppj.ErrorCode) {
	t.Helper()
	if f.Type != ocppj.CallError || f.ErrorCode != code {
		t.Fatalf("got type %d code %q (%q) payload %s, want CALLERROR %s", f.Type, f.ErrorCode, f.ErrorDescription, f.Payload, code)
	}
}

// sampleRequest builds a schema-valid request of action from its schema.
func sampleRequest(t *testing.T, v ocppj.Version, action string, full bool) string {
	t.Helper()
	return sample(t, v, action, true, full)
}

// sample builds a schema-valid request (or response) of action from its
// official schema: with full, every optional property too.
func sample(t *testing.T, v ocppj.Version, action string, request, full bool) string {
	t.Helper()
	file := filepath.Join("v16", action+map[bool]string{true: "", false: "Response"}[request]+".json")
	if v == ocppj.V201 {
		file = filepath.Join("v201", action+map[bool]string{true: "Request", false: "Response"}[request]+".json")
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "pkg", "ocpp", "schema", file))
	if err != nil {
		t.Fatal(err)
	}
	b, err := schematest.Sample(raw, full)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
