package ocpp

import (
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/locallist"
	"github.com/chargeplane/chargeplane/api/pki/pkitest"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// tableCase is one typed operation of a command table as the test runs
// it: its request, and the answer it gets when the schema's sample will
// not do (the sample's status is the first of its enum, mostly Accepted).
type tableCase struct {
	in     any
	answer string
	// sameOnlyThere names the test that compares the generic call's
	// effects for an operation that records something before it sends
	// (a reservation, a customer information request), which this test
	// cannot reproduce on another station.
	sameOnlyThere string
}

// TestEveryOperationThroughTheGenericCall: for every typed operation of
// both command tables, the CALL it sends (checked against its schema)
// has, when sent as written through the generic call to another station
// and answered the same, the same stored effects: the charging profiles,
// local list, reservations, monitors, certificates and network profiles
// the station has, its display messages and 1.6 configuration keys, as
// the store keeps them. A table operation without a
// case here fails the test, so a new row cannot skip it; an action with
// no typed operation is sent through the generic call alone.
func TestEveryOperationThroughTheGenericCall(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	root := pkitest.NewRoot(t, "Table Test Root", time.Time{}, time.Time{})
	rootPEM := string(root.CertPEM())
	leafKey := pkitest.Key(t, "p256")
	leaf := root.Leaf(t, pkix.Name{CommonName: "TYPED", Organization: []string{"Test CPO"}}, leafKey.Public(), testNow.Add(24*time.Hour))
	leafPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))

	for _, db := range databases {
		for _, v := range ocppj.Versions {
			t.Run(db+"/"+v.String(), func(t *testing.T) {
				st := openStore(t, db)
				ctx := context.Background()
				createStations(t, st, "TYPED", "GENERIC")
				for _, tok := range []*store.IDToken{{Value: "TOKA", GroupID: ptrTo("GRP")}, {Value: "GRP", Type: "Local"}} {
					if err := st.CreateIDToken(ctx, tok); err != nil {
						t.Fatal(err)
					}
				}
				tables := CommandTables(st, func() time.Time { return testNow })
				c := &stationCaller{t: t, v: v, schemas: reg, answers: map[string]string{}}
				s := command.NewSender(c, tables, quietLogger())
				cases := tableCases(t, v, rootPEM, leafPEM)
				// What records before sending runs last: its station then
				// differs from the other, which the comparison would see.
				slices.SortStableFunc(cases, func(a, b tableCase) int {
					return map[bool]int{true: 1}[a.sameOnlyThere != ""] - map[bool]int{true: 1}[b.sameOnlyThere != ""]
				})

				ops := tables[v].Operations()
				covered := map[reflect.Type]bool{}
				for _, tc := range cases {
					typ := reflect.TypeOf(tc.in)
					action, ok := ops[typ]
					if !ok {
						t.Errorf("case %T: no such operation in the OCPP %s table", tc.in, v)
						continue
					}
					covered[typ] = true
					c.answers[action] = tc.answer
					if tc.answer == "" {
						c.answers[action] = sampleAnswer(t, v, action)
					}
					before := len(c.sent)
					if _, err := command.Run(ctx, s, "TYPED", "op", tc.in); err != nil {
						t.Errorf("%s (%T): %v", action, tc.in, err)
						continue
					}
					if len(c.sent) != before+1 || c.sent[len(c.sent)-1].Action != action {
						t.Fatalf("%T sent %d CALLs, want one %s", tc.in, len(c.sent)-before, action)
					}
					if tc.sameOnlyThere != "" {
						continue
					}
					if _, err := s.Call(ctx, command.Request{StationID: "GENERIC", Action: action, Payload: c.last(), RequestedBy: "op"}); err != nil {
						t.Errorf("generic %s: %v", action, err)
						continue
					}
					if a, b := effects(t, st, "TYPED"), effects(t, st, "GENERIC"); a != b {
						t.Errorf("%s (%T) stored\n typed:   %s\n generic: %s", action, tc.in, a, b)
					}
				}
				for typ, action := range ops {
					if !covered[typ] {
						t.Errorf("operation %v (%s) of the OCPP %s table has no case here", typ, action, v)
					}
				}

				// The actions without a typed operation: the generic call
				// sends the schema's full sample.
				withOp := map[string]bool{}
				for _, a := range ops {
					withOp[a] = true
				}
				for _, action := range tables[v].Actions() {
					if withOp[action] {
						continue
					}
					c.answers[action] = sampleAnswer(t, v, action)
					payload := sampleRequest(t, v, action, true)
					if _, err := s.Call(ctx, command.Request{StationID: "GENERIC", Action: action, Payload: json.RawMessage(payload)}); err != nil {
						t.Errorf("generic-only %s: %v", action, err)
					}
				}
			})
		}
	}
}

// sampleAnswer is the schema's sample answer to action (required fields).
func sampleAnswer(t *testing.T, v ocppj.Version, action string) string {
	t.Helper()
	return sample(t, v, action, false, false)
}

// effects is what the store keeps of a station that command answers
// change, without the ids and times that differ between two stations.
func effects(t *testing.T, st *store.Store, station string) string {
	t.Helper()
	ctx := context.Background()
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	profiles, err := st.ListChargingProfiles(ctx, station, store.ChargingProfileFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range profiles {
		add("profile %s %d evse=%d %s/%d tx=%s by %s %s", p.Source, p.ProfileID, p.EVSEID, p.Purpose, p.StackLevel, p.TransactionID, p.RequestedBy, p.Profile)
	}
	ver, held, err := st.LocalListState(ctx, station)
	if err != nil {
		t.Fatal(err)
	}
	add("list %d %s %d", ver.Version, ver.UpdateType, ver.Entries)
	for _, e := range held {
		add("entry %s %s %s %v %s %s", e.IDToken, e.IDTokenType, e.Status, e.ExpiresAt, e.GroupID, e.GroupType)
	}
	rs, err := st.ListReservations(ctx, station, store.ReservationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		add("reservation %s %s %s", r.IDToken, r.Status, r.Error)
	}
	ms, err := st.ListMonitors(ctx, station)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		add("monitor %d %s/%s %s %g %d %v", m.MonitorID, m.ComponentName, m.VariableName, m.Type, m.Value, m.Severity, m.PerTransaction)
	}
	certs, err := st.ListInstalledCertificates(ctx, station)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range certs {
		add("certificate %s %s %s %s %s", c.CertificateType, c.HashAlgorithm, c.IssuerNameHash, c.SerialNumber, c.ChildCertificates)
	}
	dms, err := st.ListDisplayMessages(ctx, station)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range dms {
		add("display message %d %s %s %s %s", m.MessageID, m.Priority, m.State, m.Source, m.Info)
	}
	nps, err := st.ListNetworkProfiles(ctx, station)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range nps {
		add("network profile %d %d %s %s by %s", p.Slot, p.SecurityProfile, p.CSMSURL, p.ConnectionData, p.RequestedBy)
	}
	keys, err := st.ListConfiguration(ctx, station)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		add("configuration key %s %v %v %v %s", k.Key, k.Readonly, valueOf(k.Value), k.AwaitingReboot, k.ReportedAt)
	}
	slices.Sort(out)
	return strings.Join(out, "\n  ")
}

// tableCases are the typed operations of a version's table with requests
// their build accepts.
func tableCases(t *testing.T, v ocppj.Version, rootPEM, leafPEM string) []tableCase {
	t.Helper()
	is16 := v == ocppj.V16
	tx := &store.Transaction{ID: 7, OCPPVersion: v, TransactionUID: "TX-7"}
	if is16 {
		tx.TransactionUID = "7"
	}
	st := func(m map[string]any) *structpb.Struct {
		s, err := structpb.NewStruct(m)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	profile := st(map[string]any{"id": 7, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Relative",
		"chargingSchedule": []any{map[string]any{"id": 1, "chargingRateUnit": "A",
			"chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 16}}}}})
	evse, connector := i32(1), i32(1)
	status, trigger := "Operative", "BootNotification"
	if is16 {
		profile = st(map[string]any{"chargingProfileId": 7, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
			"chargingProfileKind": "Relative", "chargingSchedule": map[string]any{"chargingRateUnit": "A",
				"chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 16}}}})
		evse = nil
	}
	rootType := "CSMSRootCertificate"
	if is16 {
		rootType = "CentralSystemRootCertificate"
	}
	cases := []tableCase{
		{in: &chargeplanev1.RemoteStartRequest{IdToken: "TOKA", EvseId: evse, ConnectorId: map[bool]*int32{true: connector}[is16]}},
		{in: command.RemoteStop{Transaction: tx}},
		{in: &chargeplanev1.ResetRequest{}},
		{in: &chargeplanev1.ChangeAvailabilityRequest{EvseId: evse, ConnectorId: map[bool]*int32{true: connector}[is16], OperationalStatus: status}},
		{in: &chargeplanev1.UnlockConnectorRequest{EvseId: evse, ConnectorId: 1}},
		{in: &chargeplanev1.TriggerMessageRequest{RequestedMessage: trigger}},
		{in: &chargeplanev1.ClearCacheRequest{}},
		{in: &chargeplanev1.DataTransferRequest{VendorId: "com.example", MessageId: "Ping"}},
		{in: &chargeplanev1.ReserveNowRequest{IdToken: "TOKA", ExpiresAt: timestamppb.New(testNow.Add(time.Hour)), EvseId: i32(1)},
			sameOnlyThere: "TestGenericCallHasTheTypedEffects"},
		{in: &chargeplanev1.CancelReservationRequest{ReservationId: 1}, sameOnlyThere: "TestGenericCallHasTheTypedEffects"},
		{in: &chargeplanev1.GetLocalListVersionRequest{}},
		{in: locallist.LimitsQuery{}},
		{in: locallist.Update{Version: 1, Type: locallist.Full, Updated: []store.LocalListEntry{{IDToken: "TOKA",
			IDTokenType: map[bool]string{false: "Central"}[is16], Status: "Accepted"}}}},
		{in: &chargeplanev1.SetChargingProfileRequest{EvseId: 1, Profile: profile}},
		{in: &chargeplanev1.GetCompositeScheduleRequest{EvseId: 1, Duration: 600, ChargingRateUnit: "A"}},
		{in: &chargeplanev1.ClearChargingProfileRequest{ProfileId: i32(7)}},
		{in: &chargeplanev1.UpdateFirmwareRequest{Location: "https://fw.example/fw.bin"}},
		{in: command.SignedFirmwareUpdate{UpdateFirmwareRequest: &chargeplanev1.UpdateFirmwareRequest{Location: "https://fw.example/fw.bin",
			SigningCertificate: rootPEM, Signature: "c2lnbmF0dXJl"}}},
		{in: &chargeplanev1.GetLogRequest{Location: "ftp://logs.example/up"}},
		{in: command.LogUpload{GetLogRequest: &chargeplanev1.GetLogRequest{Location: "ftp://logs.example/up", LogType: "SecurityLog"}}},
		{in: command.PasswordChange{Password: "0123456789abcdef0123"}},
		{in: &chargeplanev1.InstallCertificateRequest{CertificateType: rootType, Certificate: rootPEM}},
		{in: &chargeplanev1.GetInstalledCertificateIdsRequest{CertificateTypes: []string{rootType}}},
		{in: &chargeplanev1.DeleteCertificateRequest{Certificate: rootPEM}},
		{in: &chargeplanev1.SendCertificateSignedRequest{CertificateChain: leafPEM}},
		{in: &chargeplanev1.RenewCertificateRequest{}},
	}
	if is16 {
		return append(cases,
			tableCase{in: &chargeplanev1.GetConfigurationRequest{Keys: []string{"HeartbeatInterval"}}},
			tableCase{in: &chargeplanev1.ChangeConfigurationRequest{Key: "HeartbeatInterval", Value: "60"}},
		)
	}
	component := &chargeplanev1.ComponentRef{Name: "EVSE", EvseId: i32(1)}
	return append(cases,
		tableCase{in: command.TransactionStatus{Transaction: tx}},
		tableCase{in: command.CostUpdate{Transaction: tx, TotalCost: 1.25}},
		tableCase{in: &chargeplanev1.GetVariablesRequest{Variables: []*chargeplanev1.VariableSelector{
			{Component: &chargeplanev1.ComponentRef{Name: "OCPPCommCtrlr"}, Variable: &chargeplanev1.VariableRef{Name: "HeartbeatInterval"}}}}},
		tableCase{in: &chargeplanev1.SetVariablesRequest{Variables: []*chargeplanev1.VariableValue{
			{Component: &chargeplanev1.ComponentRef{Name: "OCPPCommCtrlr"}, Variable: &chargeplanev1.VariableRef{Name: "HeartbeatInterval"}, AttributeValue: "60"}}}},
		tableCase{in: &chargeplanev1.GetBaseReportRequest{}},
		tableCase{in: &chargeplanev1.SetNetworkProfileRequest{ConfigurationSlot: 1, CsmsUrl: "wss://csms.example/ocpp", SecurityProfile: i32(2),
			Apn: st(map[string]any{"apn": "internet", "apnPassword": "apn-secret", "apnAuthentication": "AUTO"})}},
		tableCase{in: &chargeplanev1.PublishFirmwareRequest{Location: "https://fw.example/lc.bin", Checksum: "0123456789abcdef0123456789abcdef"}},
		tableCase{in: &chargeplanev1.UnpublishFirmwareRequest{Checksum: "0123456789abcdef0123456789abcdef"}},
		tableCase{in: &chargeplanev1.GetChargingProfilesRequest{EvseId: i32(1)}},
		tableCase{in: &chargeplanev1.SetVariableMonitoringRequest{Monitors: []*chargeplanev1.Monitor{{Component: component,
			Variable: &chargeplanev1.VariableRef{Name: "Power"}, Type: "UpperThreshold", Value: 11000, Severity: 2}}},
			answer: `{"setMonitoringResult":[{"id":41,"status":"Accepted","type":"UpperThreshold","severity":2,` +
				`"component":{"name":"EVSE","evse":{"id":1}},"variable":{"name":"Power"}}]}`},
		tableCase{in: &chargeplanev1.ClearVariableMonitoringRequest{Ids: []int32{41}},
			answer: `{"clearMonitoringResult":[{"id":41,"status":"Accepted"}]}`},
		tableCase{in: &chargeplanev1.SetMonitoringBaseRequest{MonitoringBase: "FactoryDefault"}},
		tableCase{in: &chargeplanev1.SetMonitoringLevelRequest{Severity: 4}},
		tableCase{in: &chargeplanev1.GetMonitoringReportRequest{RequestId: 12}},
		tableCase{in: &chargeplanev1.SetDisplayMessageRequest{Message: &chargeplanev1.DisplayMessage{Id: 3, Priority: "NormalCycle",
			Format: "UTF8", Content: "Welcome"}}},
		tableCase{in: &chargeplanev1.GetDisplayMessagesRequest{RequestId: 21}},
		tableCase{in: &chargeplanev1.ClearDisplayMessageRequest{Id: 3}},
		tableCase{in: &chargeplanev1.CustomerInformationRequest{RequestId: 31, Report: true, IdToken: "TOKA"},
			sameOnlyThere: "TestCustomerInformation"},
	)
}
