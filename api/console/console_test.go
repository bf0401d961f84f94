package console_test

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chargeplane/chargeplane/api/console"
	"github.com/chargeplane/chargeplane/pkg/gen/openapi"
)

func TestServes(t *testing.T) {
	h, err := console.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		code         int
		ctype        string
	}{
		{"GET", "/", 200, "text/html"},
		{"GET", "/console/js/app.js", 200, "javascript"},
		{"GET", "/console/style.css", 200, "text/css"},
		{"HEAD", "/console/commands.json", 200, "application/json"},
		{"GET", "/console/", 404, ""},
		{"GET", "/console/../console.go", 404, ""},
		{"GET", "/console/nothing.js", 404, ""},
		{"POST", "/", 405, ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.code || !strings.Contains(rec.Header().Get("Content-Type"), c.ctype) {
			t.Errorf("%s %s = %d %q, want %d %q", c.method, c.path, rec.Code, rec.Header().Get("Content-Type"), c.code, c.ctype)
		}
		if c.code == 200 && !strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("%s %s: no CSP", c.method, c.path)
		}
	}
	// A revalidation of an unchanged file costs no body.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/js/app.js", nil))
	req := httptest.NewRequest("GET", "/console/js/app.js", nil)
	req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
	rec2 := httptest.NewRecorder()
	h.ServeHTTP(rec2, req)
	if rec2.Code != http.StatusNotModified {
		t.Errorf("revalidation = %d, want 304", rec2.Code)
	}
}

// TestCommandsMatchTheAPI keeps the declarative command list honest: every
// form posts to an operation the OpenAPI document has, with fields its
// request takes, so a renamed field or route fails here, not in an
// operator's browser.
func TestCommandsMatchTheAPI(t *testing.T) {
	var doc struct {
		Paths       map[string]map[string]json.RawMessage `json:"paths"`
		Definitions map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	raw, err := fs.ReadFile(console.Assets(), "commands.json")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Groups []struct {
			Commands []struct {
				ID, Method, Path string
				Fields           []struct {
					Name   string
					InPath bool
				}
			}
		}
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("commands.json: %v", err)
	}
	n := 0
	for _, g := range spec.Groups {
		for _, c := range g.Commands {
			n++
			path := "/api/v1/stations/{stationId}" + c.Path
			op, ok := doc.Paths[path][strings.ToLower(c.Method)]
			if !ok {
				t.Errorf("%s: %s %s is not in the API", c.ID, c.Method, path)
				continue
			}
			var o struct {
				Parameters []struct {
					Name, In string
					Schema   struct {
						Ref        string                     `json:"$ref"`
						Properties map[string]json.RawMessage `json:"properties"`
					}
				}
			}
			if err := json.Unmarshal(op, &o); err != nil {
				t.Fatal(err)
			}
			accepts := map[string]bool{}
			for _, p := range o.Parameters {
				accepts[p.Name] = p.In == "query" || p.In == "path"
				for k := range p.Schema.Properties {
					accepts[k] = true
				}
				if p.Schema.Ref != "" {
					for k := range doc.Definitions[strings.TrimPrefix(p.Schema.Ref, "#/definitions/")].Properties {
						accepts[k] = true
					}
				}
			}
			for _, f := range c.Fields {
				if !accepts[f.Name] {
					t.Errorf("%s: %s %s takes no field %q", c.ID, c.Method, path, f.Name)
				}
			}
		}
	}
	if n < 30 {
		t.Errorf("only %d commands in commands.json", n)
	}
}
