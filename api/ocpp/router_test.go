package ocpp

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/bus/inproc"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

var versions = []ocppj.Version{ocppj.V16, ocppj.V201}

// TestRouteTablesCoverChargerActions: every action a charger may send has a
// route, and nothing else does.
func TestRouteTablesCoverChargerActions(t *testing.T) {
	h := newHarness(t, "sqlite")
	for _, v := range versions {
		var want, got []string
		for _, a := range h.schemas.Actions(v) {
			if h.schemas.IsChargerAction(v, a) {
				want = append(want, a)
			}
		}
		for a := range h.router.tables[v] {
			got = append(got, a)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("OCPP %s routes %v, charger actions %v", v, got, want)
		}
	}
}

// TestEveryChargerActionAnswered sends a minimal and a full valid request of
// every charger-initiated action and requires a schema-valid CALLRESULT.
func TestEveryChargerActionAnswered(t *testing.T) {
	h := newHarness(t, "sqlite")
	for _, v := range versions {
		for _, action := range h.schemas.Actions(v) {
			if !h.schemas.IsChargerAction(v, action) {
				continue
			}
			for _, full := range []bool{false, true} {
				name := v.String() + "/" + action + map[bool]string{false: "/required", true: "/full"}[full]
				t.Run(name, func(t *testing.T) {
					h.t = t
					f := h.call(v, action, sampleRequest(t, v, action, full))
					h.result(v, action, f, nil)
				})
			}
		}
	}
}

func TestRejectedCalls(t *testing.T) {
	h := newHarness(t, "sqlite")
	cases := []struct {
		name    string
		v       ocppj.Version
		action  string
		payload string
		code    ocppj.ErrorCode
	}{
		{"1.6 unknown action", ocppj.V16, "Teleport", `{}`, ocppj.CodeNotImplemented},
		{"2.0.1 unknown action", ocppj.V201, "Teleport", `{}`, ocppj.CodeNotImplemented},
		{"1.6 2.0.1-only action", ocppj.V16, "TransactionEvent", `{}`, ocppj.CodeNotImplemented},
		{"1.6 CSMS action", ocppj.V16, "Reset", `{"type":"Hard"}`, ocppj.CodeNotSupported},
		{"2.0.1 CSMS action", ocppj.V201, "GetVariables", `{}`, ocppj.CodeNotSupported},
		{"1.6 missing field", ocppj.V16, "BootNotification", `{"chargePointVendor":"V"}`, ocppj.CodeOccurenceConstraintViolation},
		{"2.0.1 missing field", ocppj.V201, "BootNotification", `{"reason":"PowerUp"}`, ocppj.CodeOccurenceConstraintViolation},
		{"1.6 wrong type", ocppj.V16, "StatusNotification", `{"connectorId":"1","errorCode":"NoError","status":"Available"}`, ocppj.CodeTypeConstraintViolation},
		{"2.0.1 wrong type", ocppj.V201, "Heartbeat", `{"customData":{"vendorId":7}}`, ocppj.CodeTypeConstraintViolation},
		{"1.6 bad enum", ocppj.V16, "StatusNotification", `{"connectorId":1,"errorCode":"NoError","status":"Dancing"}`, ocppj.CodePropertyConstraintViolation},
		{"2.0.1 unknown property", ocppj.V201, "Heartbeat", `{"extra":1}`, ocppj.CodePropertyConstraintViolation},
		{"1.6 too long", ocppj.V16, "Authorize", `{"idTag":"123456789012345678901"}`, ocppj.CodePropertyConstraintViolation},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			requireError(t, h.call(c.v, c.action, c.payload), c.code)
		})
	}
}

func TestBadFrames(t *testing.T) {
	h := newHarness(t, "sqlite")
	ctx := context.Background()
	send := func(v ocppj.Version, frame string) {
		t.Helper()
		if err := h.router.HandleUpstream(ctx, h.frameEnvelope(v, []byte(frame))); err != nil {
			t.Fatal(err)
		}
	}
	send(ocppj.V201, `[2,"x1"]`)
	f := h.reply(ocppj.V201)
	if f.ID != ocppj.UnknownID && f.ID != "x1" {
		t.Fatalf("reply id %q", f.ID)
	}
	requireError(t, f, ocppj.CodeRpcFrameworkError)

	send(ocppj.V16, `not json`)
	f = h.reply(ocppj.V16)
	requireError(t, f, ocppj.CodeFormationViolation)

	// Answers never arrive upstream; they are dropped, never answered.
	send(ocppj.V16, `[3,"a1",{}]`)
	send(ocppj.V201, `[4,"a2","GenericError","",{}]`)
	h.noReply()

	// No version: nothing to answer in.
	env := h.frameEnvelope(ocppj.V16, []byte(`[2,"b1","Heartbeat",{}]`))
	env.OcppVersion = busv1.OcppVersion_OCPP_VERSION_UNSPECIFIED
	if err := h.router.HandleUpstream(ctx, env); err != nil {
		t.Fatal(err)
	}
	h.noReply()
}

func TestHandlers(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			t.Run("1.6 BootNotification", func(t *testing.T) {
				h := newHarness(t, db)
				var resp ocpp16.BootNotificationResponse
				h.result(ocppj.V16, "BootNotification", h.call(ocppj.V16, "BootNotification",
					`{"chargePointVendor":"ACME","chargePointModel":"Zap","chargePointSerialNumber":"S1","chargeBoxSerialNumber":"B1",
					  "firmwareVersion":"1.2","iccid":"IC","imsi":"IM","meterType":"MT","meterSerialNumber":"MS"}`), &resp)
				if resp.Status != ocpp16.RegistrationStatusAccepted || resp.Interval != 300 || !resp.CurrentTime.Equal(testNow) {
					t.Fatalf("response %+v", resp)
				}
				st := h.station()
				want := store.BootInfo{Vendor: "ACME", Model: "Zap", SerialNumber: "S1", ChargeBoxSerialNumber: "B1",
					FirmwareVersion: "1.2", ICCID: "IC", IMSI: "IM", MeterType: "MT", MeterSerialNumber: "MS", RegistrationStatus: "Accepted"}
				got := store.BootInfo{Vendor: st.Vendor, Model: st.Model, SerialNumber: st.SerialNumber, ChargeBoxSerialNumber: st.ChargeBoxSerialNumber,
					FirmwareVersion: st.FirmwareVersion, ICCID: st.ICCID, IMSI: st.IMSI, MeterType: st.MeterType, MeterSerialNumber: st.MeterSerialNumber,
					RegistrationStatus: st.RegistrationStatus}
				if got != want {
					t.Fatalf("stored %+v, want %+v", got, want)
				}
				if st.LastBoot == nil || !st.LastBoot.Equal(testNow) {
					t.Fatalf("last boot %v", st.LastBoot)
				}
			})
			t.Run("2.0.1 BootNotification", func(t *testing.T) {
				h := newHarness(t, db)
				var resp ocpp201.BootNotificationResponse
				h.result(ocppj.V201, "BootNotification", h.call(ocppj.V201, "BootNotification",
					`{"reason":"PowerUp","chargingStation":{"vendorName":"ACME","model":"Zap2","serialNumber":"S2","firmwareVersion":"2.0",
					  "modem":{"iccid":"IC2","imsi":"IM2"}}}`), &resp)
				if resp.Status != ocpp201.RegistrationStatusAccepted || resp.Interval != 300 || !resp.CurrentTime.Equal(testNow) {
					t.Fatalf("response %+v", resp)
				}
				st := h.station()
				if st.Vendor != "ACME" || st.Model != "Zap2" || st.SerialNumber != "S2" || st.FirmwareVersion != "2.0" ||
					st.ICCID != "IC2" || st.IMSI != "IM2" || st.RegistrationStatus != "Accepted" {
					t.Fatalf("stored %+v", st)
				}
			})
			for _, v := range versions {
				t.Run(v.String()+" Heartbeat", func(t *testing.T) {
					h := newHarness(t, db)
					var resp struct{ CurrentTime time.Time }
					h.result(v, "Heartbeat", h.call(v, "Heartbeat", `{}`), &resp)
					if !resp.CurrentTime.Equal(testNow) {
						t.Fatalf("currentTime %v, want %v", resp.CurrentTime, testNow)
					}
					if st := h.station(); st.LastSeen == nil || !st.LastSeen.Equal(testNow) {
						t.Fatalf("last seen %v", st.LastSeen)
					}
				})
			}
			t.Run("1.6 StatusNotification", func(t *testing.T) {
				h := newHarness(t, db)
				h.result(ocppj.V16, "StatusNotification", h.call(ocppj.V16, "StatusNotification",
					`{"connectorId":1,"errorCode":"GroundFailure","status":"Faulted","info":"i","vendorId":"v","vendorErrorCode":"e7",
					  "timestamp":"2025-03-04T05:00:00Z"}`), nil)
				// No timestamp: the status is as of now.
				h.result(ocppj.V16, "StatusNotification", h.call(ocppj.V16, "StatusNotification",
					`{"connectorId":2,"errorCode":"NoError","status":"Charging"}`), nil)
				st := h.station()
				if len(st.Connectors) != 2 {
					t.Fatalf("connectors %+v", st.Connectors)
				}
				c1, c2 := st.Connectors[0], st.Connectors[1]
				if c1.EVSEID != 0 || c1.ConnectorID != 1 || c1.Status != "Faulted" || c1.ErrorCode != "GroundFailure" || c1.Info != "i" ||
					c1.VendorID != "v" || c1.VendorErrorCode != "e7" || !c1.UpdatedAt.Equal(time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC)) {
					t.Fatalf("connector 1 %+v", c1)
				}
				if c2.ConnectorID != 2 || c2.Status != "Charging" || c2.ErrorCode != "NoError" || !c2.UpdatedAt.Equal(testNow) {
					t.Fatalf("connector 2 %+v", c2)
				}
			})
			t.Run("2.0.1 StatusNotification", func(t *testing.T) {
				h := newHarness(t, db)
				h.result(ocppj.V201, "StatusNotification", h.call(ocppj.V201, "StatusNotification",
					`{"timestamp":"2025-03-04T05:00:00Z","connectorStatus":"Occupied","evseId":2,"connectorId":1}`), nil)
				st := h.station()
				if len(st.Connectors) != 1 {
					t.Fatalf("connectors %+v", st.Connectors)
				}
				c := st.Connectors[0]
				if c.EVSEID != 2 || c.ConnectorID != 1 || c.Status != "Occupied" || !c.UpdatedAt.Equal(time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC)) {
					t.Fatalf("connector %+v", c)
				}
			})
			t.Run("2.0.1 TransactionEvent with idToken", func(t *testing.T) {
				h := newHarness(t, db)
				var resp ocpp201.TransactionEventResponse
				h.result(ocppj.V201, "TransactionEvent", h.call(ocppj.V201, "TransactionEvent",
					`{"eventType":"Started","timestamp":"2025-03-04T05:00:00Z","triggerReason":"Authorized","seqNo":0,
					  "transactionInfo":{"transactionId":"t1"},"idToken":{"idToken":"TAG","type":"ISO14443"}}`), &resp)
				if resp.IdTokenInfo == nil || resp.IdTokenInfo.Status != ocpp201.AuthorizationStatusUnknown {
					t.Fatalf("response %+v", resp)
				}
			})
		})
	}
}

func (h *harness) station() *store.Station {
	h.t.Helper()
	st, err := h.store.GetStation(context.Background(), stationID)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// TestRegistrationState: a station whose boot was answered Pending or
// Rejected may only send BootNotification (B02.FR.09, B03.FR.07).
func TestRegistrationState(t *testing.T) {
	for _, status := range []string{"Pending", "Rejected"} {
		for _, v := range versions {
			t.Run(status+"/"+v.String(), func(t *testing.T) {
				h := newHarness(t, "sqlite")
				if err := h.store.RecordBoot(context.Background(), stationID, store.BootInfo{RegistrationStatus: status}, testNow); err != nil {
					t.Fatal(err)
				}
				requireError(t, h.call(v, "Heartbeat", `{}`), ocppj.CodeSecurityError)
				requireError(t, h.call(v, "DataTransfer", `{"vendorId":"x"}`), ocppj.CodeSecurityError)
				h.result(v, "BootNotification", h.call(v, "BootNotification", sampleRequest(t, v, "BootNotification", false)), nil)
				h.result(v, "Heartbeat", h.call(v, "Heartbeat", `{}`), nil)
			})
		}
	}
}

func TestUnknownStationGetsSecurityError(t *testing.T) {
	h := newHarness(t, "sqlite")
	if err := h.store.DeleteStation(context.Background(), stationID); err != nil {
		t.Fatal(err)
	}
	requireError(t, h.call(ocppj.V16, "Heartbeat", `{}`), ocppj.CodeSecurityError)
}

// TestStoreFailureIsInternalError: a failure on our side is never a fake
// success; the charger gets InternalError and retries.
func TestStoreFailureIsInternalError(t *testing.T) {
	for _, v := range versions {
		h := newHarness(t, "sqlite")
		if err := h.store.Close(); err != nil {
			t.Fatal(err)
		}
		requireError(t, h.call(v, "Heartbeat", `{}`), ocppj.CodeInternalError)
		requireError(t, h.call(v, "BootNotification", sampleRequest(t, v, "BootNotification", false)), ocppj.CodeInternalError)
	}
}

// TestPublishFailureIsReturned: only an unpublishable reply makes
// HandleUpstream fail, so that the bus redelivers the CALL.
func TestPublishFailureIsReturned(t *testing.T) {
	h := newHarness(t, "sqlite")
	closed := inproc.New(inproc.Config{Logger: quietLogger()})
	_ = closed.Close()
	h.router.bus = closed
	frame, _ := ocppj.EncodeCall("p1", "Heartbeat", struct{}{})
	if err := h.router.HandleUpstream(context.Background(), h.frameEnvelope(ocppj.V16, frame)); err == nil {
		t.Fatal("HandleUpstream succeeded with a closed bus")
	}
}

// TestConnectionEvents: connected/disconnected are fenced by connection id.
func TestConnectionEvents(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			ctx := context.Background()
			event := func(kind busv1.Kind, conn string) {
				t.Helper()
				env := &busv1.Envelope{Kind: kind, StationId: stationID, GatewayId: gatewayID, ConnectionId: conn,
					OcppVersion: busv1.OcppVersion_OCPP_VERSION_201}
				if err := h.router.HandleUpstream(ctx, env); err != nil {
					t.Fatal(err)
				}
			}
			admit := func(conn string) {
				t.Helper()
				if _, err := h.store.RecordAdmission(ctx, store.ConnectionEvent{StationID: stationID, GatewayID: gatewayID, ConnectionID: conn, At: testNow}); err != nil {
					t.Fatal(err)
				}
			}
			admit("c1")
			event(busv1.Kind_KIND_CONNECTED, "c1")
			if st := h.station(); !st.Connected || st.ConnectionID != "c1" || st.OCPPVersion != ocppj.V201 {
				t.Fatalf("after connect: %+v", st)
			}
			admit("c2")
			event(busv1.Kind_KIND_CONNECTED, "c2")
			event(busv1.Kind_KIND_DISCONNECTED, "c1") // late, for the replaced socket
			if st := h.station(); !st.Connected || st.ConnectionID != "c2" {
				t.Fatalf("a stale disconnect changed the station: %+v", st)
			}
			event(busv1.Kind_KIND_DISCONNECTED, "c2")
			if st := h.station(); st.Connected || st.Status != "Unavailable" {
				t.Fatalf("after disconnect: %+v", st)
			}
			h.noReply()
		})
	}
}

// TestConsumeUpstream runs the router as the bus handler end to end.
func TestConsumeUpstream(t *testing.T) {
	h := newHarness(t, "sqlite")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := h.bus.ConsumeUpstream(ctx, h.router.HandleUpstream); err != nil {
		t.Fatal(err)
	}
	frame, _ := ocppj.EncodeCall("u1", "Heartbeat", struct{}{})
	if err := h.bus.PublishUpstream(ctx, h.frameEnvelope(ocppj.V201, frame)); err != nil {
		t.Fatal(err)
	}
	f := h.reply(ocppj.V201)
	if f.ID != "u1" {
		t.Fatalf("reply id %q", f.ID)
	}
	h.result(ocppj.V201, "Heartbeat", f, nil)
}
