package control

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/bus/inproc"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	store *store.Store
	bus   *inproc.Bus
	svc   *Service
	clock *clock
}

func logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newHarness serves the control plane on db ("sqlite" or "postgres");
// tune changes its dependencies first.
func newHarness(t testing.TB, db string, tune ...func(*Deps)) *harness {
	t.Helper()
	c := &clock{t: t0}
	cfg := store.Config{Logger: logger(), Now: c.Now}
	if db == "postgres" {
		cfg.DatabaseURL = testenv.PostgresURL(t)
	} else {
		cfg.DataDir = t.TempDir()
	}
	ctx := context.Background()
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	b := inproc.New(inproc.Config{Logger: logger()})
	t.Cleanup(func() { _ = b.Close() })
	d := Deps{Store: st, Bus: b, Now: c.Now, Logger: logger()}
	for _, f := range tune {
		f(&d)
	}
	return &harness{store: st, bus: b, clock: c, svc: New(d)}
}

func (h *harness) addStation(t testing.TB, id, password string) {
	t.Helper()
	st := &store.Station{ID: id}
	if password != "" {
		hash, err := auth.HashSecret(password)
		if err != nil {
			t.Fatal(err)
		}
		st.PasswordHash, st.SecurityProfile = hash, 1
	}
	if err := h.store.CreateStation(context.Background(), st); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) admit(t *testing.T, req *gatewayv1.AdmitConnectionRequest) *gatewayv1.AdmitConnectionResponse {
	t.Helper()
	if req.GatewayId == "" {
		req.GatewayId = "gw-1"
	}
	resp, err := h.svc.AdmitConnection(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

var databases = []string{"sqlite", "postgres"}

func TestAdmitConnection(t *testing.T) {
	const pw = "0123456789abcdef0123"
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			h.addStation(t, "OPEN", "")
			h.addStation(t, "LOCKED", pw)
			h.addStation(t, "a/b", "") // registered before ids were checked
			cases := []struct {
				name string
				req  *gatewayv1.AdmitConnectionRequest
				want gatewayv1.Decision
			}{
				{"unknown station", &gatewayv1.AdmitConnectionRequest{StationId: "NOPE", Subprotocol: "ocpp1.6"}, gatewayv1.Decision_DECISION_UNKNOWN_STATION},
				{"empty station id", &gatewayv1.AdmitConnectionRequest{}, gatewayv1.Decision_DECISION_UNKNOWN_STATION},
				{"an id the identity rule refuses", &gatewayv1.AdmitConnectionRequest{StationId: "a/b", Subprotocol: "ocpp1.6"}, gatewayv1.Decision_DECISION_UNKNOWN_STATION},
				{"no password needed", &gatewayv1.AdmitConnectionRequest{StationId: "OPEN", Subprotocol: "ocpp1.6"}, gatewayv1.Decision_DECISION_ACCEPTED},
				{"no credentials", &gatewayv1.AdmitConnectionRequest{StationId: "LOCKED"}, gatewayv1.Decision_DECISION_UNAUTHORIZED},
				{"wrong username", &gatewayv1.AdmitConnectionRequest{StationId: "LOCKED", HasBasicAuth: true, Username: "OPEN", Password: pw}, gatewayv1.Decision_DECISION_UNAUTHORIZED},
				{"wrong password", &gatewayv1.AdmitConnectionRequest{StationId: "LOCKED", HasBasicAuth: true, Username: "LOCKED", Password: pw + "x"}, gatewayv1.Decision_DECISION_UNAUTHORIZED},
				{"right password", &gatewayv1.AdmitConnectionRequest{StationId: "LOCKED", HasBasicAuth: true, Username: "LOCKED", Password: pw, Subprotocol: "ocpp2.0.1"}, gatewayv1.Decision_DECISION_ACCEPTED},
				{"right password again (cached)", &gatewayv1.AdmitConnectionRequest{StationId: "LOCKED", HasBasicAuth: true, Username: "LOCKED", Password: pw}, gatewayv1.Decision_DECISION_ACCEPTED},
				{"wrong password after a cached success", &gatewayv1.AdmitConnectionRequest{StationId: "LOCKED", HasBasicAuth: true, Username: "LOCKED", Password: "nope"}, gatewayv1.Decision_DECISION_UNAUTHORIZED},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					resp := h.admit(t, c.req)
					if resp.GetDecision() != c.want {
						t.Fatalf("decision %v (%s), want %v", resp.GetDecision(), resp.GetReason(), c.want)
					}
					accepted := c.want == gatewayv1.Decision_DECISION_ACCEPTED
					if accepted != (resp.GetConnectionId() != "") {
						t.Fatalf("connection id %q with decision %v", resp.GetConnectionId(), resp.GetDecision())
					}
					if accepted {
						st, err := h.store.GetStation(context.Background(), c.req.StationId)
						if err != nil {
							t.Fatal(err)
						}
						if st.ConnectionID != resp.GetConnectionId() || st.GatewayID != "gw-1" {
							t.Fatalf("registry has %q on %q, want %q on gw-1", st.ConnectionID, st.GatewayID, resp.GetConnectionId())
						}
					}
				})
			}
			if n := h.svc.cache.len(); n != 1 {
				t.Fatalf("cache holds %d entries, want 1", n)
			}
		})
	}
}

// TestPasswordChangeInvalidatesCache: a password that was verified before
// must stop working as soon as the station's hash changes.
func TestPasswordChangeInvalidatesCache(t *testing.T) {
	h := newHarness(t, "sqlite")
	h.addStation(t, "CS", "old-password-0000")
	req := func(pw string) *gatewayv1.AdmitConnectionRequest {
		return &gatewayv1.AdmitConnectionRequest{StationId: "CS", HasBasicAuth: true, Username: "CS", Password: pw}
	}
	if d := h.admit(t, req("old-password-0000")).GetDecision(); d != gatewayv1.Decision_DECISION_ACCEPTED {
		t.Fatalf("old password: %v", d)
	}
	hash, err := auth.HashSecret("new-password-1111")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.UpdateStation(context.Background(), "CS", store.StationPatch{PasswordHash: &hash}); err != nil {
		t.Fatal(err)
	}
	if d := h.admit(t, req("old-password-0000")).GetDecision(); d != gatewayv1.Decision_DECISION_UNAUTHORIZED {
		t.Fatalf("old password after change: %v", d)
	}
	if d := h.admit(t, req("new-password-1111")).GetDecision(); d != gatewayv1.Decision_DECISION_ACCEPTED {
		t.Fatalf("new password: %v", d)
	}
}

func TestCredCacheBounded(t *testing.T) {
	c := newCredCache(3)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		c.add(id, "h", [32]byte{1})
	}
	if n := c.len(); n != 3 {
		t.Fatalf("cache holds %d, want at most 3", n)
	}
	if !c.verified("e", "h", [32]byte{1}) || c.verified("e", "other", [32]byte{1}) || c.verified("e", "h", [32]byte{2}) {
		t.Fatal("cache lookup wrong")
	}
}

// TestNewestConnectionWins: a second admission of the same station asks
// the old connection's gateway to close it.
func TestNewestConnectionWins(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			h.addStation(t, "CS", "")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			got := make(chan *busv1.Envelope, 4)
			err := h.bus.ConsumeGateway(ctx, "gw-old", func(ctx context.Context, env *busv1.Envelope) error {
				got <- env
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			first := h.admit(t, &gatewayv1.AdmitConnectionRequest{StationId: "CS", GatewayId: "gw-old", Subprotocol: "ocpp1.6"})
			select {
			case env := <-got:
				t.Fatalf("first admission closed something: %v", env)
			case <-time.After(50 * time.Millisecond):
			}
			second := h.admit(t, &gatewayv1.AdmitConnectionRequest{StationId: "CS", GatewayId: "gw-new", Subprotocol: "ocpp1.6"})
			if first.GetConnectionId() == second.GetConnectionId() {
				t.Fatal("connection ids repeat")
			}
			select {
			case env := <-got:
				if env.GetKind() != busv1.Kind_KIND_CLOSE_CONNECTION || env.GetStationId() != "CS" ||
					env.GetConnectionId() != first.GetConnectionId() || env.GetGatewayId() != "gw-old" {
					t.Fatalf("close envelope %v", env)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("old connection's gateway was not told to close it")
			}
		})
	}
}

func TestLeases(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			ctx := context.Background()
			h.addStation(t, "CS", "")
			h.addStation(t, "OTHER", "")
			a := h.admit(t, &gatewayv1.AdmitConnectionRequest{StationId: "CS", GatewayId: "gw-dies", Subprotocol: "ocpp2.0.1"})
			b := h.admit(t, &gatewayv1.AdmitConnectionRequest{StationId: "OTHER", GatewayId: "gw-lives", Subprotocol: "ocpp2.0.1"})
			for _, c := range []struct{ st, gw, conn string }{{"CS", "gw-dies", a.GetConnectionId()}, {"OTHER", "gw-lives", b.GetConnectionId()}} {
				if _, err := h.store.MarkConnected(ctx, store.ConnectionEvent{StationID: c.st, GatewayID: c.gw, ConnectionID: c.conn, At: t0}); err != nil {
					t.Fatal(err)
				}
			}
			for _, gw := range []string{"gw-dies", "gw-lives"} {
				if _, err := h.svc.RenewLease(ctx, &gatewayv1.RenewLeaseRequest{GatewayId: gw, TtlSeconds: 10}); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := h.svc.SweepLeases(ctx); err != nil || len(got) != 0 {
				t.Fatalf("sweep before expiry: %v, %v", got, err)
			}
			h.clock.Add(8 * time.Second)
			if _, err := h.svc.RenewLease(ctx, &gatewayv1.RenewLeaseRequest{GatewayId: "gw-lives", TtlSeconds: 10}); err != nil {
				t.Fatal(err)
			}
			h.clock.Add(3 * time.Second) // gw-dies expired 1s ago, gw-lives has 7s left
			got, err := h.svc.SweepLeases(ctx)
			if err != nil || !slices.Equal(got, []string{"CS"}) {
				t.Fatalf("sweep after expiry: %v, %v", got, err)
			}
			st, err := h.store.GetStation(ctx, "CS")
			if err != nil {
				t.Fatal(err)
			}
			if st.Connected || st.Status != "Unavailable" {
				t.Fatalf("station of the dead gateway: %+v", st)
			}
			other, err := h.store.GetStation(ctx, "OTHER")
			if err != nil {
				t.Fatal(err)
			}
			if !other.Connected {
				t.Fatalf("station of the live gateway was disconnected: %+v", other)
			}
			// Renewals resume: the gateway whose lease expired is told so
			// (it must have its chargers reconnect), the live one is not.
			for gw, want := range map[string]bool{"gw-dies": true, "gw-lives": false} {
				resp, err := h.svc.RenewLease(ctx, &gatewayv1.RenewLeaseRequest{GatewayId: gw, TtlSeconds: 10})
				if err != nil || resp.GetNewLease() != want {
					t.Errorf("renewal of %s after the sweep: new lease %v (%v), want %v", gw, resp.GetNewLease(), err, want)
				}
			}
		})
	}
}

func TestInvalidArguments(t *testing.T) {
	h := newHarness(t, "sqlite")
	ctx := context.Background()
	for _, req := range []*gatewayv1.RenewLeaseRequest{{TtlSeconds: 5}, {GatewayId: "gw", TtlSeconds: 0}, {GatewayId: "gw", TtlSeconds: -3}} {
		if _, err := h.svc.RenewLease(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("RenewLease(%v) = %v, want InvalidArgument", req, err)
		}
	}
	if _, err := h.svc.AdmitConnection(ctx, &gatewayv1.AdmitConnectionRequest{StationId: "X"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("AdmitConnection without gateway = %v, want InvalidArgument", err)
	}
}

func TestStoreDownIsUnavailable(t *testing.T) {
	h := newHarness(t, "sqlite")
	h.addStation(t, "CS", "")
	_ = h.store.Close()
	_, err := h.svc.AdmitConnection(context.Background(), &gatewayv1.AdmitConnectionRequest{StationId: "CS", GatewayId: "gw"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("AdmitConnection with the store down = %v, want Unavailable", err)
	}
}

// TestRunLeaseSweeper: the sweeper runs on its own and stops with ctx.
func TestRunLeaseSweeper(t *testing.T) {
	h := newHarness(t, "sqlite")
	ctx := context.Background()
	h.addStation(t, "CS", "")
	a := h.admit(t, &gatewayv1.AdmitConnectionRequest{StationId: "CS", GatewayId: "gw-dies"})
	if _, err := h.store.MarkConnected(ctx, store.ConnectionEvent{StationID: "CS", GatewayID: "gw-dies", ConnectionID: a.GetConnectionId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.RenewLease(ctx, &gatewayv1.RenewLeaseRequest{GatewayId: "gw-dies", TtlSeconds: 1}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(2 * time.Second)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); h.svc.RunLeaseSweeper(runCtx, 10*time.Millisecond) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := h.store.GetStation(ctx, "CS")
		if err != nil {
			t.Fatal(err)
		}
		if !st.Connected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sweeper never expired the lease")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}
