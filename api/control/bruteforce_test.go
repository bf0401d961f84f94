package control

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/admission"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/store"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
)

// countingChecker is the real Argon2id checker, counting its checks.
type countingChecker struct {
	real  *auth.PasswordChecker
	calls atomic.Int64
}

func (c *countingChecker) Verify(ctx context.Context, hash, password string) error {
	c.calls.Add(1)
	return c.real.Verify(ctx, hash, password)
}

// recordedEvents keeps the refusals the service reports.
type recordedEvents struct {
	mu   sync.Mutex
	list []admission.Refusal
}

func (r *recordedEvents) AdmissionRefused(_ context.Context, ref admission.Refusal) {
	r.mu.Lock()
	r.list = append(r.list, ref)
	r.mu.Unlock()
}

func (r *recordedEvents) checks() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ref := range r.list {
		out = append(out, string(ref.Check))
	}
	return out
}

func basicAuth(id, password, remote string) *gatewayv1.AdmitConnectionRequest {
	return &gatewayv1.AdmitConnectionRequest{StationId: id, HasBasicAuth: true, Username: id, Password: password, RemoteAddr: remote, Subprotocol: "ocpp1.6"}
}

// After PerStation wrong passwords a station id's password attempts are
// refused without any Argon2id work (a right password included), after
// the delay, as a 401, with one security event for the whole throttle;
// other stations from the same address are unaffected; once the window
// has passed the right password is admitted again.
func TestStationThrottle(t *testing.T) {
	const pw = "station-password-0123"
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			checker := &countingChecker{real: auth.NewPasswordChecker(2)}
			events := &recordedEvents{}
			limits := Limits{PerStation: 5, PerAddress: 100, Window: time.Minute, Delay: 30 * time.Millisecond}
			h := newHarness(t, db, func(d *Deps) { d.Passwords, d.Events, d.Limits = checker, events, limits })
			h.addStation(t, "BF-1", pw)
			h.addStation(t, "BF-2", pw)

			for i := range limits.PerStation {
				resp := h.admit(t, basicAuth("BF-1", "guess-"+strconv.Itoa(i), "198.51.100.7:"+strconv.Itoa(4000+i)))
				if resp.GetDecision() != gatewayv1.Decision_DECISION_UNAUTHORIZED || !strings.HasPrefix(resp.GetReason(), "wrong_password") {
					t.Fatalf("guess %d: %v", i, resp)
				}
				if last := i == limits.PerStation-1; last != strings.Contains(resp.GetReason(), "refused unchecked") {
					t.Errorf("guess %d's reason %q: the throttle is announced by the guess that starts it", i, resp.GetReason())
				}
			}
			if n := checker.calls.Load(); n != int64(limits.PerStation) {
				t.Fatalf("%d Argon2id checks for %d guesses", n, limits.PerStation)
			}

			for _, password := range []string{"guess-again", pw} {
				start := time.Now()
				resp := h.admit(t, basicAuth("BF-1", password, "203.0.113.9:5000"))
				if resp.GetDecision() != gatewayv1.Decision_DECISION_UNAUTHORIZED || !strings.HasPrefix(resp.GetReason(), "throttled: ") {
					t.Errorf("throttled attempt: %v, want 401 for the throttle", resp)
				}
				if d := time.Since(start); d < limits.Delay {
					t.Errorf("throttled attempt answered after %v, before the delay %v", d, limits.Delay)
				}
			}
			if n := checker.calls.Load(); n != int64(limits.PerStation) {
				t.Errorf("throttled attempts ran Argon2id: %d checks, want %d", n, limits.PerStation)
			}
			if got := events.checks(); len(got) != limits.PerStation || got[len(got)-1] != string(admission.CheckPassword) {
				t.Errorf("security events %v, want one per wrong password and none per throttled attempt", got)
			}

			// Another station, same address: not throttled.
			if resp := h.admit(t, basicAuth("BF-2", pw, "198.51.100.7:4999")); resp.GetDecision() != gatewayv1.Decision_DECISION_ACCEPTED {
				t.Errorf("other station from the same address: %v", resp)
			}

			h.clock.Add(limits.Window)
			before := checker.calls.Load()
			if resp := h.admit(t, basicAuth("BF-1", pw, "198.51.100.7:4100")); resp.GetDecision() != gatewayv1.Decision_DECISION_ACCEPTED {
				t.Fatalf("right password after the window: %v", resp)
			}
			if checker.calls.Load() != before+1 {
				t.Errorf("admission after the window did not check the password")
			}
			// The charger got in: its count starts again.
			if resp := h.admit(t, basicAuth("BF-1", "one-more-guess", "198.51.100.7:4101")); !strings.HasPrefix(resp.GetReason(), "wrong_password") ||
				strings.Contains(resp.GetReason(), "refused unchecked") {
				t.Errorf("first wrong password after a success: %v", resp)
			}
		})
	}
}

// Wrong passwords from one address, spread over stations, stop that
// address's password attempts (unchecked) and nobody else's.
func TestAddressThrottle(t *testing.T) {
	const pw = "station-password-0123"
	checker := &countingChecker{real: auth.NewPasswordChecker(2)}
	limits := Limits{PerStation: 100, PerAddress: 3, Window: time.Minute, Delay: time.Millisecond}
	h := newHarness(t, "sqlite", func(d *Deps) { d.Passwords, d.Limits = checker, limits })
	for i := range 5 {
		h.addStation(t, "AT-"+strconv.Itoa(i), pw)
	}
	for i := range limits.PerAddress {
		if resp := h.admit(t, basicAuth("AT-"+strconv.Itoa(i), "guess", "[2001:db8::1]:"+strconv.Itoa(7000+i))); !strings.HasPrefix(resp.GetReason(), "wrong_password") {
			t.Fatalf("guess %d: %v", i, resp)
		}
	}
	resp := h.admit(t, basicAuth("AT-3", pw, "[2001:db8::1]:7100"))
	if resp.GetDecision() != gatewayv1.Decision_DECISION_UNAUTHORIZED || !strings.Contains(resp.GetReason(), "from this address") {
		t.Errorf("right password from the throttled address: %v", resp)
	}
	if n := checker.calls.Load(); n != int64(limits.PerAddress) {
		t.Errorf("%d Argon2id checks, want %d (none for the throttled address)", n, limits.PerAddress)
	}
	if resp := h.admit(t, basicAuth("AT-4", pw, "[2001:db8::2]:7000")); resp.GetDecision() != gatewayv1.Decision_DECISION_ACCEPTED {
		t.Errorf("right password from another address: %v", resp)
	}
}

// heapObjects is the heap's object bytes now (live and not yet swept),
// read without stopping the world.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// A burst of parallel wrong passwords (one each for 40 stations, so no
// throttle applies) holds no more than the checker's limit of Argon2id
// memory at once: without the bound it would hold 40 × 19 MiB (760 MiB).
// The collector is kept tight during the burst (GOGC=10) so that the heap
// shows live memory rather than garbage waiting for the next collection.
func TestPasswordBurstMemoryBounded(t *testing.T) {
	const burst, limit = 40, 2
	checker := &countingChecker{real: auth.NewPasswordChecker(limit)}
	h := newHarness(t, "sqlite", func(d *Deps) { d.Passwords = checker })
	hash, err := auth.HashSecret("the-right-password-0123")
	if err != nil {
		t.Fatal(err)
	}
	for i := range burst {
		if err := h.store.CreateStation(context.Background(), &store.Station{ID: "MEM-" + strconv.Itoa(i), PasswordHash: hash, SecurityProfile: 1}); err != nil {
			t.Fatal(err)
		}
	}

	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	base := heapObjects()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if v := heapObjects(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "MEM-" + strconv.Itoa(i)
			resp, err := h.svc.AdmitConnection(context.Background(), &gatewayv1.AdmitConnectionRequest{GatewayId: "gw-1", StationId: id,
				HasBasicAuth: true, Username: id, Password: "wrong-" + strconv.Itoa(i), RemoteAddr: "192.0.2.1:" + strconv.Itoa(9000+i)})
			if err != nil || resp.GetDecision() != gatewayv1.Decision_DECISION_UNAUTHORIZED {
				t.Errorf("%s: %v %v", id, resp, err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled

	if n := checker.calls.Load(); n != burst {
		t.Errorf("%d Argon2id checks for %d wrong passwords", n, burst)
	}
	// The checks' own memory, one more check's being collected, and 32 MiB
	// for the collector's 10% and everything else the admissions allocate.
	bound := uint64(auth.NewPasswordChecker(limit+1).MemoryBound()) + 32<<20
	growth := peak.Load() - min(base, peak.Load())
	t.Logf("burst of %d wrong passwords, %d checks at once: heap grew by %d MiB (bound %d MiB; unbounded would hold %d MiB)",
		burst, limit, growth>>20, bound>>20, burst*auth.Argon2MemoryBytes>>20)
	if growth > bound {
		t.Errorf("heap grew by %d MiB during the burst, over the bound of %d MiB", growth>>20, bound>>20)
	}
}
