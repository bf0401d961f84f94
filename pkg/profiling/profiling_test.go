package profiling

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCheckAddr(t *testing.T) {
	for _, ok := range []string{"", "127.0.0.1:6060", "localhost:6060", "[::1]:6060"} {
		if err := CheckAddr(ok); err != nil {
			t.Errorf("CheckAddr(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{":6060", "0.0.0.0:6060", "10.0.0.1:6060", "example.com:6060", "127.0.0.1"} {
		if err := CheckAddr(bad); err == nil {
			t.Errorf("CheckAddr(%q) = nil, want an error", bad)
		}
	}
}

func TestHandlerServesOnlyPprof(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for path, want := range map[string]int{"/debug/pprof/": http.StatusOK, "/debug/pprof/cmdline": http.StatusOK, "/api/v1/stations": http.StatusNotFound} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}
