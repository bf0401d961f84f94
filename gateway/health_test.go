package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type fakeBus struct{ err error }

func (b *fakeBus) Ping(context.Context) error { return b.err }

func TestHealth(t *testing.T) {
	draining := false
	bus := &fakeBus{}
	mux := http.NewServeMux()
	handleHealth(mux, func() bool { return draining }, bus)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name      string
		draining  bool
		busErr    error
		readyCode int
		readyBody string
	}{
		{"serving", false, nil, 200, "ok"},
		{"broker down", false, errors.New("not connected"), 503, "bus: not connected"},
		{"draining", true, nil, 503, "draining"},
	} {
		draining, bus.err = tc.draining, tc.busErr
		if code, body := get("/readyz"); code != tc.readyCode || !strings.Contains(body, tc.readyBody) {
			t.Errorf("%s: /readyz = %d %q, want %d %q", tc.name, code, body, tc.readyCode, tc.readyBody)
		}
		// Liveness does not follow readiness: a draining gateway must not be
		// killed for it.
		if code, _ := get("/healthz"); code != 200 {
			t.Errorf("%s: /healthz = %d, want 200", tc.name, code)
		}
	}
}
