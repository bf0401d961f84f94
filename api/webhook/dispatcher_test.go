package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/logtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testSealer, _ = NewSealer([]byte("dispatcher test auth secret 0123456789"))

// eachStore runs fn against a migrated SQLite file and a fresh PostgreSQL
// database.
func eachStore(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			fn(t, openStore(t, db))
		})
	}
}

func openStore(t *testing.T, db string) *store.Store {
	t.Helper()
	cfg := store.Config{DataDir: t.TempDir()}
	if db == "postgres" {
		cfg = store.Config{DatabaseURL: testenv.PostgresURL(t)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// receiver is a webhook endpoint: it checks every delivery's signature
// (computed here as docs/integrations.md tells receivers to), answers 500
// to the first `fail` requests, and keeps the events it accepted.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	fail     int
	requests int
	got      []event.Event
}

func newReceiver(t *testing.T, secret string, fail int) *receiver {
	r := &receiver{t: t, secret: secret, fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	ts := req.Header.Get(HeaderTimestamp)
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write([]byte(ts + "." + string(body)))
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); req.Header.Get(HeaderSignature) != want || req.Method != http.MethodPost ||
		req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("delivery %s %s: signature %q, want %q", req.Method, body, req.Header.Get(HeaderSignature), want)
	}
	if n, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(n, 0)).Abs() > time.Minute {
		r.t.Errorf("delivery timestamp %q is not now", ts)
	}
	if r.fail > 0 {
		r.fail--
		http.Error(w, "busy\nretry later", http.StatusInternalServerError)
		return
	}
	var e event.Event
	if err := json.Unmarshal(body, &e); err != nil {
		r.t.Errorf("delivery body %s: %v", body, err)
	}
	if req.Header.Get(HeaderEventID) != strconv.FormatInt(e.ID, 10) || req.Header.Get(HeaderEvent) != string(e.Type) {
		r.t.Errorf("headers %v disagree with the event %s", req.Header, body)
	}
	r.got = append(r.got, e)
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) setFail(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = n
}

func (r *receiver) snapshot() (got []event.Event, requests int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.got...), r.requests
}

// waitFor waits until the receiver accepted n events and checks they are
// the ones wanted, in order, each once.
func (r *receiver) waitFor(t *testing.T, want []int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, _ := r.snapshot()
		if len(got) >= len(want) || time.Now().After(deadline) {
			ids := make([]int64, len(got))
			for i, e := range got {
				ids[i] = e.ID
			}
			if !equal(ids, want) {
				t.Fatalf("received events %v, want %v (in order, each once)", ids, want)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// appendEvents stores events of the given types now and returns their ids.
func appendEvents(t *testing.T, st *store.Store, at time.Time, types ...event.Type) []int64 {
	t.Helper()
	evs := make([]event.Event, len(types))
	for i, typ := range types {
		evs[i] = event.New(typ, at, "CP-1", map[string]any{"n": i})
	}
	return storeEvents(t, st, evs)
}

// storeEvents appends evs to the log and returns their ids.
func storeEvents(t *testing.T, st *store.Store, evs []event.Event) []int64 {
	t.Helper()
	if err := st.AppendEvents(context.Background(), evs, time.Now()); err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	return ids
}

func createWebhook(t *testing.T, st *store.Store, url, secret string, types ...event.Type) *store.Webhook {
	t.Helper()
	w := &store.Webhook{ID: uuid.NewString(), URL: url, EventTypes: JoinTypes(types), Enabled: true}
	var err error
	if w.SealedSecret, err = testSealer.Seal(w.ID, secret); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateWebhook(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	return w
}

// running is a started Dispatcher.
type running struct {
	d    *Dispatcher
	stop func()
}

func startDispatcher(t *testing.T, st *store.Store, owner string, tune func(*Config)) running {
	t.Helper()
	cfg := Config{Store: st, Sealer: testSealer, Owner: owner, Timeout: 2 * time.Second, AllowPrivate: true,
		Poll: 50 * time.Millisecond}
	if tune != nil {
		tune(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return running{d: d, stop: stop}
}

func getWebhook(t *testing.T, st *store.Store, id string) *store.Webhook {
	t.Helper()
	w, err := st.GetWebhook(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Only the webhook's types go out, signed, in order; a 500 is retried
// with back-off until the endpoint takes it, and the log and status say
// what happened.
func TestDeliverySignedRetriedInOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store) {
		before := appendEvents(t, st, time.Now(), event.StationStatus) // before the webhook: not for it
		secret := "receiver-secret-0123456789"
		rc := newReceiver(t, secret, 2)
		w := createWebhook(t, st, rc.srv.URL+"/hook?tenant=1", secret, event.StationStatus, event.TransactionEnded)
		if w.EventCursor != before[0] {
			t.Fatalf("a new webhook starts at the end of the log: cursor %d, want %d", w.EventCursor, before[0])
		}
		m := NewMetrics(prometheus.NewRegistry())
		startDispatcher(t, st, "core-a", func(c *Config) { c.Metrics = m })

		ids := appendEvents(t, st, time.Now(), event.StationBooted, event.StationStatus, event.StationStatus,
			event.CommandSent, event.TransactionEnded, event.StationBooted)
		want := []int64{ids[1], ids[2], ids[4]}
		rc.waitFor(t, want)
		if _, requests := rc.snapshot(); requests != 5 {
			t.Fatalf("%d requests, want 5 (2 answered 500, then 3 delivered)", requests)
		}

		var got *store.Webhook
		eventually(t, "the last event's delivery recorded", func() bool {
			got = getWebhook(t, st, w.ID)
			return got.EventCursor >= ids[4]
		})
		if got.LastSuccessAt == nil || got.FailingSince != nil || got.Attempts != 0 || got.NextAttemptAt != nil ||
			!strings.HasPrefix(got.LastError, "HTTP 500: busy retry later") || got.LastErrorAt == nil {
			t.Fatalf("status after recovery: %+v", got.WebhookState)
		}
		log, err := st.ListWebhookDeliveries(context.Background(), w.ID, store.SeqPage{})
		if err != nil {
			t.Fatal(err)
		}
		var outcomes []string
		for i := len(log) - 1; i >= 0; i-- {
			r := log[i]
			outcomes = append(outcomes, r.Outcome+"#"+strconv.Itoa(r.Attempt)+"/"+strconv.Itoa(r.HTTPStatus))
		}
		if strings.Join(outcomes, " ") != "failed#1/500 failed#2/500 delivered#3/204 delivered#1/204 delivered#1/204" {
			t.Fatalf("delivery log %v", outcomes)
		}
		if n := value(t, m.deliveries.WithLabelValues(resultDelivered)).GetCounter().GetValue(); n != 3 {
			t.Errorf("delivered counter %v", n)
		}
		if n := value(t, m.deliveries.WithLabelValues(resultHTTPError)).GetCounter().GetValue(); n != 2 {
			t.Errorf("http_error counter %v", n)
		}
		if n := value(t, m.duration).GetHistogram().GetSampleCount(); n != 5 {
			t.Errorf("duration histogram counted %d attempts, want 5", n)
		}
	})
}

func value(t *testing.T, m prometheus.Metric) *dto.Metric {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in time", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Without WEBHOOK_ALLOW_PRIVATE, a webhook whose host resolves to the
// core's own machine is refused when connecting: the endpoint never
// sees a request, and the webhook says why.
func TestDeliveryRefusesPrivateAddresses(t *testing.T) {
	st := openStore(t, "sqlite")
	rc := newReceiver(t, "receiver-secret-0123456789", 0)
	port := rc.srv.Listener.Addr().String()[strings.LastIndex(rc.srv.Listener.Addr().String(), ":"):]
	w := createWebhook(t, st, "http://localhost"+port+"/hook", "receiver-secret-0123456789")
	m := NewMetrics(prometheus.NewRegistry())
	startDispatcher(t, st, "core-a", func(c *Config) { c.AllowPrivate = false; c.Metrics = m })
	appendEvents(t, st, time.Now(), event.StationBooted)
	var got *store.Webhook
	eventually(t, "a refused attempt recorded", func() bool {
		got = getWebhook(t, st, w.ID)
		return got.Attempts > 0
	})
	if !strings.Contains(got.LastError, "address refused") || !strings.Contains(got.LastError, "loopback") || got.FailingSince == nil {
		t.Fatalf("status: %+v", got.WebhookState)
	}
	if _, requests := rc.snapshot(); requests != 0 {
		t.Fatalf("the endpoint got %d requests", requests)
	}
	if n := value(t, m.deliveries.WithLabelValues(resultRefused)).GetCounter().GetValue(); n < 1 {
		t.Errorf("refused counter %v", n)
	}
}

// Two core instances deliver one webhook: one holds it and each event
// goes out once; when it stops, the other takes over where it stood.
func TestTwoDispatchersDeliverOnce(t *testing.T) {
	st := openStore(t, "postgres")
	secret := "receiver-secret-0123456789"
	rc := newReceiver(t, secret, 0)
	w := createWebhook(t, st, rc.srv.URL, secret)
	a := startDispatcher(t, st, "core-a", nil)
	b := startDispatcher(t, st, "core-b", nil)
	var want []int64
	for range 5 {
		want = append(want, appendEvents(t, st, time.Now(), event.StationStatus, event.StationBooted)...)
		time.Sleep(30 * time.Millisecond)
	}
	rc.waitFor(t, want)
	holders := len(a.d.Delivering()) + len(b.d.Delivering())
	if holders != 1 {
		t.Fatalf("%d instances deliver the webhook, want 1", holders)
	}
	holder, other := a, b
	if len(b.d.Delivering()) == 1 {
		holder, other = b, a
	}
	// Delivery is at least once: a stop before the holder has read the
	// endpoint's last answer would rightly send that event again.
	eventually(t, "the last delivery recorded", func() bool { return getWebhook(t, st, w.ID).EventCursor >= want[len(want)-1] })
	holder.stop()
	want = append(want, appendEvents(t, st, time.Now(), event.StationStatus, event.StationStatus)...)
	rc.waitFor(t, want)
	if got := other.d.Delivering(); len(got) != 1 || got[0] != w.ID {
		t.Fatalf("the other instance delivers %v", got)
	}
}

// A restart resumes where delivery stood: the events that were failing
// when the core stopped and those stored while it was down go out once
// each, in order, after it comes back.
func TestDeliveryResumesAfterRestart(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store) {
		secret := "receiver-secret-0123456789"
		rc := newReceiver(t, secret, 0)
		w := createWebhook(t, st, rc.srv.URL, secret)
		first := startDispatcher(t, st, "core-1", nil)
		want := appendEvents(t, st, time.Now(), event.StationConnected, event.StationBooted)
		rc.waitFor(t, want)

		rc.setFail(1000)
		want = append(want, appendEvents(t, st, time.Now(), event.StationStatus, event.StationStatus)...)
		eventually(t, "a failed attempt", func() bool { return getWebhook(t, st, w.ID).Attempts > 0 })
		first.stop()
		if got := getWebhook(t, st, w.ID); got.LeaseOwner != "" {
			t.Fatalf("a stopped instance kept the lease: %q", got.LeaseOwner)
		}
		want = append(want, appendEvents(t, st, time.Now(), event.StationDisconnected)...)
		rc.setFail(0)
		startDispatcher(t, st, "core-2", nil)
		want = append(want, appendEvents(t, st, time.Now(), event.StationConnected)...)
		rc.waitFor(t, want)
	})
}

// Events older than the retry window are given up without an attempt,
// counted, and delivery goes on with the next.
func TestExpiredEventsGivenUp(t *testing.T) {
	st := openStore(t, "sqlite")
	secret := "receiver-secret-0123456789"
	rc := newReceiver(t, secret, 0)
	w := createWebhook(t, st, rc.srv.URL, secret)
	old := appendEvents(t, st, time.Now().Add(-2*time.Hour), event.StationStatus, event.StationStatus)
	fresh := appendEvents(t, st, time.Now(), event.StationBooted)
	startDispatcher(t, st, "core-a", func(c *Config) { c.RetryFor = time.Hour })
	rc.waitFor(t, fresh)
	got := getWebhook(t, st, w.ID)
	if got.Expired != 2 || !strings.Contains(got.LastError, "2 event(s) up to id "+strconv.FormatInt(old[1], 10)) {
		t.Fatalf("status: %+v", got.WebhookState)
	}
}

// A webhook disabled or deleted is no longer delivered.
func TestDisabledWebhookStops(t *testing.T) {
	st := openStore(t, "sqlite")
	secret := "receiver-secret-0123456789"
	rc := newReceiver(t, secret, 0)
	w := createWebhook(t, st, rc.srv.URL, secret)
	r := startDispatcher(t, st, "core-a", nil)
	rc.waitFor(t, appendEvents(t, st, time.Now(), event.StationBooted))
	off := false
	if _, err := st.UpdateWebhook(context.Background(), w.ID, store.WebhookPatch{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	r.d.Kick()
	eventually(t, "the dispatcher lets go", func() bool { return len(r.d.Delivering()) == 0 })
	appendEvents(t, st, time.Now(), event.StationStatus)
	time.Sleep(200 * time.Millisecond)
	if got, _ := rc.snapshot(); len(got) != 1 {
		t.Fatalf("a disabled webhook received %d events", len(got))
	}
}

// A hanging endpoint holds up only its own webhook: another webhook's
// events all arrive while the hanging one's first attempt is still open.
func TestSlowEndpointHoldsUpOnlyItsWebhook(t *testing.T) {
	st := openStore(t, "sqlite")
	hung := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hung:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(hung) })
	secret := "receiver-secret-0123456789"
	rc := newReceiver(t, secret, 0)
	stuck := createWebhook(t, st, slow.URL, secret)
	createWebhook(t, st, rc.srv.URL, secret)
	startDispatcher(t, st, "core-a", func(c *Config) { c.Timeout = time.Minute })
	rc.waitFor(t, appendEvents(t, st, time.Now(), event.StationBooted, event.StationStatus, event.StationStatus))
	if got := getWebhook(t, st, stuck.ID); got.EventCursor != stuck.EventCursor || got.Attempts != 0 {
		t.Fatalf("the hanging webhook's first attempt ended already: %+v", got.WebhookState)
	}
}

// appendStationEvents stores one station.status event of each station
// given, in that order, and returns their ids.
func appendStationEvents(t *testing.T, st *store.Store, stations ...string) []int64 {
	t.Helper()
	evs := make([]event.Event, len(stations))
	for i, id := range stations {
		evs[i] = event.New(event.StationStatus, time.Now(), id, map[string]any{"n": i})
	}
	return storeEvents(t, st, evs)
}

// A webhook limited to stations receives only their events, in order;
// its cursor still moves past the others' (a webhook whose stations are
// quiet keeps up with the log rather than re-reading it), and the list is
// stored, changed and cleared on both databases.
func TestStationLimitedDelivery(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		secret := "receiver-secret-0123456789"
		rc := newReceiver(t, secret, 0)
		w := &store.Webhook{ID: uuid.NewString(), URL: rc.srv.URL, Enabled: true, StationIDs: JoinStations([]string{"CP-1", "site,3"})}
		var err error
		if w.SealedSecret, err = testSealer.Seal(w.ID, secret); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
		listed, err := st.ListWebhooks(ctx)
		if err != nil || len(listed) != 1 || strings.Join(SplitStations(listed[0].StationIDs), "|") != "CP-1|site,3" {
			t.Fatalf("listed %+v, %v", listed, err)
		}
		r := startDispatcher(t, st, "core-a", nil)

		ids := appendStationEvents(t, st, "CP-2", "CP-1", "site,3", "CP-2", "CP-1", "CP-10")
		rc.waitFor(t, []int64{ids[1], ids[2], ids[4]})
		got, _ := rc.snapshot()
		for _, e := range got {
			if e.StationID != "CP-1" && e.StationID != "site,3" {
				t.Fatalf("delivered an event of %s", e.StationID)
			}
		}

		// Only other stations speak: nothing is sent, yet the cursor
		// reaches the end of the log.
		quiet := appendStationEvents(t, st, "CP-2", "CP-2", "CP-10")
		eventually(t, "the cursor past the other stations' events", func() bool {
			return getWebhook(t, st, w.ID).EventCursor == quiet[2]
		})
		if got, requests := rc.snapshot(); len(got) != 3 || requests != 3 {
			t.Fatalf("%d events in %d requests after the others' events, want 3 in 3", len(got), requests)
		}

		// Changed to another station, live: once one of its events came
		// through (the worker re-read the webhook), only its events.
		only := JoinStations([]string{"CP-2"})
		changed, err := st.UpdateWebhook(ctx, w.ID, store.WebhookPatch{StationIDs: &only})
		if err != nil || changed.StationIDs != "CP-2" {
			t.Fatalf("update stations: %+v, %v", changed, err)
		}
		r.d.Kick()
		untilStation(t, st, rc, "CP-2")
		next := appendStationEvents(t, st, "CP-1", "CP-2", "site,3", "CP-2")
		got = rc.waitUntil(t, next[3])
		for _, e := range got[3:] {
			if e.StationID != "CP-2" {
				t.Fatalf("after the change, delivered an event of %s", e.StationID)
			}
		}

		// Cleared: every station again.
		every := ""
		if cleared, err := st.UpdateWebhook(ctx, w.ID, store.WebhookPatch{StationIDs: &every}); err != nil || cleared.StationIDs != "" {
			t.Fatalf("clear stations: %+v, %v", cleared, err)
		}
		r.d.Kick()
		untilStation(t, st, rc, "CP-7")
		last := appendStationEvents(t, st, "CP-1", "CP-8")
		got = rc.waitUntil(t, last[1])
		if n := len(got); got[n-2].ID != last[0] || got[n-1].ID != last[1] {
			t.Fatalf("after clearing, the last deliveries are %+v, want events %v", got[n-2:], last)
		}
	})
}

// untilStation stores events of station until one reaches rc (the
// dispatcher saw a change that selects it).
func untilStation(t *testing.T, st *store.Store, rc *receiver, station string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		appendStationEvents(t, st, station)
		time.Sleep(50 * time.Millisecond)
		got, _ := rc.snapshot()
		for _, e := range got {
			if e.StationID == station {
				return
			}
		}
	}
	t.Fatalf("no event of %s delivered", station)
}

// waitUntil waits until rc accepted the event id and returns what it
// accepted, checked in order and once each.
func (r *receiver) waitUntil(t *testing.T, id int64) []event.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, _ := r.snapshot()
		for i := 1; i < len(got); i++ {
			if got[i].ID <= got[i-1].ID {
				t.Fatalf("deliveries out of order or repeated: %d after %d", got[i].ID, got[i-1].ID)
			}
		}
		if len(got) > 0 && got[len(got)-1].ID >= id {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %d not delivered; got %d events", id, len(got))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWatchSubscribesAgain: the watcher that wakes idle webhooks does not
// give up when its subscription fails (here the hub refuses it: too many
// subscribers); it subscribes again once it can.
func TestWatchSubscribesAgain(t *testing.T) {
	st := openStore(t, "sqlite")
	hub := event.NewHub(event.HubConfig{Log: st, MaxSubscribers: 1})
	held, err := hub.Subscribe(event.Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var logs logtest.Buffer
	startDispatcher(t, st, "core-1", func(c *Config) { c.Hub, c.Logger = hub, slog.New(slog.NewTextHandler(&logs, nil)) })
	for deadline := time.Now().Add(30 * time.Second); len(logs.Lines("not woken by events")) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the watcher's refused subscription was not logged")
		}
	}
	held.Close()
	for deadline := time.Now().Add(30 * time.Second); hub.Subscribers() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not subscribe again")
		}
	}
}

// stopOnDelivered stops its dispatcher (cancels the context Run was
// given) the moment the dispatcher records a delivery, as a shutdown
// landing between the endpoint's answer and the cursor's update would.
type stopOnDelivered struct {
	*store.Store
	stop func()
}

func (s stopOnDelivered) SaveWebhookState(ctx context.Context, id, owner string, prev int64, st store.WebhookState, d *store.WebhookDelivery) error {
	if d != nil && d.Outcome == OutcomeDelivered {
		s.stop()
	}
	return s.Store.SaveWebhookState(ctx, id, owner, prev, st, d)
}

// A stop that comes after the endpoint answered still records the
// delivery, so the instance that delivers next does not send it again.
func TestStopAfterAnswerKeepsDelivery(t *testing.T) {
	st := openStore(t, "sqlite")
	secret := "receiver-secret-0123456789"
	rc := newReceiver(t, secret, 0)
	createWebhook(t, st, rc.srv.URL, secret)
	first := appendEvents(t, st, time.Now(), event.StationBooted)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := New(Config{Store: stopOnDelivered{Store: st, stop: cancel}, Sealer: testSealer, Owner: "core-a",
		Timeout: 2 * time.Second, AllowPrivate: true, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	d.Run(ctx) // returns once the first delivery stopped it

	startDispatcher(t, st, "core-b", nil)
	want := append(first, appendEvents(t, st, time.Now(), event.StationBooted)...)
	rc.waitFor(t, want)
}

// gatedReceiver holds every delivery until the test lets it through, so
// that a test can change the webhook while an attempt is under way.
type gatedReceiver struct {
	srv     *httptest.Server
	arrived chan event.Event
	release chan struct{}
}

func newGatedReceiver(t *testing.T) *gatedReceiver {
	g := &gatedReceiver{arrived: make(chan event.Event), release: make(chan struct{})}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e event.Event
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
			t.Errorf("delivery body: %v", err)
		}
		select {
		case g.arrived <- e:
		case <-r.Context().Done():
			return
		}
		select {
		case <-g.release:
			w.WriteHeader(http.StatusNoContent)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// next waits for the next delivery (it is held until pass).
func (g *gatedReceiver) next(t *testing.T) event.Event {
	t.Helper()
	select {
	case e := <-g.arrived:
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery in time")
		return event.Event{}
	}
}

func (g *gatedReceiver) pass() { g.release <- struct{}{} }

// A change made on this instance while its webhook works through a
// backlog applies from the next attempt on, not at the lease's renewal:
// once the types are narrowed, no event of a dropped type goes out.
func TestChangeAppliesMidBacklog(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store) {
		g := newGatedReceiver(t)
		w := createWebhook(t, st, g.srv.URL, "receiver-secret-0123456789", event.StationStatus, event.StationBooted)
		var types []event.Type
		for range 10 {
			types = append(types, event.StationStatus, event.StationBooted)
		}
		ids := appendEvents(t, st, time.Now(), types...)
		r := startDispatcher(t, st, "core-a", nil)

		for _, want := range ids[:2] {
			if e := g.next(t); e.ID != want {
				t.Fatalf("delivered %d, want %d", e.ID, want)
			}
			if want == ids[1] {
				// The attempt at ids[1] is open: narrow to station.status.
				v := JoinTypes([]event.Type{event.StationStatus})
				if _, err := st.UpdateWebhook(context.Background(), w.ID, store.WebhookPatch{EventTypes: &v}); err != nil {
					t.Fatal(err)
				}
				r.d.Kick()
			}
			g.pass()
		}
		// The rest of the backlog: only station.status events, in order.
		for i := 2; i < len(ids); i += 2 {
			e := g.next(t)
			if e.ID != ids[i] {
				t.Fatalf("after the change delivered %d (%s), want %d (station.status)", e.ID, e.Type, ids[i])
			}
			g.pass()
		}
		eventually(t, "the last delivery recorded", func() bool { return getWebhook(t, st, w.ID).EventCursor >= ids[len(ids)-1] })
	})
}
