package ocpp

import (
	"context"
	"fmt"
	"testing"

	"github.com/chargeplane/chargeplane/api/command"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// TestMonitoringCommands: every monitoring command goes out schema-valid
// from its typed operation; SetVariableMonitoring keeps the accepted
// monitors under the id the station gave and ClearVariableMonitoring
// forgets them, with the same effects through the generic call.
func TestMonitoringCommands(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			st := openStore(t, db)
			ctx := context.Background()
			createStations(t, st, "TYPED", "GENERIC")
			c := &stationCaller{t: t, v: ocppj.V201, schemas: reg, answers: map[string]string{
				"SetVariableMonitoring": `{"setMonitoringResult":[
				  {"id":41,"status":"Accepted","type":"UpperThreshold","severity":2,"component":{"name":"EVSE","evse":{"id":1}},"variable":{"name":"Power"}},
				  {"status":"UnknownVariable","type":"Delta","severity":8,"component":{"name":"EVSE","evse":{"id":1}},"variable":{"name":"Nope"},
				   "statusInfo":{"reasonCode":"NoSuchVar"}}]}`,
				"ClearVariableMonitoring": `{"clearMonitoringResult":[{"id":41,"status":"Accepted"},{"id":99,"status":"NotFound"}]}`,
				"SetMonitoringBase":       `{"status":"Accepted"}`,
				"SetMonitoringLevel":      `{"status":"Rejected","statusInfo":{"reasonCode":"OutOfRange"}}`,
				"GetMonitoringReport":     `{"status":"Accepted"}`,
			}}
			s := tableSender(c, st)
			monitors := func(station string) string {
				ms, err := st.ListMonitors(ctx, station)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, m := range ms {
					out = append(out, fmt.Sprintf("%d %s/%s evse=%v %s %g sev=%d tx=%v", m.MonitorID, m.ComponentName, m.VariableName,
						*m.EVSEID, m.Type, m.Value, m.Severity, m.PerTransaction))
				}
				return fmt.Sprint(out)
			}

			set := &chargeplanev1.SetVariableMonitoringRequest{StationId: "TYPED", Monitors: []*chargeplanev1.Monitor{
				{Component: &chargeplanev1.ComponentRef{Name: "EVSE", EvseId: i32(1)}, Variable: &chargeplanev1.VariableRef{Name: "Nope"},
					Type: "Delta", Value: 1, Severity: 8},
				{Component: &chargeplanev1.ComponentRef{Name: "EVSE", EvseId: i32(1)}, Variable: &chargeplanev1.VariableRef{Name: "Power"},
					Type: "UpperThreshold", Value: 11000, Severity: 2, Transaction: true},
			}}
			r, err := command.Do[command.MonitorsReply](ctx, s, "TYPED", "op", set)
			if err != nil || len(r.Results) != 2 || r.Results[1].Status != "UnknownVariable" || r.Results[1].ReasonCode != "NoSuchVar" ||
				r.Results[0].Monitor.MonitorID != 41 || r.Results[0].Monitor.Value != 11000 {
				t.Fatalf("SetVariableMonitoring = %+v %v", r, err)
			}
			if _, err := s.Call(ctx, command.Request{StationID: "GENERIC", Action: "SetVariableMonitoring", Payload: c.last()}); err != nil {
				t.Fatal(err)
			}
			want := "[41 EVSE/Power evse=1 UpperThreshold 11000 sev=2 tx=true]"
			if a, b := monitors("TYPED"), monitors("GENERIC"); a != want || b != want {
				t.Errorf("monitors after SetVariableMonitoring\n typed:   %s\n generic: %s\n want:    %s", a, b, want)
			}

			cr, err := command.Do[command.ClearMonitorsReply](ctx, s, "TYPED", "op",
				&chargeplanev1.ClearVariableMonitoringRequest{StationId: "TYPED", Ids: []int32{41, 99}})
			if err != nil || len(cr.Results) != 2 || cr.Results[1].Status != "NotFound" {
				t.Fatalf("ClearVariableMonitoring = %+v %v", cr, err)
			}
			if _, err := s.Call(ctx, command.Request{StationID: "GENERIC", Action: "ClearVariableMonitoring", Payload: c.last()}); err != nil {
				t.Fatal(err)
			}
			if a, b := monitors("TYPED"), monitors("GENERIC"); a != "[]" || b != "[]" {
				t.Errorf("monitors after ClearVariableMonitoring\n typed:   %s\n generic: %s", a, b)
			}

			if r, err := command.Do[command.Reply](ctx, s, "TYPED", "op",
				&chargeplanev1.SetMonitoringBaseRequest{StationId: "TYPED", MonitoringBase: "FactoryDefault"}); err != nil || r.Status != "Accepted" {
				t.Errorf("SetMonitoringBase = %+v %v", r, err)
			}
			if string(c.last()) != `{"monitoringBase":"FactoryDefault"}` {
				t.Errorf("SetMonitoringBase sent %s", c.last())
			}
			if r, err := command.Do[command.Reply](ctx, s, "TYPED", "op",
				&chargeplanev1.SetMonitoringLevelRequest{StationId: "TYPED", Severity: 4}); err != nil || r.Status != "Rejected" || r.ReasonCode != "OutOfRange" {
				t.Errorf("SetMonitoringLevel = %+v %v", r, err)
			}
			rr, err := command.Do[command.RequestReply](ctx, s, "TYPED", "op", &chargeplanev1.GetMonitoringReportRequest{StationId: "TYPED",
				RequestId: 12, MonitoringCriteria: []string{"DeltaMonitoring"},
				ComponentVariables: []*chargeplanev1.ComponentVariable{{Component: &chargeplanev1.ComponentRef{Name: "EVSE", EvseId: i32(1)}}}})
			if err != nil || rr.Status != "Accepted" || rr.RequestID != 12 {
				t.Errorf("GetMonitoringReport = %+v %v", rr, err)
			}
			if got := string(c.last()); got != `{"componentVariable":[{"component":{"evse":{"id":1},"name":"EVSE"}}],"requestId":12,"monitoringCriteria":["DeltaMonitoring"]}` {
				t.Errorf("GetMonitoringReport sent %s", got)
			}
		})
	}
}
