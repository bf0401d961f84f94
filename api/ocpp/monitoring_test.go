package ocpp

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chargeplane/chargeplane/api/datatransfer"
	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/redact"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// alertRecorder is a monitoring.Sink that keeps what it gets.
type alertRecorder struct {
	mu     sync.Mutex
	alerts []store.StationEvent
}

func (r *alertRecorder) Alert(_ context.Context, e store.StationEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alerts = append(r.alerts, e)
}

const monitoringReport0 = `{"requestId":31,"seqNo":0,"tbc":true,"generatedAt":"2025-03-04T05:00:00Z","monitor":[
  {"component":{"name":"EVSE","evse":{"id":1}},"variable":{"name":"Power"},
   "variableMonitoring":[{"id":7,"transaction":false,"value":22000,"type":"UpperThreshold","severity":3}]}]}`
const monitoringReport1 = `{"requestId":31,"seqNo":1,"generatedAt":"2025-03-04T05:00:01Z","monitor":[
  {"component":{"name":"Connector","evse":{"id":1,"connectorId":1}},"variable":{"name":"Temperature"},
   "variableMonitoring":[{"id":8,"transaction":true,"value":5,"type":"Delta","severity":7}]}]}`

// TestNotifyMonitoringReportAndEvents: monitoring report parts are
// reassembled and their monitors join the device model; events get their
// monitor's severity, are listed with filters, and those at the alert
// level or worse are raised once, even when the message is retried.
func TestNotifyMonitoringReportAndEvents(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			sink := &alertRecorder{}
			h := newHarness(t, db, func(d *Deps) { d.Alerts = sink })
			ctx := context.Background()
			// Out of order, and retried: reassembled once.
			for _, p := range []string{monitoringReport1, monitoringReport0, monitoringReport0} {
				h.result(ocppj.V201, "NotifyMonitoringReport", h.call(ocppj.V201, "NotifyMonitoringReport", p), nil)
			}
			rep, err := h.store.Report(ctx, stationID, store.ReportKindMonitoring, 31)
			if err != nil || rep.Parts != 2 || len(rep.Data) != 2 {
				t.Fatalf("report = %+v %v", rep, err)
			}
			ms, err := h.store.ListMonitors(ctx, stationID)
			if err != nil || len(ms) != 2 {
				t.Fatalf("monitors = %+v %v", ms, err)
			}
			if m := ms[0]; m.MonitorID != 7 || m.ComponentName != "EVSE" || m.EVSEID == nil || *m.EVSEID != 1 ||
				m.VariableName != "Power" || m.Type != "UpperThreshold" || m.Value != 22000 || m.Severity != 3 || m.PerTransaction {
				t.Errorf("monitor 7 = %+v", m)
			}
			if m := ms[1]; m.MonitorID != 8 || m.ConnectorID == nil || *m.ConnectorID != 1 || !m.PerTransaction || m.Severity != 7 {
				t.Errorf("monitor 8 = %+v", m)
			}
			if _, err := h.store.LatestDeviceModel(ctx, stationID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a monitoring report is not a device model report: %v", err)
			}

			events := `{"generatedAt":"2025-03-04T05:06:00Z","seqNo":0,"eventData":[
			  {"eventId":1,"timestamp":"2025-03-04T05:05:00Z","trigger":"Alerting","actualValue":"23000","variableMonitoringId":7,
			   "eventNotificationType":"CustomMonitor","component":{"name":"EVSE","evse":{"id":1}},"variable":{"name":"Power"}},
			  {"eventId":2,"timestamp":"2025-03-04T05:05:01Z","trigger":"Delta","actualValue":"41","variableMonitoringId":8,
			   "eventNotificationType":"CustomMonitor","component":{"name":"Connector","evse":{"id":1,"connectorId":1}},"variable":{"name":"Temperature"}},
			  {"eventId":3,"timestamp":"2025-03-04T05:05:02Z","trigger":"Alerting","actualValue":"Faulted","techCode":"E42","cleared":true,
			   "eventNotificationType":"HardWiredMonitor","component":{"name":"ChargingStation"},"variable":{"name":"Problem"}}]}`
			for range 2 {
				h.result(ocppj.V201, "NotifyEvent", h.call(ocppj.V201, "NotifyEvent", events), nil)
			}
			all, total, err := h.store.ListEvents(ctx, store.EventFilter{StationID: stationID}, store.Page{})
			if err != nil || total != 3 || len(all) != 3 {
				t.Fatalf("events = %+v %d %v", all, total, err)
			}
			if e := all[2]; e.EventID != 1 || e.Severity == nil || *e.Severity != 3 || !e.Alert || e.EventTrigger != "Alerting" ||
				e.ActualValue != "23000" || e.MonitorID == nil || *e.MonitorID != 7 || e.EVSEID == nil || *e.EVSEID != 1 {
				t.Errorf("event 1 = %+v", e)
			}
			if e := all[1]; e.Severity == nil || *e.Severity != 7 || e.Alert {
				t.Errorf("event 2 (notice) = %+v", e)
			}
			if e := all[0]; e.Severity != nil || e.Alert || !e.Cleared || e.TechCode != "E42" {
				t.Errorf("event 3 (unknown monitor) = %+v", e)
			}
			if len(sink.alerts) != 1 || sink.alerts[0].EventID != 1 {
				t.Errorf("alerts = %+v, want event 1 once", sink.alerts)
			}
			alerts, n, err := h.store.ListEvents(ctx, store.EventFilter{StationID: stationID, AlertsOnly: true}, store.Page{})
			if err != nil || n != 1 || alerts[0].EventID != 1 {
				t.Errorf("alerts only = %+v %d %v", alerts, n, err)
			}
			page, n, err := h.store.ListEvents(ctx, store.EventFilter{StationID: stationID, Trigger: "Alerting"},
				store.Page{Limit: 1})
			if err != nil || n != 2 || len(page) != 1 || page[0].EventID != 3 {
				t.Fatalf("page 1 = %+v %d %v", page, n, err)
			}
			page, _, err = h.store.ListEvents(ctx, store.EventFilter{StationID: stationID, Trigger: "Alerting"},
				store.Page{Limit: 1, AfterID: itoa(page[0].ID)})
			if err != nil || len(page) != 1 || page[0].EventID != 1 {
				t.Errorf("page 2 = %+v %v", page, err)
			}
		})
	}
}

// TestNotifyDisplayMessagesAndCustomerInformation: both are reassembled
// under their request id; a report is complete only with its last part.
func TestNotifyDisplayMessagesAndCustomerInformation(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			ctx := context.Background()
			msg := func(id int) string {
				return `{"id":` + itoa(int64(id)) + `,"priority":"NormalCycle","message":{"format":"UTF8","content":"Hello ` + itoa(int64(id)) + `"}}`
			}
			h.result(ocppj.V201, "NotifyDisplayMessages", h.call(ocppj.V201, "NotifyDisplayMessages",
				`{"requestId":5,"tbc":true,"messageInfo":[`+msg(1)+`]}`), nil)
			if _, err := h.store.Report(ctx, stationID, store.ReportKindDisplayMessages, 5); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("incomplete display messages: %v", err)
			}
			h.result(ocppj.V201, "NotifyDisplayMessages", h.call(ocppj.V201, "NotifyDisplayMessages",
				`{"requestId":5,"messageInfo":[`+msg(2)+`,`+msg(3)+`]}`), nil)
			rep, err := h.store.LatestReport(ctx, stationID, store.ReportKindDisplayMessages)
			if err != nil || rep.RequestID != 5 || len(rep.Data) != 3 {
				t.Fatalf("display messages = %+v %v", rep, err)
			}
			var third struct{ ID int }
			if err := json.Unmarshal(rep.Data[2], &third); err != nil || third.ID != 3 {
				t.Errorf("third message = %s", rep.Data[2])
			}

			h.result(ocppj.V201, "NotifyCustomerInformation", h.call(ocppj.V201, "NotifyCustomerInformation",
				`{"requestId":9,"seqNo":1,"generatedAt":"2025-03-04T05:00:00Z","data":"sessions: 2"}`), nil)
			h.result(ocppj.V201, "NotifyCustomerInformation", h.call(ocppj.V201, "NotifyCustomerInformation",
				`{"requestId":9,"seqNo":0,"tbc":true,"generatedAt":"2025-03-04T05:00:00Z","data":"token: AB12; "}`), nil)
			ci, err := h.store.Report(ctx, stationID, store.ReportKindCustomerInformation, 9)
			if err != nil || len(ci.Data) != 2 || string(ci.Data[0]) != `"token: AB12; "` || string(ci.Data[1]) != `"sessions: 2"` {
				t.Fatalf("customer information = %+v %v", ci, err)
			}
		})
	}
}

// TestPublishFirmwareStatusNotification: the status and, once published,
// the download locations are stored.
func TestPublishFirmwareStatusNotification(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			h.result(ocppj.V201, "PublishFirmwareStatusNotification", h.call(ocppj.V201, "PublishFirmwareStatusNotification",
				`{"status":"Published","requestId":3,"location":["http://lc.local/fw.bin","ftp://lc.local/fw.bin"]}`), nil)
			rs, err := h.store.ListStatusReports(context.Background(), stationID, store.StatusKindPublish)
			if err != nil || len(rs) != 1 {
				t.Fatalf("reports = %+v %v", rs, err)
			}
			if r := rs[0]; r.Status != "Published" || r.RequestID == nil || *r.RequestID != 3 ||
				r.Locations != `["http://lc.local/fw.bin","ftp://lc.local/fw.bin"]` {
				t.Errorf("report = %+v", r)
			}
			// The newest is the station's publish status.
			if l, err := h.store.LatestStatusReports(context.Background(), stationID); err != nil || l.Publish == nil ||
				l.Publish.ID != rs[0].ID || l.Firmware != nil {
				t.Errorf("latest = %+v %v", l, err)
			}
		})
	}
}

// TestDataTransfer: a registered vendor message gets its handler's
// answer, an unknown message of a known vendor UnknownMessageId, any other
// vendor UnknownVendorId; every one is stored with its answer, both
// versions.
func TestDataTransfer(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			reg := datatransfer.NewRegistry()
			reg.Register("com.example", "Ping", func(_ context.Context, m datatransfer.Message) (datatransfer.Answer, error) {
				if m.Version == ocppj.V16 {
					return datatransfer.Answer{Status: datatransfer.Accepted, Data: json.RawMessage(`"pong"`)}, nil
				}
				return datatransfer.Answer{Status: datatransfer.Accepted, Data: json.RawMessage(`{"pong":true}`)}, nil
			})
			h := newHarness(t, db, func(d *Deps) { d.VendorExtensions = reg })
			var r16 struct{ Status, Data string }
			h.result(ocppj.V16, "DataTransfer", h.call(ocppj.V16, "DataTransfer", `{"vendorId":"com.example","messageId":"Ping","data":"ping"}`), &r16)
			if r16.Status != "Accepted" || r16.Data != "pong" {
				t.Errorf("1.6 answer = %+v", r16)
			}
			var r201 struct {
				Status string
				Data   json.RawMessage
			}
			h.result(ocppj.V201, "DataTransfer", h.call(ocppj.V201, "DataTransfer", `{"vendorId":"com.example","messageId":"Ping","data":{"n":1}}`), &r201)
			if r201.Status != "Accepted" || string(r201.Data) != `{"pong":true}` {
				t.Errorf("2.0.1 answer = %+v", r201)
			}
			h.result(ocppj.V201, "DataTransfer", h.call(ocppj.V201, "DataTransfer", `{"vendorId":"com.example","messageId":"Other"}`), &r201)
			if r201.Status != "UnknownMessageId" {
				t.Errorf("unknown message = %+v", r201)
			}
			h.result(ocppj.V16, "DataTransfer", h.call(ocppj.V16, "DataTransfer", `{"vendorId":"org.unknown","data":"x"}`), &r16)
			if r16.Status != "UnknownVendorId" {
				t.Errorf("unknown vendor = %+v", r16)
			}
			ds, total, err := h.store.ListDataTransfers(context.Background(), store.DataTransferFilter{StationID: stationID}, store.Page{})
			if err != nil || total != 4 {
				t.Fatalf("stored = %+v %d %v", ds, total, err)
			}
			if d := ds[0]; d.VendorID != "org.unknown" || d.Status != "UnknownVendorId" || d.Data != `"x"` || d.OCPPVersion != ocppj.V16 {
				t.Errorf("newest = %+v", d)
			}
			if d := ds[2]; d.Data != `{"n":1}` || d.Status != "Accepted" || d.OCPPVersion != ocppj.V201 {
				t.Errorf("2.0.1 ping = %+v", d)
			}
			vendor, n, err := h.store.ListDataTransfers(context.Background(), store.DataTransferFilter{StationID: stationID, MessageID: "Ping"}, store.Page{})
			if err != nil || n != 2 || len(vendor) != 2 {
				t.Errorf("by message = %+v %d %v", vendor, n, err)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// callEvents is an EventSink that turns the CALLs it observes into their
// events at once, as event.Recorder does off the charger's path.
type callEvents struct {
	mu     sync.Mutex
	events []event.Event
}

func (s *callEvents) Publish(e event.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

func (s *callEvents) ObserveCall(c event.Call) {
	for _, e := range event.FromCall(c) {
		s.Publish(e)
	}
}

// TestDataTransferSecretsNotRecorded: a secret in a DataTransfer's data
// (2.0.1 JSON, 1.6 JSON in a string), or in the vendor handler's answer,
// reaches the handler and the station as sent, but neither the stored
// transfer (ListDataTransfers), the station.data_transfer event (and so
// webhooks) nor the message log.
func TestDataTransferSecretsNotRecorded(t *testing.T) {
	const secret, answered = "vendor-pass-0123", "answer-secret-4567"
	var got []string
	reg := datatransfer.NewRegistry()
	reg.Register("com.example", "Login", func(_ context.Context, m datatransfer.Message) (datatransfer.Answer, error) {
		got = append(got, string(m.Data))
		if m.Version == ocppj.V16 {
			return datatransfer.Answer{Status: datatransfer.Accepted, Data: json.RawMessage(`"{\"token\":1,\"clientSecret\":\"` + answered + `\"}"`)}, nil
		}
		return datatransfer.Answer{Status: datatransfer.Accepted, Data: json.RawMessage(`{"token":1,"clientSecret":"` + answered + `"}`)}, nil
	})
	sink, events := &messageSink{}, &callEvents{}
	h := newHarness(t, "sqlite", func(d *Deps) { d.VendorExtensions = reg; d.MessageLog = sink; d.Events = events })
	for _, c := range []struct {
		v       ocppj.Version
		payload string
	}{
		{ocppj.V201, `{"vendorId":"com.example","messageId":"Login","data":{"user":"u1","password":"` + secret + `"}}`},
		{ocppj.V16, `{"vendorId":"com.example","messageId":"Login","data":"{\"user\":\"u1\",\"password\":\"` + secret + `\"}"}`},
	} {
		f := h.call(c.v, "DataTransfer", c.payload)
		if f.Type != ocppj.CallResult || !strings.Contains(string(f.Payload), answered) {
			t.Fatalf("%s answered %s", c.v, f.Payload)
		}
	}
	if len(got) != 2 || !strings.Contains(got[0], secret) || !strings.Contains(got[1], secret) {
		t.Errorf("the handler got %q, want the data as sent", got)
	}
	noSecret := func(what, s string) {
		t.Helper()
		if strings.Contains(s, secret) || strings.Contains(s, answered) || !strings.Contains(s, redact.Marker) {
			t.Errorf("%s: %s", what, s)
		}
	}
	ds, total, err := h.store.ListDataTransfers(context.Background(), store.DataTransferFilter{StationID: stationID}, store.Page{})
	if err != nil || total != 2 {
		t.Fatalf("stored %+v %d %v", ds, total, err)
	}
	for _, d := range ds {
		noSecret("stored "+d.OCPPVersion.String(), d.Data)
		if !strings.Contains(d.Data, "u1") {
			t.Errorf("stored %s without the rest of the data", d.Data)
		}
	}
	events.mu.Lock()
	n := 0
	for _, e := range events.events {
		if e.Type == event.DataTransfer {
			n++
			noSecret("event", string(e.Payload))
		}
	}
	events.mu.Unlock()
	if n != 2 {
		t.Errorf("%d station.data_transfer events, want 2", n)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.msgs) != 4 {
		t.Fatalf("message log has %d frames, want 4", len(sink.msgs))
	}
	for _, m := range sink.msgs {
		noSecret("message log "+m.Direction, m.Frame)
	}
}
