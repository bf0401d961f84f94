package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/chargeplane/chargeplane/api/access"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/httpapi"
	"github.com/chargeplane/chargeplane/api/operator"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		// gorm's prepared-statement cache starts a sweeper it never stops.
		goleak.IgnoreAnyFunction("gorm.io/gorm/internal/lru.NewLRU[...].func1"),
	)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	url   string
	http  *http.Client
	token string
	store *store.Store
}

// start runs the real stack: SQLite store, operator services behind the
// interceptors on a TCP gRPC listener, and the REST gateway on an HTTP
// listener that reaches them through that gRPC listener.
func start(t *testing.T, cfg httpapi.Config) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	hash, _ := auth.HashSecret("operator-password")
	if err := st.CreateUser(ctx, &store.User{Email: "ops@example.com", PasswordHash: hash, Role: "admin"}); err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens([]byte("httpapi-test-secret-0123456789abcdef"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	creds := access.NewAuthenticator(access.AuthenticatorConfig{Tokens: tokens, Store: st, Logger: quiet})
	authSvc, err := operator.NewAuthService(st, tokens, creds, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(access.ServerOptions(access.NewGuard(access.GuardConfig{Credentials: creds, Logger: quiet}), quiet)...)
	chargeplanev1.RegisterAuthServiceServer(srv, authSvc)
	chargeplanev1.RegisterStationServiceServer(srv, operator.NewStationService(st, quiet))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(lis) }()

	cfg.GRPCEndpoint = lis.Addr().String()
	cfg.Logger = quiet
	api, err := httpapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(api)
	t.Cleanup(func() {
		hs.Close()
		api.Close()
		srv.Stop()
		<-served
	})
	e := &env{url: hs.URL, http: hs.Client(), store: st}
	var login struct{ AccessToken string }
	e.do(t, "POST", "/api/v1/auth/login", `{"email":"OPS@example.com","password":"operator-password"}`, http.StatusOK, &login)
	e.token = login.AccessToken
	return e
}

// do sends a request (with the token once logged in) and checks the status;
// out, when set, receives the decoded JSON body. It returns the raw body.
func (e *env) do(t *testing.T, method, path, body string, want int, out any) string {
	t.Helper()
	return e.doAuth(t, "Bearer "+e.token, method, path, body, want, out)
}

func (e *env) doAuth(t *testing.T, authz, method, path, body string, want int, out any) string {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authz != "" && authz != "Bearer " {
		req.Header.Set("Authorization", authz)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, raw)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: body %s: %v", method, path, raw, err)
		}
	}
	return string(raw)
}

type apiError struct {
	Code    *int    `json:"code"`
	Message *string `json:"message"`
}

// wantError checks the body is the JSON error shape.
func wantError(t *testing.T, raw string) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal([]byte(raw), &e); err != nil || e.Code == nil || e.Message == nil || *e.Message == "" {
		t.Fatalf("error body %q is not {code,message}", raw)
	}
	return e
}

func TestHealth(t *testing.T) {
	ready := errors.New("database down")
	e := start(t, httpapi.Config{Ready: func(context.Context) error { return ready }})
	e.do(t, "GET", "/healthz", "", http.StatusOK, nil)
	raw := e.do(t, "GET", "/readyz", "", http.StatusServiceUnavailable, nil)
	if !strings.Contains(raw, "database down") {
		t.Errorf("readyz body %s", raw)
	}
	ready = nil
	e.do(t, "GET", "/readyz", "", http.StatusOK, nil)
}

func TestLoginAndAuth(t *testing.T) {
	e := start(t, httpapi.Config{})
	var ok map[string]any
	e.doAuth(t, "", "POST", "/api/v1/auth/login", `{"email":"ops@example.com","password":"operator-password"}`, http.StatusOK, &ok)
	for _, k := range []string{"accessToken", "tokenType", "expiresAt"} {
		if ok[k] == nil || ok[k] == "" {
			t.Errorf("login response lacks %s: %v", k, ok)
		}
	}

	raw := e.doAuth(t, "", "POST", "/api/v1/auth/login", `{"email":"ops@example.com","password":"wrong"}`, http.StatusUnauthorized, nil)
	bad := wantError(t, raw)
	raw = e.doAuth(t, "", "POST", "/api/v1/auth/login", `{"email":"who@example.com","password":"operator-password"}`, http.StatusUnauthorized, nil)
	if unknown := wantError(t, raw); *unknown.Message != *bad.Message {
		t.Errorf("unknown email %q vs wrong password %q", *unknown.Message, *bad.Message)
	}

	wantError(t, e.doAuth(t, "", "GET", "/api/v1/stations", "", http.StatusUnauthorized, nil))
	wantError(t, e.doAuth(t, "Bearer nonsense", "GET", "/api/v1/stations", "", http.StatusUnauthorized, nil))
	// Client-supplied gRPC metadata must not smuggle a second credential.
	req, _ := http.NewRequest("GET", e.url+"/api/v1/stations", nil)
	req.Header.Set("Grpc-Metadata-Authorization", "Bearer "+e.token)
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("Grpc-Metadata-Authorization alone: status %d, want 401", resp.StatusCode)
	}
	if resp.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	e.do(t, "GET", "/api/v1/stations", "", http.StatusOK, nil)
}

func TestStationsREST(t *testing.T) {
	e := start(t, httpapi.Config{})

	var created map[string]any
	raw := e.do(t, "POST", "/api/v1/stations", `{"id":"CP-1","name":"Depot","password":"0123456789abcdef"}`, http.StatusCreated, &created)
	if created["id"] != "CP-1" || created["hasPassword"] != true || created["connected"] != false || created["status"] != "Unavailable" {
		t.Errorf("created = %v", created)
	}
	if _, ok := created["connectors"]; !ok {
		t.Errorf("unpopulated fields are omitted: %s", raw)
	}
	if strings.Contains(raw, "0123456789abcdef") || strings.Contains(strings.ToLower(raw), `"password"`) || strings.Contains(raw, "argon2") {
		t.Errorf("password leaked: %s", raw)
	}

	wantError(t, e.do(t, "POST", "/api/v1/stations", `{"id":"CP-1"}`, http.StatusConflict, nil))
	wantError(t, e.do(t, "POST", "/api/v1/stations", `{"id":"bad:id"}`, http.StatusBadRequest, nil))
	wantError(t, e.do(t, "POST", "/api/v1/stations", `{"id":"CP-2"`, http.StatusBadRequest, nil))
	wantError(t, e.do(t, "POST", "/api/v1/stations", `not json`, http.StatusBadRequest, nil))
	wantError(t, e.do(t, "POST", "/api/v1/stations", `{"id":"CP-2","colour":"red"}`, http.StatusBadRequest, nil))
	wantError(t, e.do(t, "POST", "/api/v1/stations", `{"id":42}`, http.StatusBadRequest, nil))
	wantError(t, e.do(t, "POST", "/api/v1/stations", `{"id":"CP-3","password":"short"}`, http.StatusBadRequest, nil))
	wantError(t, e.do(t, "GET", "/api/v1/stations/nope", "", http.StatusNotFound, nil))
	wantError(t, e.do(t, "GET", "/api/v1/nothing-here", "", http.StatusNotFound, nil))
	wantError(t, e.do(t, "PUT", "/api/v1/stations", `{}`, http.StatusMethodNotAllowed, nil))
	big := `{"id":"CP-4","name":"` + strings.Repeat("x", httpapi.DefaultMaxBodyBytes) + `"}`
	wantError(t, e.do(t, "POST", "/api/v1/stations", big, http.StatusRequestEntityTooLarge, nil))
	// Without Content-Length (chunked) the limit is found while reading.
	req, _ := http.NewRequest("POST", e.url+"/api/v1/stations", io.MultiReader(strings.NewReader(big)))
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	chunked, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversized body: status %d, body %s", resp.StatusCode, chunked)
	}
	wantError(t, string(chunked))

	var got map[string]any
	e.do(t, "GET", "/api/v1/stations/CP-1", "", http.StatusOK, &got)
	if got["name"] != "Depot" || got["hasPassword"] != true {
		t.Errorf("get = %v", got)
	}

	var patched map[string]any
	e.do(t, "PATCH", "/api/v1/stations/CP-1", `{"name":"Depot North"}`, http.StatusOK, &patched)
	if patched["name"] != "Depot North" || patched["hasPassword"] != true {
		t.Errorf("patched name = %v", patched)
	}
	e.do(t, "PATCH", "/api/v1/stations/CP-1", `{"password":""}`, http.StatusOK, &patched)
	if patched["name"] != "Depot North" || patched["hasPassword"] != false {
		t.Errorf("patched password = %v", patched)
	}
	wantError(t, e.do(t, "PATCH", "/api/v1/stations/ghost", `{"name":"x"}`, http.StatusNotFound, nil))

	for _, id := range []string{"CP-2", "CP-3", "CP-4", "CP-5"} {
		e.do(t, "POST", "/api/v1/stations", `{"id":"`+id+`"}`, http.StatusCreated, nil)
	}
	var ids []string
	path := "/api/v1/stations?pageSize=2"
	for i := 0; ; i++ {
		if i > 5 {
			t.Fatal("paging does not end")
		}
		var page struct {
			Stations      []struct{ ID string }
			NextPageToken string
			TotalSize     string // int64 is a JSON string in protojson
		}
		e.do(t, "GET", path, "", http.StatusOK, &page)
		if page.TotalSize != "5" || len(page.Stations) > 2 {
			t.Fatalf("page = %+v", page)
		}
		for _, s := range page.Stations {
			ids = append(ids, s.ID)
		}
		if page.NextPageToken == "" {
			break
		}
		path = "/api/v1/stations?pageSize=2&pageToken=" + page.NextPageToken
	}
	if strings.Join(ids, ",") != "CP-1,CP-2,CP-3,CP-4,CP-5" {
		t.Errorf("paged ids = %v", ids)
	}
	wantError(t, e.do(t, "GET", "/api/v1/stations?pageToken=garbage", "", http.StatusBadRequest, nil))

	var deleted map[string]any
	e.do(t, "DELETE", "/api/v1/stations/CP-1", "", http.StatusOK, &deleted)
	if len(deleted) != 0 {
		t.Errorf("delete body = %v", deleted)
	}
	wantError(t, e.do(t, "DELETE", "/api/v1/stations/CP-1", "", http.StatusNotFound, nil))
	wantError(t, e.do(t, "GET", "/api/v1/stations/CP-1", "", http.StatusNotFound, nil))
}

// Ids are checked at registration with the OCPP identity rule, but a station
// registered before that rule is still read and deleted through its
// percent-encoded id (one with a '/' only over gRPC: the REST gateway
// splits paths at %2F, see TestStations in api/operator).
func TestStationIDsREST(t *testing.T) {
	e := start(t, httpapi.Config{})
	for _, tc := range []struct{ id, why string }{
		{"a/b", "must not contain '/'"},
		{"../etc", "must not contain '/'"},
		{"..", "relative path"},
		{`a\\b`, `must not contain '\\'`},
		{strings.Repeat("x", 49), "longer than 48"},
		{`CP\u0001`, "printable ASCII"},
		{"CP 1", "printable ASCII"},
		{"CP:1", "must not contain ':'"},
	} {
		e2 := wantError(t, e.do(t, "POST", "/api/v1/stations", `{"id":"`+tc.id+`"}`, http.StatusBadRequest, nil))
		if !strings.Contains(*e2.Message, tc.why) {
			t.Errorf("id %s refused with %q, want it to say %q", tc.id, *e2.Message, tc.why)
		}
	}

	// Legal, once percent-encoded.
	e.do(t, "POST", "/api/v1/stations", `{"id":"E#1%?+"}`, http.StatusCreated, nil)
	var got struct{ ID string }
	e.do(t, "GET", "/api/v1/stations/E%231%25%3F+", "", http.StatusOK, &got)
	if got.ID != "E#1%?+" {
		t.Errorf("GET of an escaped id returned %q", got.ID)
	}

	ctx := context.Background()
	for _, tc := range []struct{ id, path string }{{"..", "%2E%2E"}, {".", "%2E"}, {`a\b`, "a%5Cb"}} {
		if err := e.store.CreateStation(ctx, &store.Station{ID: tc.id, Status: "Unavailable"}); err != nil {
			t.Fatal(err)
		}
		got.ID = ""
		e.do(t, "GET", "/api/v1/stations/"+tc.path, "", http.StatusOK, &got)
		if got.ID != tc.id {
			t.Errorf("GET %s returned station %q, want %q", tc.path, got.ID, tc.id)
		}
		e.do(t, "DELETE", "/api/v1/stations/"+tc.path, "", http.StatusOK, nil)
		wantError(t, e.do(t, "GET", "/api/v1/stations/"+tc.path, "", http.StatusNotFound, nil))
	}
}

func TestOpenAPIServed(t *testing.T) {
	doc := []byte(`{"swagger":"2.0"}`)
	e := start(t, httpapi.Config{OpenAPI: doc})
	raw := e.doAuth(t, "", "GET", "/api/v1/openapi.json", "", http.StatusOK, nil)
	if !bytes.Equal([]byte(raw), doc) {
		t.Errorf("openapi = %s", raw)
	}
}
