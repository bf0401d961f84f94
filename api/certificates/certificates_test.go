package certificates_test

import (
	"context"
	"crypto/x509/pkix"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chargeplane/chargeplane/api/certificates"
	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/api/pki/pkitest"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sender answers CertificateSigned as the test says and remembers what it
// was sent.
type sender struct {
	mu     sync.Mutex
	sent   []string // station ids
	chains []string
	answer func(n int) (certificates.Answer, error)
}

func (s *sender) SendCertificateSigned(_ context.Context, stationID, chain string) (certificates.Answer, error) {
	s.mu.Lock()
	s.sent = append(s.sent, stationID)
	s.chains = append(s.chains, chain)
	n := len(s.sent)
	s.mu.Unlock()
	a, err := s.answer(n)
	a.CommandID = fmt.Sprintf("cmd-%d", n)
	return a, err
}

func (s *sender) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.sent) }

type event struct{ station, typ, info string }

type events struct {
	mu  sync.Mutex
	got []event
}

func (e *events) RecordSecurityEvent(_ context.Context, ev store.SecurityEvent) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, event{ev.StationID, ev.Type, ev.TechInfo})
	return nil
}

func (e *events) all() []event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]event(nil), e.got...)
}

type fixture struct {
	svc    *certificates.Service
	store  *store.Store
	clk    *clock
	sender *sender
	events *events
	ca     *pki.CA
}

func newFixture(t *testing.T, withCA bool) *fixture {
	t.Helper()
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: filepath.Join(t.TempDir(), "data"), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"CP-1", "CP-2"} {
		if err := st.CreateStation(ctx, &store.Station{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{store: st, clk: clk, events: &events{},
		sender: &sender{answer: func(int) (certificates.Answer, error) { return certificates.Answer{Status: "Accepted"}, nil }}}
	cfg := certificates.Config{
		Policy: pki.CSRPolicy{Organization: "Example CPO"},
		Store:  st, Sender: f.sender, Events: f.events, Now: clk.Now,
		// Sweeps and checks only when the test calls them.
		SweepEvery: time.Hour, ExpiryEvery: time.Hour,
	}
	if withCA {
		root := pkitest.NewRoot(t, "Test CSMS CA", clk.Now().Add(-time.Hour), clk.Now().Add(5*365*24*time.Hour))
		if f.ca, err = pki.Parse(root.CertPEM(), root.KeyPEM(t), pki.Options{Now: clk.Now}); err != nil {
			t.Fatal(err)
		}
		cfg.CA = f.ca
	}
	f.svc = certificates.New(cfg)
	runCtx, cancel := context.WithCancel(context.Background())
	f.svc.Start(runCtx)
	t.Cleanup(func() { cancel(); f.svc.Wait() })
	return f
}

func csr(t *testing.T, cn, org string) string {
	return pkitest.CSR(t, pkitest.Key(t, "p256"), pkix.Name{CommonName: cn, Organization: []string{org}})
}

func (f *fixture) issued(t *testing.T, station string) []store.IssuedCertificate {
	t.Helper()
	rows, _, err := f.store.ListIssuedCertificates(context.Background(), station, store.SeqPage{})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// waitFor polls the issuance until cond holds: deliveries run on their
// own goroutines.
func (f *fixture) waitFor(t *testing.T, id int64, what string, cond func(c *store.IssuedCertificate) bool) *store.IssuedCertificate {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := f.store.GetIssuedCertificate(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("issuance %d never %s: %+v", id, what, c)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSignAndDeliver(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	req := certificates.CSR{StationID: "CP-1", OCPPVersion: ocppj.V201, PEM: csr(t, "CP-1", "Example CPO")}
	d, err := f.svc.Sign(ctx, req)
	if err != nil || !d.Accepted {
		t.Fatalf("Sign = %+v, %v", d, err)
	}
	rows := f.issued(t, "CP-1")
	if len(rows) != 1 || rows[0].DeliveryStatus != store.DeliveryPending || rows[0].CertificateType != certificates.TypeChargingStation {
		t.Fatalf("issued = %+v", rows)
	}
	// Nothing is sent before the answer is: not even by the sweeper.
	f.svc.Sweep(ctx)
	if n := f.sender.count(); n != 0 {
		t.Fatalf("%d CertificateSigned sent before the station had its answer", n)
	}

	f.svc.Deliver(d)
	c := f.waitFor(t, rows[0].ID, "accepted", func(c *store.IssuedCertificate) bool { return c.DeliveryStatus == store.DeliveryAccepted })
	if c.CommandID != "cmd-1" || c.DeliveryAttempts != 1 {
		t.Errorf("delivered: %+v", c)
	}
	leaf, err := f.ca.VerifyChain(f.sender.chains[0])
	if err != nil {
		t.Fatalf("sent chain: %v", err)
	}
	if leaf.Subject.CommonName != "CP-1" || pki.SerialHex(leaf.SerialNumber) != c.SerialNumber || !leaf.NotAfter.Equal(c.NotAfter) {
		t.Errorf("sent leaf %v serial %s, stored %s", leaf.Subject, pki.SerialHex(leaf.SerialNumber), c.SerialNumber)
	}
	if ev := f.events.all(); len(ev) != 0 {
		t.Errorf("events on a good flow: %v", ev)
	}
}

func TestSignRetriedCSRReusesItsCertificate(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	pem := csr(t, "CP-1", "Example CPO")
	var ds []certificates.Decision
	for range 2 {
		d, err := f.svc.Sign(ctx, certificates.CSR{StationID: "CP-1", OCPPVersion: ocppj.V16, PEM: pem})
		if err != nil || !d.Accepted {
			t.Fatalf("Sign = %+v, %v", d, err)
		}
		ds = append(ds, d)
	}
	rows := f.issued(t, "CP-1")
	if len(rows) != 1 {
		t.Fatalf("a retried CSR was signed %d times", len(rows))
	}
	f.svc.Deliver(ds[1])
	f.waitFor(t, rows[0].ID, "accepted", func(c *store.IssuedCertificate) bool { return c.DeliveryStatus == store.DeliveryAccepted })

	// A new CSR is a new certificate, which replaces the old one.
	d, _ := f.svc.Sign(ctx, certificates.CSR{StationID: "CP-1", OCPPVersion: ocppj.V16, PEM: csr(t, "CP-1", "Example CPO")})
	f.svc.Deliver(d)
	rows = f.issued(t, "CP-1")
	if len(rows) != 2 {
		t.Fatalf("renewal: %d issued", len(rows))
	}
	f.waitFor(t, rows[0].ID, "accepted", func(c *store.IssuedCertificate) bool { return c.DeliveryStatus == store.DeliveryAccepted })
	f.waitFor(t, rows[1].ID, "replaced", func(c *store.IssuedCertificate) bool { return c.DeliveryStatus == store.DeliveryReplaced })
}

func TestSignRejects(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	for _, tc := range []struct {
		name, station, pem, typ, reason, info string
	}{
		{"another station's CN", "CP-1", csr(t, "CP-2", "Example CPO"), "", certificates.ReasonInvalidCSR, pki.CheckCommonName},
		{"another organisation", "CP-1", csr(t, "CP-1", "Mallory"), "", certificates.ReasonInvalidCSR, pki.CheckOrganization},
		{"weak key", "CP-1", pkitest.CSR(t, pkitest.Key(t, "rsa1024"), pkix.Name{CommonName: "CP-1", Organization: []string{"Example CPO"}}), "",
			certificates.ReasonInvalidCSR, pki.CheckKey},
		{"not a CSR", "CP-1", "hello", "", certificates.ReasonInvalidCSR, pki.CheckMalformed},
		{"V2G", "CP-1", csr(t, "CP-1", "Example CPO"), certificates.TypeV2G, certificates.ReasonUnsupportedType, "V2GCertificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.events.all())
			d, err := f.svc.Sign(ctx, certificates.CSR{StationID: tc.station, OCPPVersion: ocppj.V201, PEM: tc.pem, CertificateType: tc.typ})
			if err != nil || d.Accepted || d.ReasonCode != tc.reason {
				t.Fatalf("Sign = %+v, %v; want rejected with %s", d, err, tc.reason)
			}
			ev := f.events.all()
			if len(ev) != before+1 || ev[before].typ != certificates.EventCSRRejected || ev[before].station != tc.station ||
				!strings.Contains(ev[before].info, tc.info) {
				t.Errorf("events = %+v, want one CSRRejected saying %q", ev[before:], tc.info)
			}
		})
	}
	if rows := f.issued(t, "CP-1"); len(rows) != 0 {
		t.Errorf("rejected CSRs issued %d certificates", len(rows))
	}
}

func TestSignWithoutCA(t *testing.T) {
	f := newFixture(t, false)
	d, err := f.svc.Sign(context.Background(), certificates.CSR{StationID: "CP-1", OCPPVersion: ocppj.V16, PEM: csr(t, "CP-1", "Example CPO")})
	if err != nil || d.Accepted || d.ReasonCode != certificates.ReasonNoCA {
		t.Fatalf("Sign = %+v, %v", d, err)
	}
	if ev := f.events.all(); len(ev) != 1 || !strings.Contains(ev[0].info, "no CA") {
		t.Errorf("events = %+v", ev)
	}
}

// A core that answered the station and died before sending
// CertificateSigned: any instance's sweeper sends it once the reply window
// is over.
func TestLostDeliveryIsSentBySweeper(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	d, err := f.svc.Sign(ctx, certificates.CSR{StationID: "CP-1", OCPPVersion: ocppj.V201, PEM: csr(t, "CP-1", "Example CPO")})
	if err != nil || !d.Accepted {
		t.Fatal(err)
	}
	// Deliver is never called: the instance is gone.
	f.clk.Add(certificates.DefaultReplyWindow + time.Second)
	f.svc.Sweep(ctx)
	rows := f.issued(t, "CP-1")
	f.waitFor(t, rows[0].ID, "accepted", func(c *store.IssuedCertificate) bool { return c.DeliveryStatus == store.DeliveryAccepted })
	if n := f.sender.count(); n != 1 {
		t.Errorf("sent %d times", n)
	}
}

func TestDeliveryRetriesThenGivesUp(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	f.sender.answer = func(int) (certificates.Answer, error) { return certificates.Answer{}, command.ErrNotConnected }
	d, _ := f.svc.Sign(ctx, certificates.CSR{StationID: "CP-1", OCPPVersion: ocppj.V201, PEM: csr(t, "CP-1", "Example CPO")})
	f.svc.Deliver(d)
	id := f.issued(t, "CP-1")[0].ID
	for attempt := 1; attempt <= certificates.MaxAttempts; attempt++ {
		// An attempt is settled once its command is recorded.
		c := f.waitFor(t, id, fmt.Sprintf("settled attempt %d", attempt), func(c *store.IssuedCertificate) bool {
			return c.DeliveryAttempts == attempt && c.CommandID == fmt.Sprintf("cmd-%d", attempt)
		})
		if attempt == certificates.MaxAttempts {
			if c.DeliveryStatus != store.DeliveryFailed {
				t.Fatalf("after %d attempts: %s", attempt, c.DeliveryStatus)
			}
			break
		}
		if got, want := c.NextAttemptAt.Sub(f.clk.Now()), certificates.Backoff(attempt); got != want {
			t.Errorf("attempt %d: next in %v, want %v", attempt, got, want)
		}
		// Not due yet: nothing is sent.
		f.svc.Sweep(ctx)
		if n := f.sender.count(); n != attempt {
			t.Fatalf("attempt %d: sent %d times before the backoff was over", attempt, n)
		}
		f.clk.Add(certificates.Backoff(attempt))
		f.svc.Sweep(ctx)
	}
	ev := f.events.all()
	if len(ev) != 1 || ev[0].typ != certificates.EventCertificateNotDeliver {
		t.Errorf("events = %+v, want one delivery failure", ev)
	}
	if n := f.sender.count(); n != certificates.MaxAttempts {
		t.Errorf("sent %d times, want %d", n, certificates.MaxAttempts)
	}
}

func TestDeliveryRefusedOrInvalid(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer certificates.Answer
		err    error
		status string
		event  string
	}{
		{"station rejects", certificates.Answer{Status: "Rejected", Reason: "InvalidCertificate"}, nil, store.DeliveryRejected, certificates.EventCertificateNotTaken},
		{"station errors", certificates.Answer{}, &command.ChargerError{Code: "NotSupported"}, store.DeliveryFailed, certificates.EventCertificateNotDeliver},
		{"schema", certificates.Answer{}, &command.InvalidError{Reason: "x"}, store.DeliveryFailed, certificates.EventCertificateNotDeliver},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, true)
			f.sender.answer = func(int) (certificates.Answer, error) { return tc.answer, tc.err }
			d, _ := f.svc.Sign(context.Background(), certificates.CSR{StationID: "CP-2", OCPPVersion: ocppj.V201, PEM: csr(t, "CP-2", "Example CPO")})
			f.svc.Deliver(d)
			f.waitFor(t, f.issued(t, "CP-2")[0].ID, tc.status, func(c *store.IssuedCertificate) bool { return c.DeliveryStatus == tc.status })
			deadline := time.Now().Add(5 * time.Second)
			for len(f.events.all()) == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if ev := f.events.all(); len(ev) != 1 || ev[0].typ != tc.event || ev[0].station != "CP-2" {
				t.Errorf("events = %+v, want %s", ev, tc.event)
			}
		})
	}
}

func TestExpiryWarnedOnce(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	d, _ := f.svc.Sign(ctx, certificates.CSR{StationID: "CP-1", OCPPVersion: ocppj.V201, PEM: csr(t, "CP-1", "Example CPO")})
	f.svc.Deliver(d)
	c := f.waitFor(t, f.issued(t, "CP-1")[0].ID, "accepted", func(c *store.IssuedCertificate) bool { return c.DeliveryStatus == store.DeliveryAccepted })

	f.svc.CheckExpiry(ctx)
	if ev := f.events.all(); len(ev) != 0 {
		t.Fatalf("a year-long certificate raised %v", ev)
	}
	f.clk.Set(c.NotAfter.Add(-29 * 24 * time.Hour))
	for range 3 {
		f.svc.CheckExpiry(ctx)
	}
	ev := f.events.all()
	if len(ev) != 1 || ev[0].typ != certificates.EventCertificateExpiring || ev[0].station != "CP-1" || !strings.Contains(ev[0].info, c.SerialNumber) {
		t.Errorf("events = %+v, want one CertificateExpiring", ev)
	}
}
