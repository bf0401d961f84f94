package operator_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/chargeplane/chargeplane/api/operator"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

func i32(v int32) *int32 { return &v }

// Requests that are wrong whatever the station are refused before the
// station is looked up (the services have no commander here: reaching it
// would panic).
func TestRemoteControlRefusesBadRequests(t *testing.T) {
	rc := operator.NewRemoteControlService(operator.RemoteControlDeps{Logger: quiet})
	cfg := operator.NewConfigurationService(nil, nil, nil, quiet)
	fw := operator.NewFirmwareService(nil, nil, quiet)
	ctx := context.Background()
	const md5 = "0123456789abcdef0123456789ABCDEF"
	for name, call := range map[string]func() error{
		"start without token": func() error {
			_, err := rc.RemoteStart(ctx, &chargeplanev1.RemoteStartRequest{StationId: "cs"})
			return err
		},
		"start waits too long": func() error {
			_, err := rc.RemoteStart(ctx, &chargeplanev1.RemoteStartRequest{StationId: "cs", IdToken: "T", WaitSeconds: i32(61)})
			return err
		},
		"start negative wait": func() error {
			_, err := rc.RemoteStart(ctx, &chargeplanev1.RemoteStartRequest{StationId: "cs", IdToken: "T", WaitSeconds: i32(-1)})
			return err
		},
		"start on evse 0": func() error {
			_, err := rc.RemoteStart(ctx, &chargeplanev1.RemoteStartRequest{StationId: "cs", IdToken: "T", EvseId: i32(0)})
			return err
		},
		"stop without transaction": func() error {
			_, err := rc.RemoteStop(ctx, &chargeplanev1.RemoteStopRequest{StationId: "cs"})
			return err
		},
		"reset negative evse": func() error {
			_, err := rc.Reset(ctx, &chargeplanev1.ResetRequest{StationId: "cs", EvseId: i32(-2)})
			return err
		},
		"availability without status": func() error {
			_, err := rc.ChangeAvailability(ctx, &chargeplanev1.ChangeAvailabilityRequest{StationId: "cs"})
			return err
		},
		"availability bad status": func() error {
			_, err := rc.ChangeAvailability(ctx, &chargeplanev1.ChangeAvailabilityRequest{StationId: "cs", OperationalStatus: "Broken"})
			return err
		},
		"unlock connector 0": func() error {
			_, err := rc.UnlockConnector(ctx, &chargeplanev1.UnlockConnectorRequest{StationId: "cs"})
			return err
		},
		"trigger nothing": func() error {
			_, err := rc.TriggerMessage(ctx, &chargeplanev1.TriggerMessageRequest{StationId: "cs"})
			return err
		},
		"data transfer without vendor": func() error {
			_, err := rc.DataTransfer(ctx, &chargeplanev1.DataTransferRequest{StationId: "cs"})
			return err
		},
		"change configuration without key": func() error {
			_, err := cfg.ChangeConfiguration(ctx, &chargeplanev1.ChangeConfigurationRequest{StationId: "cs"})
			return err
		},
		"get no variables": func() error {
			_, err := cfg.GetVariables(ctx, &chargeplanev1.GetVariablesRequest{StationId: "cs"})
			return err
		},
		"get variable without component name": func() error {
			_, err := cfg.GetVariables(ctx, &chargeplanev1.GetVariablesRequest{StationId: "cs", Variables: []*chargeplanev1.VariableSelector{
				{Component: &chargeplanev1.ComponentRef{}, Variable: &chargeplanev1.VariableRef{Name: "V"}}}})
			return err
		},
		"set variable connector without evse": func() error {
			_, err := cfg.SetVariables(ctx, &chargeplanev1.SetVariablesRequest{StationId: "cs", Variables: []*chargeplanev1.VariableValue{
				{Component: &chargeplanev1.ComponentRef{Name: "C", ConnectorId: i32(1)}, Variable: &chargeplanev1.VariableRef{Name: "V"}}}})
			return err
		},
		"base report negative id": func() error {
			_, err := cfg.GetBaseReport(ctx, &chargeplanev1.GetBaseReportRequest{StationId: "cs", RequestId: -1})
			return err
		},
		"network profile without url": func() error {
			_, err := cfg.SetNetworkProfile(ctx, &chargeplanev1.SetNetworkProfileRequest{StationId: "cs"})
			return err
		},
		"network profile over http": func() error {
			_, err := cfg.SetNetworkProfile(ctx, &chargeplanev1.SetNetworkProfileRequest{StationId: "cs", CsmsUrl: "https://csms.example/ocpp"})
			return err
		},
		"network profile negative slot": func() error {
			_, err := cfg.SetNetworkProfile(ctx, &chargeplanev1.SetNetworkProfileRequest{StationId: "cs", CsmsUrl: "wss://csms.example/ocpp", ConfigurationSlot: -1})
			return err
		},
		"publish without checksum": func() error {
			_, err := fw.PublishFirmware(ctx, &chargeplanev1.PublishFirmwareRequest{StationId: "cs", Location: "https://fw.example/x.bin"})
			return err
		},
		"publish without location": func() error {
			_, err := fw.PublishFirmware(ctx, &chargeplanev1.PublishFirmwareRequest{StationId: "cs", Checksum: md5})
			return err
		},
		"publish negative retries": func() error {
			_, err := fw.PublishFirmware(ctx, &chargeplanev1.PublishFirmwareRequest{StationId: "cs", Location: "https://fw.example/x.bin",
				Checksum: md5, Retries: i32(-1)})
			return err
		},
		"unpublish a checksum of 31 digits": func() error {
			_, err := fw.UnpublishFirmware(ctx, &chargeplanev1.UnpublishFirmwareRequest{StationId: "cs", Checksum: md5[1:]})
			return err
		},
		"status reports of another kind": func() error {
			_, err := fw.ListStatusReports(ctx, &chargeplanev1.ListStatusReportsRequest{StationId: "cs", Kind: "install"})
			return err
		},
		"device model of no station": func() error {
			_, err := cfg.GetDeviceModel(ctx, &chargeplanev1.GetDeviceModelRequest{})
			return err
		},
	} {
		if err := call(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}

func TestDeviceModelToProto(t *testing.T) {
	entries := []string{
		`{"component":{"name":"EVSE","evse":{"id":2}},"variable":{"name":"Power"},"variableAttribute":[{"value":"22000"}]}`,
		`{"component":{"name":"EVSE","evse":{"id":1}},"variable":{"name":"Power"},"variableAttribute":[{"value":"11000","mutability":"ReadOnly","constant":true}],
		  "variableCharacteristics":{"dataType":"decimal","unit":"W","maxLimit":11000,"supportsMonitoring":true}}`,
		`{"component":{"name":"AuthCtrlr"},"variable":{"name":"Enabled"},"variableAttribute":[{"value":"true"},{"type":"Target","value":"false"}]}`,
		`{"component":{"name":"AuthCtrlr"},"variable":{"name":"AuthorizeRemoteStart"},"variableAttribute":[{"value":"true"}]}`,
		// A later part restates Enabled's Actual value: the later one wins,
		// the Target attribute stays.
		`{"component":{"name":"AuthCtrlr"},"variable":{"name":"Enabled"},"variableAttribute":[{"type":"Actual","value":"false"}]}`,
		`{"component":{"name":"SecurityCtrlr"},"variable":{"name":"BasicAuthPassword"},"variableAttribute":[{"mutability":"WriteOnly"}]}`,
	}
	rep := &store.DeviceModelReport{StationID: "cs", RequestID: 5, Parts: 2, GeneratedAt: time.Unix(100, 0), CompletedAt: time.Unix(200, 0)}
	for _, e := range entries {
		rep.Data = append(rep.Data, json.RawMessage(e))
	}
	got, err := operator.DeviceModelToProto(rep)
	if err != nil {
		t.Fatal(err)
	}
	s := func(v string) *string { return &v }
	f := func(v float64) *float64 { return &v }
	want := &chargeplanev1.DeviceModel{
		StationId: "cs", RequestId: 5, Parts: 2, GeneratedAt: got.GetGeneratedAt(), CompletedAt: got.GetCompletedAt(),
		Components: []*chargeplanev1.DeviceComponent{
			{Name: "AuthCtrlr", Variables: []*chargeplanev1.DeviceVariable{
				{Name: "AuthorizeRemoteStart", Attributes: []*chargeplanev1.DeviceVariableAttribute{{Type: "Actual", Value: s("true"), Mutability: "ReadWrite"}}},
				{Name: "Enabled", Attributes: []*chargeplanev1.DeviceVariableAttribute{
					{Type: "Actual", Value: s("false"), Mutability: "ReadWrite"},
					{Type: "Target", Value: s("false"), Mutability: "ReadWrite"},
				}},
			}},
			{Name: "EVSE", EvseId: i32(1), Variables: []*chargeplanev1.DeviceVariable{
				{Name: "Power", Attributes: []*chargeplanev1.DeviceVariableAttribute{{Type: "Actual", Value: s("11000"), Mutability: "ReadOnly", Constant: true}},
					Characteristics: &chargeplanev1.DeviceVariableCharacteristics{DataType: "decimal", Unit: "W", MaxLimit: f(11000), SupportsMonitoring: true}},
			}},
			{Name: "EVSE", EvseId: i32(2), Variables: []*chargeplanev1.DeviceVariable{
				{Name: "Power", Attributes: []*chargeplanev1.DeviceVariableAttribute{{Type: "Actual", Value: s("22000"), Mutability: "ReadWrite"}}},
			}},
			{Name: "SecurityCtrlr", Variables: []*chargeplanev1.DeviceVariable{
				{Name: "BasicAuthPassword", Attributes: []*chargeplanev1.DeviceVariableAttribute{{Type: "Actual", Mutability: "WriteOnly"}}},
			}},
		},
	}
	if !proto.Equal(got, want) {
		t.Errorf("device model:\n got %v\nwant %v", got, want)
	}
	if !got.GetCompletedAt().AsTime().Equal(time.Unix(200, 0)) || !got.GetGeneratedAt().AsTime().Equal(time.Unix(100, 0)) {
		t.Errorf("times = %v, %v", got.GetGeneratedAt(), got.GetCompletedAt())
	}

	rep.Data = append(rep.Data, json.RawMessage(`{"component":"not an object"}`))
	if _, err := operator.DeviceModelToProto(rep); err == nil {
		t.Error("an unreadable entry must be an error")
	}
}

// SetNetworkProfile never lowers the security profile a station is
// admitted with: the station would switch to a profile the CSMS refuses.
// Refused before anything is sent (no commander here).
func TestNetworkProfileKeepsTheSecurityProfile(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		for id, profile := range map[string]int{"TLS": 2, "LAB": 0} {
			if err := st.CreateStation(ctx, &store.Station{ID: id, SecurityProfile: profile}); err != nil {
				t.Fatal(err)
			}
		}
		cfg := operator.NewConfigurationService(nil, st, nil, quiet)
		for _, c := range []struct {
			station string
			profile *int32
			code    codes.Code
			says    string
		}{
			{"TLS", i32(1), codes.InvalidArgument, "below the 2"},
			{"TLS", i32(4), codes.InvalidArgument, "1, 2 and 3"},
			{"LAB", nil, codes.InvalidArgument, "security profile 0"},
			{"NOPE", i32(3), codes.NotFound, "NOPE"},
		} {
			_, err := cfg.SetNetworkProfile(ctx, &chargeplanev1.SetNetworkProfileRequest{StationId: c.station,
				CsmsUrl: "wss://csms.example/ocpp", SecurityProfile: c.profile})
			if status.Code(err) != c.code || !strings.Contains(status.Convert(err).Message(), c.says) {
				t.Errorf("%s with profile %v: %v, want %v saying %q", c.station, c.profile, err, c.code, c.says)
			}
		}
		if ps, err := cfg.ListNetworkProfiles(ctx, &chargeplanev1.ListNetworkProfilesRequest{StationId: "TLS"}); err != nil || len(ps.GetProfiles()) != 0 {
			t.Errorf("profiles after refusals: %v %v", ps, err)
		}
	})
}
