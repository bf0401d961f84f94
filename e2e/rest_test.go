package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// restClient talks to the core's REST gateway as the front-end would.
type restClient struct {
	base  string // http://host:port
	token string
	http  *http.Client
}

func newRESTClient(t testing.TB, base string) *restClient {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &restClient{base: base, http: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// do sends a JSON request and returns the status, the Content-Type and the body.
func (c *restClient) do(ctx context.Context, method, path string, body any, withToken bool) (int, string, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return 0, "", nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if withToken && c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b, err
}

func (c *restClient) login(ctx context.Context, t testing.TB, email, password string) {
	t.Helper()
	code, _, body, err := c.do(ctx, http.MethodPost, "/api/v1/auth/login",
		map[string]string{"email": email, "password": password}, false)
	if err != nil || code != http.StatusOK {
		t.Fatalf("POST /api/v1/auth/login: %d %s %v", code, body, err)
	}
	var out struct {
		AccessToken string `json:"accessToken"`
		TokenType   string `json:"tokenType"`
	}
	if err := decodeAPI(body, &out); err != nil {
		t.Fatalf("login response %s: %v", body, err)
	}
	if out.AccessToken == "" {
		t.Fatalf("login response has no accessToken: %s", body)
	}
	c.token = out.AccessToken
}

func (c *restClient) createStation(ctx context.Context, t testing.TB, id, password string) apiStation {
	t.Helper()
	req := map[string]string{"id": id, "name": "e2e " + id}
	if password != "" {
		req["password"] = password
	}
	code, _, body, err := c.do(ctx, http.MethodPost, "/api/v1/stations", req, true)
	if err != nil || (code != http.StatusCreated && code != http.StatusOK) {
		t.Fatalf("POST /api/v1/stations %s: %d %s %v", id, code, body, err)
	}
	var st apiStation
	if err := decodeAPI(body, &st); err != nil {
		t.Fatalf("create station response %s: %v", body, err)
	}
	if st.ID != id {
		t.Fatalf("created station id = %q, want %q (%s)", st.ID, id, body)
	}
	if st.HasPassword != (password != "") {
		t.Errorf("created station hasPassword = %v, want %v", st.HasPassword, password != "")
	}
	if strings.Contains(string(body), password) && password != "" {
		t.Errorf("create station response leaks the password: %s", body)
	}
	return st
}

func (c *restClient) getStation(ctx context.Context, t testing.TB, id string) apiStation {
	t.Helper()
	code, _, body, err := c.do(ctx, http.MethodGet, "/api/v1/stations/"+id, nil, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/v1/stations/%s: %d %s %v", id, code, body, err)
	}
	var st apiStation
	if err := decodeAPI(body, &st); err != nil {
		t.Fatalf("station %s: %v", body, err)
	}
	return st
}

// apiStation is the REST view of chargeplane.v1.Station.
type apiStation struct {
	ID                 string         `json:"id"`
	Name               string         `json:"name"`
	Vendor             string         `json:"vendor"`
	Model              string         `json:"model"`
	SerialNumber       string         `json:"serialNumber"`
	FirmwareVersion    string         `json:"firmwareVersion"`
	OCPPVersion        string         `json:"ocppVersion"`
	Status             string         `json:"status"`
	Connected          bool           `json:"connected"`
	LastSeen           *time.Time     `json:"lastSeen"`
	Connectors         []apiConnector `json:"connectors"`
	HasPassword        bool           `json:"hasPassword"`
	RegistrationStatus string         `json:"registrationStatus"`
	Onboarding         string         `json:"onboarding"`
	Blocked            bool           `json:"blocked"`
}

type apiConnector struct {
	EVSEID      int    `json:"evseId"`
	ConnectorID int    `json:"connectorId"`
	Status      string `json:"status"`
	ErrorCode   string `json:"errorCode"`
}

func (s apiStation) connector(evse, id int) (apiConnector, bool) {
	for _, c := range s.Connectors {
		if c.EVSEID == evse && c.ConnectorID == id {
			return c, true
		}
	}
	return apiConnector{}, false
}

// decodeAPI decodes a REST body whichever JSON naming the gateway marshaler
// uses (protojson lowerCamelCase by default, proto names if configured so):
// the contract is the fields, not the spelling.
func decodeAPI(body []byte, v any) error {
	var raw any
	if err := json.Unmarshal(body, &raw); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	b, err := json.Marshal(camelKeys(raw))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func camelKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[snakeToCamel(k)] = camelKeys(val)
		}
		return out
	case []any:
		for i := range x {
			x[i] = camelKeys(x[i])
		}
		return x
	}
	return v
}

func snakeToCamel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// getStationRaw returns the station as a decoded JSON document.
func (c *restClient) getStationRaw(ctx context.Context, t testing.TB, id string) map[string]any {
	t.Helper()
	code, _, body, err := c.do(ctx, http.MethodGet, "/api/v1/stations/"+id, nil, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/v1/stations/%s: %d %s %v", id, code, body, err)
	}
	var st map[string]any
	if err := decodeAPI(body, &st); err != nil {
		t.Fatalf("station %s: %v", body, err)
	}
	return st
}
