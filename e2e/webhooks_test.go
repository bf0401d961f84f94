package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chargeplane/chargeplane/api/app"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/api/webhook"
	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/config"
)

// hookReceiver is an integration's webhook endpoint: it verifies each
// delivery with webhook.Verify (what docs/integrations.md shows), answers
// 500 while told to fail, and keeps the events it accepted.
type hookReceiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	secret   string
	fail     int
	requests int
	got      []sseEvent
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if err := webhook.Verify([]byte(r.secret), req.Header.Get(webhook.HeaderTimestamp), req.Header.Get(webhook.HeaderSignature),
		body, time.Now(), webhook.DefaultTolerance); err != nil {
		r.t.Errorf("delivery %s: %v", body, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.fail > 0 {
		r.fail--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var e sseEvent
	if err := json.Unmarshal(body, &e); err != nil {
		r.t.Errorf("delivery body %s: %v", body, err)
	}
	r.got = append(r.got, e)
	w.WriteHeader(http.StatusOK)
}

func (r *hookReceiver) set(secret string, fail int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret, r.fail = secret, fail
}

func (r *hookReceiver) events() []sseEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sseEvent(nil), r.got...)
}

// waitForType waits until an event of typ for station was accepted.
func (r *hookReceiver) waitForType(t *testing.T, station, typ string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range r.events() {
			if e.Type == typ && e.StationID == station {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s of %s delivered; got %v", typ, station, types(r.events()))
}

// inOrderOnce fails unless the ids accepted increase strictly: in event
// order, none twice.
func inOrderOnce(t *testing.T, evs []sseEvent) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		if evs[i].ID <= evs[i-1].ID {
			t.Fatalf("deliveries out of order or repeated: %v", types(evs))
		}
	}
}

type apiWebhook struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	URL        string   `json:"url"`
	EventTypes []string `json:"eventTypes"`
	StationIDs []string `json:"stationIds"`
	Enabled    bool     `json:"enabled"`
	CreatedBy  string   `json:"createdBy"`
	Status     struct {
		Cursor        string     `json:"cursor"`
		Attempts      int        `json:"attempts"`
		LastSuccessAt *time.Time `json:"lastSuccessAt"`
		LastErrorAt   *time.Time `json:"lastErrorAt"`
		LastError     string     `json:"lastError"`
		FailingSince  *time.Time `json:"failingSince"`
	} `json:"status"`
}

func (c *restClient) getWebhook(ctx context.Context, t *testing.T, id string) apiWebhook {
	t.Helper()
	code, _, body, err := c.do(ctx, http.MethodGet, "/api/v1/webhooks/"+id, nil, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET webhook: %d %s %v", code, body, err)
	}
	var w apiWebhook
	if err := json.Unmarshal(body, &w); err != nil {
		t.Fatal(err)
	}
	return w
}

func (c *restClient) createWebhook(ctx context.Context, t *testing.T, req map[string]any) (apiWebhook, string) {
	t.Helper()
	code, _, body, err := c.do(ctx, http.MethodPost, "/api/v1/webhooks", req, true)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create webhook: %d %s %v", code, body, err)
	}
	var created struct {
		Webhook apiWebhook `json:"webhook"`
		Secret  string     `json:"secret"`
	}
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	return created.Webhook, created.Secret
}

// userClient creates a user of role on sys and returns it signed in.
func userClient(ctx context.Context, t *testing.T, sys *system, role string) *restClient {
	t.Helper()
	email := role + "-" + uuid.NewString()[:8] + "@e2e.example"
	const password = "amber kettle over nine bridges"
	code, _, body, _ := sys.rest.do(ctx, http.MethodPost, "/api/v1/users", map[string]string{
		"email": email, "password": password, "role": role}, true)
	if code != http.StatusCreated {
		t.Fatalf("create %s: %d %s", role, code, body)
	}
	c := newRESTClient(t, sys.rest.base)
	c.login(ctx, t, email, password)
	return c
}

// Webhooks over REST, end to end: admins manage them (others are
// refused), a charger's events reach the endpoint signed, in order, after
// a retry; the status and the delivery log tell what happened; secrets
// reach neither the audit trail nor the log.
func TestWebhooks(t *testing.T) {
	sys := startEmbedded(t, func(env map[string]string) { env["WEBHOOK_ALLOW_PRIVATE"] = "true" })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rc := newHookReceiver(t)

	// Bad requests get clear answers.
	for _, bad := range []map[string]any{
		{"url": "ftp://example.com/x"},
		{"url": "http://user:pw@example.com/x"},
		{"url": rc.srv.URL, "eventTypes": []string{"station.exploded"}},
		{"url": rc.srv.URL, "secret": "short"},
		{"url": ""},
		{"url": rc.srv.URL, "stationIds": []string{"CP 1"}},
		{"url": rc.srv.URL, "stationIds": []string{""}},
		{"url": rc.srv.URL, "stationIds": manyStations(101)},
	} {
		if code, _, body, _ := sys.rest.do(ctx, http.MethodPost, "/api/v1/webhooks", bad, true); code != http.StatusBadRequest {
			t.Errorf("create %v: %d %s, want 400", bad, code, body)
		}
	}
	// Roles: webhooks are for admins.
	viewer, operator := userClient(ctx, t, sys, "viewer"), userClient(ctx, t, sys, "operator")
	for _, c := range []*restClient{viewer, operator} {
		if code, _, _, _ := c.do(ctx, http.MethodGet, "/api/v1/webhooks", nil, true); code != http.StatusForbidden {
			t.Errorf("list as non-admin: %d, want 403", code)
		}
		if code, _, _, _ := c.do(ctx, http.MethodPost, "/api/v1/webhooks", map[string]any{"url": rc.srv.URL}, true); code != http.StatusForbidden {
			t.Errorf("create as non-admin: %d, want 403", code)
		}
	}

	chosen := "chosen-secret-" + uuid.NewString()
	rc.set(chosen, 1) // the first attempt fails
	w, secret := sys.rest.createWebhook(ctx, t, map[string]any{"name": "billing", "url": rc.srv.URL + "/hook",
		"eventTypes": []string{"station.connected", "station.booted"}, "secret": chosen})
	if secret != chosen || w.Name != "billing" || !w.Enabled || w.CreatedBy != operatorEmail || len(w.EventTypes) != 2 {
		t.Fatalf("created %+v", w)
	}
	// One more, with a generated secret, deleted at the end.
	other, generated := sys.rest.createWebhook(ctx, t, map[string]any{"url": rc.srv.URL + "/other", "enabled": false})
	if !strings.HasPrefix(generated, "whsec_") || other.Enabled || len(other.EventTypes) != 0 {
		t.Fatalf("generated secret %q, webhook %+v", generated, other)
	}

	v := versions[0]
	id := newStationID("wh")
	sys.rest.createStation(ctx, t, id, "")
	c := dialCharger(ctx, t, sys, 0, id, v, "")
	boot(ctx, t, c, v, "SN-"+id)
	heartbeat(ctx, t, c)
	rc.waitForType(t, id, "station.booted")
	got := rc.events()
	inOrderOnce(t, got)
	if len(got) != 2 || got[0].Type != "station.connected" {
		t.Fatalf("delivered %v, want station.connected then station.booted", types(got))
	}
	var booted struct{ Status, Vendor string }
	if err := json.Unmarshal(got[1].Payload, &booted); err != nil || booted.Status != "Accepted" || got[1].StationID != id {
		t.Fatalf("station.booted payload %s", got[1].Payload)
	}

	var st apiWebhook
	eventually(t, "the webhook's status", func() (bool, string) {
		st = sys.rest.getWebhook(ctx, t, w.ID)
		cur, _ := strconv.ParseInt(st.Status.Cursor, 10, 64)
		return st.Status.LastSuccessAt != nil && cur >= got[1].ID, st.Status.Cursor
	})
	if st.Status.FailingSince != nil || st.Status.LastError != "HTTP 500" || st.Status.Attempts != 0 {
		t.Fatalf("status %+v", st.Status)
	}
	code, _, body, _ := sys.rest.do(ctx, http.MethodGet, "/api/v1/webhooks/"+w.ID+"/deliveries?pageSize=2", nil, true)
	var log struct {
		Deliveries []struct {
			EventID    string `json:"eventId"`
			Attempt    int    `json:"attempt"`
			Outcome    string `json:"outcome"`
			HTTPStatus int    `json:"httpStatus"`
		} `json:"deliveries"`
		NextPageToken string `json:"nextPageToken"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &log) != nil || len(log.Deliveries) != 2 || log.NextPageToken == "" ||
		log.Deliveries[0].Outcome != "delivered" || log.Deliveries[1].Outcome != "delivered" || log.Deliveries[1].Attempt != 2 {
		t.Fatalf("deliveries: %d %s", code, body)
	}
	code, _, body, _ = sys.rest.do(ctx, http.MethodGet, "/api/v1/webhooks/"+w.ID+"/deliveries?pageToken="+log.NextPageToken, nil, true)
	if code != http.StatusOK || json.Unmarshal(body, &log) != nil || len(log.Deliveries) != 1 ||
		log.Deliveries[0].Outcome != "failed" || log.Deliveries[0].HTTPStatus != 500 {
		t.Fatalf("deliveries page 2: %d %s", code, body)
	}

	// Rotate the secret: the next deliveries are signed with the new one.
	code, _, body, _ = sys.rest.do(ctx, http.MethodPatch, "/api/v1/webhooks/"+w.ID, map[string]any{
		"rotateSecret": true, "eventTypes": []string{"station.status"}, "updateEventTypes": true}, true)
	var rotated struct {
		Webhook apiWebhook `json:"webhook"`
		Secret  string     `json:"secret"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &rotated) != nil || !strings.HasPrefix(rotated.Secret, "whsec_") ||
		len(rotated.Webhook.EventTypes) != 1 {
		t.Fatalf("rotate: %d %s", code, body)
	}
	rc.set(rotated.Secret, 0)
	status := map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Available"}
	if err := call(ctx, c, "StatusNotification", status, &struct{}{}); err != nil {
		t.Fatalf("StatusNotification: %v", err)
	}
	rc.waitForType(t, id, "station.status")
	inOrderOnce(t, rc.events())

	for _, bad := range []map[string]any{
		{"url": "gopher://x"},
		{"eventTypes": []string{"station.status"}}, // without updateEventTypes
		{"secret": "x"},
		{"secret": "sixteen-characters!", "rotateSecret": true},
		{"stationIds": []string{id}}, // without updateStationIds
		{"stationIds": []string{"a/b"}, "updateStationIds": true},
		{"stationIds": manyStations(101), "updateStationIds": true},
	} {
		if code, _, body, _ := sys.rest.do(ctx, http.MethodPatch, "/api/v1/webhooks/"+w.ID, bad, true); code != http.StatusBadRequest {
			t.Errorf("update %v: %d %s, want 400", bad, code, body)
		}
	}
	if code, _, _, _ := viewer.do(ctx, http.MethodDelete, "/api/v1/webhooks/"+other.ID, nil, true); code != http.StatusForbidden {
		t.Errorf("delete as viewer: %d, want 403", code)
	}
	if code, _, body, _ := sys.rest.do(ctx, http.MethodDelete, "/api/v1/webhooks/"+other.ID, nil, true); code != http.StatusOK {
		t.Fatalf("delete: %d %s", code, body)
	}
	if code, _, _, _ := sys.rest.do(ctx, http.MethodGet, "/api/v1/webhooks/"+other.ID, nil, true); code != http.StatusNotFound {
		t.Fatalf("deleted webhook: %d, want 404", code)
	}
	code, _, body, _ = sys.rest.do(ctx, http.MethodGet, "/api/v1/webhooks", nil, true)
	if code != http.StatusOK || strings.Count(string(body), `"id"`) != 1 {
		t.Fatalf("list: %d %s", code, body)
	}

	checkStationLimited(ctx, t, sys, func(id string) {
		boot(ctx, t, dialCharger(ctx, t, sys, 0, id, v, ""), v, "SN-"+id)
	})

	// The audit trail has every change, the refusals as denied, and no
	// secret; neither has the log.
	code, _, body, _ = sys.rest.do(ctx, http.MethodGet, "/api/v1/audit?pageSize=200", nil, true)
	if code != http.StatusOK {
		t.Fatalf("audit: %d %s", code, body)
	}
	trail := string(body)
	for _, m := range []string{"WebhookService/CreateWebhook", "WebhookService/UpdateWebhook", "WebhookService/DeleteWebhook"} {
		if !strings.Contains(trail, m) {
			t.Errorf("audit trail lacks %s", m)
		}
	}
	if !strings.Contains(trail, `"denied"`) || !strings.Contains(trail, webhookTarget) {
		t.Errorf("audit trail lacks the denied calls or the webhook target")
	}
	logged := systemLog(t)
	if !strings.Contains(logged, "webhook created") {
		t.Fatalf("the system log was not captured")
	}
	for _, s := range []string{chosen, generated, rotated.Secret} {
		if strings.Contains(trail, s) {
			t.Errorf("a webhook secret is in the audit trail")
		}
		if strings.Contains(logged, s) {
			t.Errorf("a webhook secret is in the log")
		}
	}
}

const webhookTarget = `"webhook"`

func manyStations(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "CP-" + strconv.Itoa(i)
	}
	return out
}

// checkStationLimited creates, on sys, a webhook limited to one station
// (named twice: folded) and boots that station after another one with
// bootStation: the endpoint gets the first station's events, in order,
// and none of the other's.
func checkStationLimited(ctx context.Context, t *testing.T, sys *system, bootStation func(id string)) {
	t.Helper()
	const secret = "station-limited-0123456789"
	rc := newHookReceiver(t)
	rc.set(secret, 0)
	mine, other := newStationID("whm"), newStationID("who")
	sys.rest.createStation(ctx, t, mine, "")
	sys.rest.createStation(ctx, t, other, "")
	w, _ := sys.rest.createWebhook(ctx, t, map[string]any{"url": rc.srv.URL, "secret": secret, "stationIds": []string{mine, mine}})
	if len(w.StationIDs) != 1 || w.StationIDs[0] != mine {
		t.Fatalf("created with stations %v, want [%s]", w.StationIDs, mine)
	}
	if got := sys.rest.getWebhook(ctx, t, w.ID); len(got.StationIDs) != 1 || got.StationIDs[0] != mine {
		t.Fatalf("GET shows stations %v", got.StationIDs)
	}
	bootStation(other)
	bootStation(mine)
	rc.waitForType(t, mine, "station.booted")
	time.Sleep(500 * time.Millisecond) // another station's event would show now
	got := rc.events()
	inOrderOnce(t, got)
	for _, e := range got {
		if e.StationID != mine {
			t.Fatalf("a webhook for %s received %s of %s: %v", mine, e.Type, e.StationID, types(got))
		}
	}
	if got[0].Type != "station.connected" {
		t.Fatalf("delivered %v, want station.connected first", types(got))
	}
}

// Without WEBHOOK_ALLOW_PRIVATE the core refuses webhooks to internal
// addresses: an IP literal at creation, a host name when connecting (the
// endpoint never hears from it).
func TestWebhooksRefuseInternalAddresses(t *testing.T) {
	sys := startEmbedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc := newHookReceiver(t)
	for _, u := range []string{rc.srv.URL, "http://169.254.169.254/latest/meta-data", "http://[::1]:80/", "http://10.0.0.1/"} {
		code, _, body, _ := sys.rest.do(ctx, http.MethodPost, "/api/v1/webhooks", map[string]any{"url": u}, true)
		if code != http.StatusBadRequest || !strings.Contains(string(body), "WEBHOOK_ALLOW_PRIVATE") {
			t.Errorf("create %s: %d %s, want 400", u, code, body)
		}
	}
	port := rc.srv.URL[strings.LastIndex(rc.srv.URL, ":"):]
	w, _ := sys.rest.createWebhook(ctx, t, map[string]any{"url": "http://localhost" + port + "/hook"})
	id := newStationID("ssrf")
	sys.rest.createStation(ctx, t, id, "")
	c := dialCharger(ctx, t, sys, 0, id, versions[0], "")
	boot(ctx, t, c, versions[0], "SN-"+id)
	var st apiWebhook
	eventually(t, "a refused attempt", func() (bool, string) {
		st = sys.rest.getWebhook(ctx, t, w.ID)
		return st.Status.FailingSince != nil, st.Status.LastError
	})
	if !strings.Contains(st.Status.LastError, "loopback") {
		t.Fatalf("last error %q", st.Status.LastError)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.requests != 0 {
		t.Fatalf("the internal endpoint got %d requests", rc.requests)
	}
}

// A core restart loses no delivery: the events that were failing when it
// stopped, those another instance stored while it was down and those
// after it came back reach the endpoint once each, in event order.
func TestWebhooksAcrossCoreRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env := coreEnv(t)
	env["DATABASE_URL"] = testenv.PostgresURL(t) // in-process bus and gateway, PostgreSQL
	env["DATA_DIR"] = t.TempDir()
	env["WEBHOOK_ALLOW_PRIVATE"] = "true"
	env["WEBHOOK_TIMEOUT"] = "2s"
	st, err := store.Open(ctx, store.Config{DatabaseURL: env["DATABASE_URL"]})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	hash, _ := auth.HashSecret(operatorPassword)
	if err := st.CreateUser(ctx, &store.User{ID: uuid.NewString(), Email: operatorEmail, PasswordHash: hash, Role: "admin"}); err != nil {
		t.Fatal(err)
	}
	run := func(coreID string) (*system, func()) {
		env["CORE_ID"] = coreID
		cfg, err := config.LoadFrom(config.API, env)
		if err != nil {
			t.Fatal(err)
		}
		a, err := app.New(cfg, testLogger(t).With("part", coreID))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(ctx); err != nil {
			t.Fatal(err)
		}
		stop := sync.OnceFunc(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := a.Shutdown(sctx); err != nil {
				t.Errorf("shutdown %s: %v", coreID, err)
			}
		})
		t.Cleanup(stop)
		httpAddr, _, ocppAddr := a.Addrs()
		return newSystem(t, coreID, httpAddr, []string{"ws://" + ocppAddr + "/ocpp/"}), stop
	}

	rc := newHookReceiver(t)
	rc.set("restart-secret-0123456789", 0)
	sys, stop := run("e2e-wh-before")
	w, _ := sys.rest.createWebhook(ctx, t, map[string]any{"url": rc.srv.URL, "secret": "restart-secret-0123456789"})
	cursor, _ := strconv.ParseInt(w.Status.Cursor, 10, 64)
	v := versions[0]
	first := newStationID("whr")
	sys.rest.createStation(ctx, t, first, "")
	c := dialCharger(ctx, t, sys, 0, first, v, "")
	boot(ctx, t, c, v, "SN-"+first)
	rc.waitForType(t, first, "station.booted")

	// The endpoint fails; the charger goes on; the core stops.
	rc.set("restart-secret-0123456789", 1_000_000)
	status := map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Available"}
	if err := call(ctx, c, "StatusNotification", status, &struct{}{}); err != nil {
		t.Fatalf("StatusNotification: %v", err)
	}
	eventually(t, "a failing delivery", func() (bool, string) {
		s := sys.rest.getWebhook(ctx, t, w.ID)
		return s.Status.FailingSince != nil, s.Status.LastError
	})
	stop()

	// While it is down, another instance stores events.
	if err := st.AppendEvents(ctx, []event.Event{
		event.New(event.StationStatus, time.Now(), first, map[string]any{"connectorId": 2, "status": "Faulted"}),
		event.New(event.SecurityEvent, time.Now(), first, map[string]any{"source": "core", "type": "Test"}),
	}, time.Now()); err != nil {
		t.Fatal(err)
	}

	rc.set("restart-secret-0123456789", 0)
	sys, _ = run("e2e-wh-after")
	second := newStationID("whr")
	sys.rest.createStation(ctx, t, second, "")
	c2 := dialCharger(ctx, t, sys, 0, second, v, "")
	boot(ctx, t, c2, v, "SN-"+second)
	rc.waitForType(t, second, "station.booted")

	// Every event stored after the webhook was created up to that boot,
	// in order, once.
	got := rc.events()
	stored, err := st.ReadEvents(ctx, event.Range{After: cursor, UpTo: got[len(got)-1].ID}, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(stored) {
		t.Fatalf("delivered %v\nstored    %v", types(got), storedTypes(stored))
	}
	for i := range got {
		if got[i].ID != stored[i].ID || got[i].Type != string(stored[i].Type) {
			t.Fatalf("delivery %d is %s#%d, stored %s#%d", i, got[i].Type, got[i].ID, stored[i].Type, stored[i].ID)
		}
	}
	var sawDown bool
	for _, e := range got {
		sawDown = sawDown || e.Type == "security.event"
	}
	if !sawDown {
		t.Fatalf("the events stored while the core was down were not delivered: %v", types(got))
	}
	s := sys.rest.getWebhook(ctx, t, w.ID)
	if s.Status.FailingSince != nil || s.Status.LastSuccessAt == nil {
		t.Fatalf("status after recovery %+v", s.Status)
	}
}

func storedTypes(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = string(e.Type) + "#" + strconv.FormatInt(e.ID, 10)
	}
	return out
}

// With two core instances, each event reaches a webhook once, whichever
// instance produced it and whichever one delivers.
func TestWebhooksTwoCores(t *testing.T) {
	sys1, sys2, gws := startTwoCores(t, "e2e-whgw", func(env map[string]string) { env["WEBHOOK_ALLOW_PRIVATE"] = "true" })
	ctx := testCtx(t)
	rc := newHookReceiver(t)
	rc.set("two-cores-secret-0123456789", 0)
	id := newStationID("wh2")
	sys1.rest.createStation(ctx, t, id, "")
	sys2.rest.createWebhook(ctx, t, map[string]any{"url": rc.srv.URL, "secret": "two-cores-secret-0123456789",
		"eventTypes": []string{"command.sent", "command.answered", "station.booted"}})
	v := versions[0]
	c := dialCommandCharger(ctx, t, gws[0], id, v)
	boot(ctx, t, c.Client, v, "SN-"+id)
	for _, sys := range []*system{sys1, sys2, sys1} {
		if r := restCall(ctx, t, sys.rest, id, "ClearCache", map[string]any{}, 5); r.status != http.StatusOK {
			t.Fatalf("ClearCache: %d %s", r.status, r.body)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var answered int
		for _, e := range rc.events() {
			if e.Type == "command.answered" {
				answered++
			}
		}
		if answered == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %v, want 3 command.answered", types(rc.events()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a second delivery of anything would show now
	got := rc.events()
	inOrderOnce(t, got)
	if len(got) != 7 {
		t.Fatalf("delivered %v, want station.booted and 3 × command.sent + command.answered", types(got))
	}
	checkStationLimited(ctx, t, sys2, func(id string) {
		boot(ctx, t, dialCommandCharger(ctx, t, gws[1], id, v).Client, v, "SN-"+id)
	})
}
