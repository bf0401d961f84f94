package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/chargeplane/chargeplane/pkg/chargepoint"
	"github.com/chargeplane/chargeplane/pkg/metrics/metricstest"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// TestMetrics drives known traffic through a deployment of its own (so no
// other test moves its counters) and checks, on every process's /metrics,
// that each counter moved by exactly what was sent, per action and
// outcome, that the latency histograms saw every CALL, and that no label
// anywhere carries a station id or a charger's made-up action.
func TestMetrics(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t)
			ctx := testCtx(t)
			id16, id201 := newStationID("met16"), newStationID("met201")
			sys.rest.createStation(ctx, t, id16, "")
			sys.rest.createStation(ctx, t, id201, "")

			// An unknown station is refused before the upgrade.
			unknown := newStationID("metunknown")
			if _, err := chargepoint.Dial(ctx, sys.gateway(0)+unknown, chargepoint.Options{Subprotocols: []string{"ocpp1.6"}}); err == nil {
				t.Fatal("an unknown station was admitted")
			}

			c16 := dialMetricsCharger(ctx, t, sys, 0, id16, v16)
			c201 := dialMetricsCharger(ctx, t, sys, 1, id201, v201)
			boot(ctx, t, c16, v16, "SN-"+id16)
			boot(ctx, t, c201, v201, "SN-"+id201)
			for range 3 {
				heartbeat(ctx, t, c16)
			}
			for range 2 {
				heartbeat(ctx, t, c201)
			}
			// An action no version defines: answered NotImplemented and
			// counted as "other", never under its own name.
			const madeUp = "MadeUpActionXYZ"
			var ce *chargepoint.CallError
			if err := call(ctx, c16, madeUp, struct{}{}, &struct{}{}); !errors.As(err, &ce) || ce.Code != ocppj.CodeNotImplemented {
				t.Fatalf("%s answered %v, want a NotImplemented CALLERROR", madeUp, err)
			}
			// One operator command, answered by the charger.
			if code, out := ctlREST(ctx, t, sys, "POST", "/api/v1/stations/"+id16+"/clear-cache", map[string]any{}); code != http.StatusOK {
				t.Fatalf("clear-cache: %d %v", code, out)
			}

			want := map[string]float64{
				`chargeplane_ocpp_messages_total{action="BootNotification",direction="charger_to_csms",ocpp_version="1.6",outcome="CALLRESULT"}`:   1,
				`chargeplane_ocpp_messages_total{action="Heartbeat",direction="charger_to_csms",ocpp_version="1.6",outcome="CALLRESULT"}`:          3,
				`chargeplane_ocpp_messages_total{action="other",direction="charger_to_csms",ocpp_version="1.6",outcome="NotImplemented"}`:          1,
				`chargeplane_ocpp_messages_total{action="ClearCache",direction="csms_to_charger",ocpp_version="1.6",outcome="CALLRESULT"}`:         1,
				`chargeplane_ocpp_messages_total{action="BootNotification",direction="charger_to_csms",ocpp_version="2.0.1",outcome="CALLRESULT"}`: 1,
				`chargeplane_ocpp_messages_total{action="Heartbeat",direction="charger_to_csms",ocpp_version="2.0.1",outcome="CALLRESULT"}`:        2,
				`chargeplane_commands_total{outcome="answered"}`:                                               1,
				`chargeplane_core_handler_duration_seconds_count{action="Heartbeat",ocpp_version="1.6"}`:       3,
				`chargeplane_core_handler_duration_seconds_count{action="Heartbeat",ocpp_version="2.0.1"}`:     2,
				`chargeplane_core_handler_duration_seconds_count{action="other",ocpp_version="1.6"}`:           1,
				`chargeplane_ocpp_call_duration_seconds_count{action="Heartbeat",ocpp_version="1.6"}`:          3,
				`chargeplane_ocpp_call_duration_seconds_count{action="Heartbeat",ocpp_version="2.0.1"}`:        2,
				`chargeplane_ocpp_call_duration_seconds_count{action="BootNotification",ocpp_version="2.0.1"}`: 1,
				`chargeplane_ocpp_call_duration_seconds_count{action="other",ocpp_version="1.6"}`:              1,
				`chargeplane_gateway_connections{ocpp_version="1.6"}`:                                          1,
				`chargeplane_gateway_connections{ocpp_version="2.0.1"}`:                                        1,
				`chargeplane_gateway_admissions_total{outcome="accepted"}`:                                     2,
				`chargeplane_gateway_admissions_total{outcome="unknown_station"}`:                              1,
				// Per station: CONNECTED, then its CALLs (1.6: boot, 3
				// heartbeats, the made-up one; 2.0.1: boot, 2 heartbeats).
				`chargeplane_bus_published_total{outcome="ok",route="upstream"}`: 10,
				`chargeplane_bus_consumed_total{outcome="ok",queue="upstream"}`:  10,
				// The answers, the command and the charger's answer to it.
				`chargeplane_bus_published_total{outcome="ok",route="gateway"}`:    8,
				`chargeplane_bus_published_total{outcome="ok",route="downstream"}`: 1,
				`chargeplane_bus_published_total{outcome="ok",route="core"}`:       1,
			}
			// The core counts after it replied, so poll until it caught up.
			var got map[string]float64
			deadline := time.Now().Add(10 * time.Second)
			for {
				got = scrapeAll(t, sys, id16, id201, madeUp, unknown)
				if matches(got, want) || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			if got["chargeplane_db_query_duration_seconds_count"] == 0 {
				t.Error("no database statement was timed")
			}
			if got["go_goroutines"] == 0 || got["process_resident_memory_bytes"] == 0 {
				t.Error("runtime or process metrics missing")
			}
		})
	}
}

func matches(got, want map[string]float64) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// scrapeAll scrapes every process and sums each series over them, keyed
// by name{labels} without the gateway label (and also by bare name). It
// fails t if any label value contains one of forbidden.
func scrapeAll(t *testing.T, sys *system, forbidden ...string) map[string]float64 {
	t.Helper()
	sums := map[string]float64{}
	for _, url := range sys.metrics {
		for name, fam := range metricstest.Scrape(t, url) {
			for _, m := range fam.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					for _, f := range forbidden {
						if strings.Contains(l.GetValue(), f) || strings.Contains(l.GetName(), f) {
							t.Errorf("%s has label %s=%q, which names %q", name, l.GetName(), l.GetValue(), f)
						}
					}
					if l.GetName() != "gateway" {
						labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
					}
				}
				key := name
				if len(labels) > 0 {
					key += "{" + strings.Join(labels, ",") + "}"
				}
				switch fam.GetType() {
				case dto.MetricType_COUNTER:
					sums[key] += m.GetCounter().GetValue()
					sums[name] += m.GetCounter().GetValue()
				case dto.MetricType_GAUGE:
					sums[key] += m.GetGauge().GetValue()
					sums[name] += m.GetGauge().GetValue()
				case dto.MetricType_HISTOGRAM:
					n := float64(m.GetHistogram().GetSampleCount())
					sums[strings.Replace(key, name, name+"_count", 1)] += n
					sums[name+"_count"] += n
				}
			}
		}
	}
	return sums
}

// dialMetricsCharger connects a strict charger that accepts ClearCache.
func dialMetricsCharger(ctx context.Context, t *testing.T, sys *system, gw int, id string, v ocppVersion) *chargepoint.Client {
	t.Helper()
	c, err := chargepoint.Dial(ctx, sys.gateway(gw)+id, chargepoint.Options{
		Subprotocols: []string{v.subprotocol},
		Schemas:      sys.schemas,
		Compress:     v.name == "2.0.1",
		OnCall: func(_ context.Context, action string, _ json.RawMessage) (any, error) {
			if action != "ClearCache" {
				t.Errorf("unexpected CALL from the CSMS: %s", action)
			}
			return map[string]string{"status": "Accepted"}, nil
		},
	})
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		for _, err := range c.Violations() {
			t.Errorf("strict charger %s: %v", id, err)
		}
	})
	return c
}
