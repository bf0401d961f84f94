package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sseEvent is one event read from GET /api/v1/events.
type sseEvent struct {
	ID        int64           `json:"id"`
	Type      string          `json:"type"`
	Time      time.Time       `json:"time"`
	StationID string          `json:"station"`
	Payload   json.RawMessage `json:"payload"`
	sseID     string          // the id: line
	sseType   string          // the event: line
}

// sseStream is an open SSE response.
type sseStream struct {
	events chan sseEvent
	resp   *http.Response
	cancel context.CancelFunc
}

// openEvents opens the SSE stream of base with the query and, when
// lastID is not empty, Last-Event-ID; token as a Bearer header or, when
// asQuery, as access_token.
func openEvents(ctx context.Context, t *testing.T, rc *restClient, query, lastID string, asQuery bool) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	u := rc.base + "/api/v1/events?" + query
	if asQuery {
		u += "&access_token=" + rc.token
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !asQuery {
		req.Header.Set("Authorization", "Bearer "+rc.token)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET /api/v1/events: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		resp.Body.Close()
		t.Fatalf("GET /api/v1/events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{events: make(chan sseEvent, 1000), resp: resp, cancel: cancel}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.sseID != "" {
					s.events <- cur
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				cur.sseID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				cur.sseType = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur); err != nil {
					t.Errorf("bad SSE data %q: %v", line, err)
				}
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// waitFor reads events until one of type typ (of station) comes, and
// returns everything read.
func (s *sseStream) waitFor(t *testing.T, station, typ string) []sseEvent {
	t.Helper()
	var seen []sseEvent
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				t.Fatalf("stream ended before %s of %s; saw %v", typ, station, types(seen))
			}
			if e.sseID != strconv.FormatInt(e.ID, 10) || e.sseType != e.Type {
				t.Fatalf("SSE lines disagree with the data: id %q/%d, event %q/%q", e.sseID, e.ID, e.sseType, e.Type)
			}
			if len(seen) > 0 && e.ID <= seen[len(seen)-1].ID {
				t.Fatalf("ids not increasing: %d after %d", e.ID, seen[len(seen)-1].ID)
			}
			seen = append(seen, e)
			if e.Type == typ && e.StationID == station {
				return seen
			}
		case <-timeout:
			t.Fatalf("no %s of %s in time; saw %v", typ, station, types(seen))
		}
	}
}

func types(evs []sseEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type+"#"+strconv.FormatInt(e.ID, 10))
	}
	return out
}

// Events of both cores reach a subscriber of either; a stream resumed with
// Last-Event-ID gets what it missed and nothing before.
func TestEventsTwoCores(t *testing.T) {
	t.Parallel()
	sys1, sys2, gws := startTwoCores(t, "e2e-evgw")
	ctx := testCtx(t)

	v := versions[0]
	id := newStationID("ev")
	sys1.rest.createStation(ctx, t, id, "")
	// On core 2, by header; on core 1, by query parameter (EventSource).
	s2 := openEvents(ctx, t, sys2.rest, "station="+id, "", false)
	s1 := openEvents(ctx, t, sys1.rest, "station="+id, "", true)

	c := dialCommandCharger(ctx, t, gws[0], id, v)
	boot(ctx, t, c.Client, v, "SN-"+id)
	// A command through core 1: its events are produced there.
	if r := restCall(ctx, t, sys1.rest, id, "ClearCache", map[string]any{}, 5); r.status != http.StatusOK {
		t.Fatalf("ClearCache: %d %s", r.status, r.body)
	}
	// …and through core 2.
	if r := restCall(ctx, t, sys2.rest, id, "ClearCache", map[string]any{}, 5); r.status != http.StatusOK {
		t.Fatalf("ClearCache: %d %s", r.status, r.body)
	}
	var lastSeen int64
	for name, s := range map[string]*sseStream{"core1": s1, "core2": s2} {
		var seen []sseEvent
		seen = append(seen, s.waitFor(t, id, "station.connected")...)
		seen = append(seen, s.waitFor(t, id, "station.booted")...)
		seen = append(seen, s.waitFor(t, id, "command.answered")...)
		seen = append(seen, s.waitFor(t, id, "command.answered")...)
		var sent int
		for _, e := range seen {
			if e.Type != "command.sent" {
				continue
			}
			sent++
			var p struct{ Action string }
			if err := json.Unmarshal(e.Payload, &p); err != nil || p.Action != "ClearCache" {
				t.Errorf("%s: command.sent payload %s", name, e.Payload)
			}
		}
		if sent != 2 {
			t.Fatalf("%s saw %d command.sent, want 2 (one per core): %v", name, sent, types(seen))
		}
		if name == "core2" {
			lastSeen = seen[len(seen)-1].ID
		}
	}

	// Resumption: the subscriber of core 2 goes away, the charger reports
	// a status, and the subscriber comes back on core 1 with the last id
	// it saw: it gets what it missed and nothing it had.
	s2.close()
	status := map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Available"}
	if err := call(ctx, c.Client, "StatusNotification", status, &struct{}{}); err != nil {
		t.Fatalf("StatusNotification: %v", err)
	}
	s1.waitFor(t, id, "station.status")
	back := openEvents(ctx, t, sys1.rest, "station="+id, strconv.FormatInt(lastSeen, 10), false)
	got := back.waitFor(t, id, "station.status")
	if got[0].ID <= lastSeen {
		t.Fatalf("resumed after %d but got %v", lastSeen, types(got))
	}
	var p struct {
		ConnectorID int    `json:"connectorId"`
		Status      string `json:"status"`
	}
	if err := json.Unmarshal(got[len(got)-1].Payload, &p); err != nil || p.ConnectorID != 1 || p.Status != "Available" {
		t.Fatalf("station.status payload %s", got[len(got)-1].Payload)
	}

	// Bad requests get clear answers, not streams.
	for _, tc := range []struct {
		query string
		token string
		want  int
	}{
		{"type=no.such", sys1.rest.token, http.StatusBadRequest},
		{"station=" + strings.Repeat("x", 100), sys1.rest.token, http.StatusBadRequest},
		{"", "", http.StatusUnauthorized},
		{"", "not-a-token", http.StatusUnauthorized},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sys1.rest.base+"/api/v1/events?"+tc.query, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /api/v1/events?%s: %d, want %d", tc.query, resp.StatusCode, tc.want)
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sys1.rest.base+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+sys1.rest.token)
	req.Header.Set("Last-Event-ID", "-3")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("negative Last-Event-ID: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
