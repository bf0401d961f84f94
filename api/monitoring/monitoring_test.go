package monitoring

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/logtest"
)

func TestIsAlert(t *testing.T) {
	sev := func(v int) *int { return &v }
	cases := []struct {
		severity *int
		level    int
		want     bool
	}{
		{nil, 9, false},
		{sev(0), 0, true},
		{sev(1), 0, false},
		{sev(4), DefaultAlertSeverity, true},
		{sev(5), DefaultAlertSeverity, false},
		{sev(9), 9, true},
	}
	for _, c := range cases {
		if got := IsAlert(c.severity, c.level); got != c.want {
			t.Errorf("IsAlert(%v, %d) = %v, want %v", c.severity, c.level, got, c.want)
		}
	}
}

type published []event.Event

func (p *published) Publish(e event.Event) { *p = append(*p, e) }

// TestPublishSink: an alert is logged with its station and becomes one
// station.alert event carrying what the operator needs to act on it.
func TestPublishSink(t *testing.T) {
	var logs logtest.Buffer
	var got published
	sink := PublishSink{Log: LogSink{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, Events: &got}
	sev, evse, monitor := 2, 1, 7
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	sink.Alert(context.Background(), store.StationEvent{
		StationID: "CP-1", EventID: 11, OccurredAt: at, EventTrigger: "Alerting", ActualValue: "23000",
		ComponentName: "EVSE", EVSEID: &evse, VariableName: "Power", MonitorID: &monitor, Severity: &sev, Alert: true,
		ReceivedAt: at.Add(time.Second),
	})
	if len(got) != 1 {
		t.Fatalf("published %d events, want 1", len(got))
	}
	e := got[0]
	if e.Type != event.StationAlert || e.StationID != "CP-1" || !e.Time.Equal(at.Add(time.Second)) {
		t.Errorf("event %+v", e)
	}
	var p event.AlertPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.EventID != 11 || p.Severity != 2 || p.Component != "EVSE" || p.EVSEID == nil || *p.EVSEID != 1 || p.Variable != "Power" ||
		p.ActualValue != "23000" || p.MonitorID == nil || *p.MonitorID != 7 || p.Trigger != "Alerting" || !p.Timestamp.Equal(at) {
		t.Errorf("payload %s", e.Payload)
	}
	if l := logs.Lines("station alert"); len(l) != 1 || !strings.Contains(l[0], "CP-1") {
		t.Errorf("not logged: %s", logs.String())
	}
}
