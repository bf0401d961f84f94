package ocpp

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// TestStatusReportHandlers: firmware, diagnostics and log status
// notifications of both versions are stored and shown as the newest.
func TestStatusReportHandlers(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			ctx := context.Background()
			h.result(ocppj.V16, "FirmwareStatusNotification", h.call(ocppj.V16, "FirmwareStatusNotification", `{"status":"Downloading"}`), nil)
			h.result(ocppj.V16, "DiagnosticsStatusNotification", h.call(ocppj.V16, "DiagnosticsStatusNotification", `{"status":"Uploading"}`), nil)
			h.result(ocppj.V16, "LogStatusNotification", h.call(ocppj.V16, "LogStatusNotification", `{"status":"Uploaded","requestId":4}`), nil)
			h.result(ocppj.V201, "FirmwareStatusNotification", h.call(ocppj.V201, "FirmwareStatusNotification", `{"status":"Installed","requestId":12}`), nil)

			latest, err := h.store.LatestStatusReports(ctx, stationID)
			fw, lg := latest.Firmware, latest.Log
			if err != nil || fw == nil || lg == nil {
				t.Fatalf("latest = %v %v %v", fw, lg, err)
			}
			if fw.Status != "Installed" || fw.RequestID == nil || *fw.RequestID != 12 || !fw.ReportedAt.Equal(testNow.Truncate(time.Microsecond)) {
				t.Errorf("firmware = %+v", fw)
			}
			if lg.Status != "Uploaded" || lg.Action != "LogStatusNotification" || lg.RequestID == nil || *lg.RequestID != 4 {
				t.Errorf("log = %+v", lg)
			}
			all, err := h.store.ListStatusReports(ctx, stationID, store.StatusKindLog)
			if err != nil || len(all) != 2 || all[1].Action != "DiagnosticsStatusNotification" || all[1].Status != "Uploading" {
				t.Errorf("log history = %+v %v", all, err)
			}

			h.result(ocppj.V201, "LogStatusNotification", h.call(ocppj.V201, "LogStatusNotification", `{"status":"BadMessage","requestId":5}`), nil)
			if l, _ := h.store.LatestStatusReports(ctx, stationID); l.Log == nil || l.Log.Status != "BadMessage" {
				t.Errorf("2.0.1 log = %+v", l.Log)
			}
		})
	}
}

// TestReservationStatusUpdate: a 2.0.1 station's Expired/Removed updates
// the recorded reservation; an unknown one is still acknowledged.
func TestReservationStatusUpdate(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			ctx := context.Background()
			r := &store.Reservation{StationID: stationID, OCPPVersion: ocppj.V201, IDToken: "T", ExpiresAt: testNow.Add(time.Hour)}
			if err := h.store.CreateReservation(ctx, r); err != nil {
				t.Fatal(err)
			}
			h.result(ocppj.V201, "ReservationStatusUpdate", h.call(ocppj.V201, "ReservationStatusUpdate",
				`{"reservationId":`+strconv.FormatInt(r.ID, 10)+`,"reservationUpdateStatus":"Removed"}`), nil)
			got, err := h.store.GetReservation(ctx, stationID, r.ID)
			if err != nil || got.Status != store.ReservationRemoved {
				t.Fatalf("reservation = %+v %v", got, err)
			}
			h.result(ocppj.V201, "ReservationStatusUpdate", h.call(ocppj.V201, "ReservationStatusUpdate",
				`{"reservationId":999999,"reservationUpdateStatus":"Expired"}`), nil)
		})
	}
}

// TestReportChargingProfiles: every profile of a report is stored under its
// request id; a retried message stores nothing twice.
func TestReportChargingProfiles(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			payload := `{"requestId":77,"chargingLimitSource":"CSO","evseId":1,"tbc":true,"chargingProfile":[
			  {"id":5,"stackLevel":1,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Absolute",
			   "chargingSchedule":[{"id":1,"startSchedule":"2025-03-04T00:00:00Z","chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":16}]}]},
			  {"id":6,"stackLevel":2,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Relative",
			   "chargingSchedule":[{"id":2,"chargingRateUnit":"W","chargingSchedulePeriod":[{"startPeriod":0,"limit":7000}]}]}]}`
			for range 2 {
				h.result(ocppj.V201, "ReportChargingProfiles", h.call(ocppj.V201, "ReportChargingProfiles", payload), nil)
			}
			ps, err := h.store.ListChargingProfiles(context.Background(), stationID, store.ChargingProfileFilter{RequestID: 77})
			if err != nil || len(ps) != 2 {
				t.Fatalf("stored = %+v %v", ps, err)
			}
			if p := ps[0]; p.Source != store.ProfileSourceReported || p.ProfileID != 5 || p.EVSEID != 1 || p.StackLevel != 1 ||
				p.Purpose != "TxDefaultProfile" || p.ChargingLimitSource != "CSO" || p.OCPPVersion != ocppj.V201 {
				t.Errorf("first = %+v", p)
			}
			if err := h.schemas.ValidateRequest(ocppj.V201, "SetChargingProfile", []byte(`{"evseId":1,"chargingProfile":`+ps[1].Profile+`}`)); err != nil {
				t.Errorf("stored profile is not a valid 2.0.1 profile: %v: %s", err, ps[1].Profile)
			}
		})
	}
}
