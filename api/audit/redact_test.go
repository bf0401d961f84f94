package audit_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/chargeplane/chargeplane/api/audit"
	"github.com/chargeplane/chargeplane/api/redact"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRequestWithoutSecrets(t *testing.T) {
	const secret = "s3cret-value-0123456789"
	cases := []struct {
		name string
		req  proto.Message
		keep []string // what must still be there
	}{
		{"debug_redact field", &chargeplanev1.CreateStationRequest{Id: "CP-1", Password: secret, Name: "Depot"}, []string{"CP-1", "Depot", `"password":"[redacted]"`}},
		{"optional debug_redact field", &chargeplanev1.UpdateStationRequest{Id: "CP-1", Password: proto.String(secret)}, []string{"CP-1"}},
		{"user password", &chargeplanev1.CreateUserRequest{Email: "a@example.com", Password: secret, Role: "viewer"}, []string{"a@example.com", "viewer"}},
		{"own password", &chargeplanev1.ChangePasswordRequest{CurrentPassword: secret, NewPassword: secret + "x"}, nil},
		{"1.6 AuthorizationKey", &chargeplanev1.ChangeConfigurationRequest{StationId: "CP-1", Key: "AuthorizationKey", Value: secret}, []string{"AuthorizationKey"}},
		{"2.0.1 BasicAuthPassword", &chargeplanev1.SetVariablesRequest{StationId: "CP-1", Variables: []*chargeplanev1.VariableValue{
			{Component: &chargeplanev1.ComponentRef{Name: "SecurityCtrlr"}, Variable: &chargeplanev1.VariableRef{Name: "BasicAuthPassword"}, AttributeValue: secret},
			{Component: &chargeplanev1.ComponentRef{Name: "OCPPCommCtrlr"}, Variable: &chargeplanev1.VariableRef{Name: "HeartbeatInterval"}, AttributeValue: "300"},
		}}, []string{"BasicAuthPassword", `"attribute_value":"300"`}},
		{"generic ChangeConfiguration", &chargeplanev1.CallRequest{StationId: "CP-1", Action: "ChangeConfiguration",
			Payload: mustStruct(t, map[string]any{"key": "authorizationkey", "value": secret})}, []string{"ChangeConfiguration"}},
		{"generic SetVariables", &chargeplanev1.CallRequest{StationId: "CP-1", Action: "SetVariables",
			Payload: mustStruct(t, map[string]any{"setVariableData": []any{
				map[string]any{"component": map[string]any{"name": "SecurityCtrlr"}, "variable": map[string]any{"name": "BasicAuthPassword"}, "attributeValue": secret},
			}})}, []string{"SecurityCtrlr"}},
		{"generic secret-named key", &chargeplanev1.CallRequest{StationId: "CP-1", Action: "SetNetworkProfile",
			Payload: mustStruct(t, map[string]any{"connectionData": map[string]any{"apn": map[string]any{"apnPassword": secret}, "vpn": map[string]any{"password": secret}}})}, []string{"apnPassword"}},
		{"generic VPN key and SIM PIN", &chargeplanev1.CallRequest{StationId: "CP-1", Action: "SetNetworkProfile",
			Payload: mustStruct(t, map[string]any{"connectionData": map[string]any{"apn": map[string]any{"apn": "internet", "simPin": secret},
				"vpn": map[string]any{"server": "vpn.example", "key": secret}}})}, []string{"vpn.example", "internet"}},
		{"typed SetNetworkProfile", &chargeplanev1.SetNetworkProfileRequest{StationId: "CP-1", CsmsUrl: "wss://csms.example/ocpp",
			Vpn: mustStruct(t, map[string]any{"server": "vpn.example", "key": secret, "password": secret})}, []string{"wss://csms.example/ocpp"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := proto.Clone(c.req)
			got := audit.Request(c.req)
			if strings.Contains(got, secret) {
				t.Errorf("secret kept: %s", got)
			}
			if !strings.Contains(got, redact.Marker) {
				t.Errorf("no redaction marker: %s", got)
			}
			for _, k := range c.keep {
				if !strings.Contains(got, k) {
					t.Errorf("%q lost: %s", k, got)
				}
			}
			if !proto.Equal(before, c.req) {
				t.Error("Request changed the caller's message")
			}
		})
	}
}

func TestRequestBounded(t *testing.T) {
	req := &chargeplanev1.CallRequest{StationId: "CP-1", Action: "DataTransfer",
		Payload: mustStruct(t, map[string]any{"data": strings.Repeat("x", audit.MaxRequestLen)})}
	got := audit.Request(req)
	if len(got) > 100 || !strings.Contains(got, `"truncated":true`) {
		t.Errorf("oversized request kept as %d bytes: %.80s", len(got), got)
	}
}

func TestTarget(t *testing.T) {
	cases := []struct {
		method             string
		req                proto.Message
		typ, id, stationID string
	}{
		{"StationService/DeleteStation", &chargeplanev1.DeleteStationRequest{Id: "CP-1"}, "station", "CP-1", "CP-1"},
		{"RemoteControlService/Reset", &chargeplanev1.ResetRequest{StationId: "CP-2"}, "station", "CP-2", "CP-2"},
		{"IdTokenService/DeleteIdToken", &chargeplanev1.DeleteIdTokenRequest{Id: "7"}, "id_token", "7", ""},
		{"UserService/CreateUser", &chargeplanev1.CreateUserRequest{Email: "a@example.com"}, "user", "a@example.com", ""},
		{"ApiKeyService/RevokeApiKey", &chargeplanev1.RevokeApiKeyRequest{Id: "k1"}, "api_key", "k1", ""},
	}
	for _, c := range cases {
		typ, id, st := audit.Target(c.method, c.req)
		if typ != c.typ || id != c.id || st != c.stationID {
			t.Errorf("Target(%s) = %q %q %q, want %q %q %q", c.method, typ, id, st, c.typ, c.id, c.stationID)
		}
	}
}
