package command

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct {
		action, payload string
		secret          string // must be gone; "" = payload kept as is
	}{
		{"ChangeConfiguration", `{"key":"AuthorizationKey","value":"4F43415F4F4354545F61646D696E5F74657374"}`, "4F43415F"},
		{"ChangeConfiguration", `{"key":"HeartbeatInterval","value":"60"}`, ""},
		{"SetVariables", `{"setVariableData":[{"component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"},"attributeValue":"60"},` +
			`{"component":{"name":"SecurityCtrlr"},"variable":{"name":"BasicAuthPassword"},"attributeValue":"s3cret-password-42"}]}`, "s3cret-password-42"},
		{"SetVariables", `{"setVariableData":[{"component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"},"attributeValue":"60"}]}`, ""},
		{"SetNetworkProfile", `{"configurationSlot":1,"connectionData":{"ocppVersion":"OCPP20","ocppTransport":"JSON",` +
			`"ocppCsmsUrl":"wss://csms.example/ocpp","messageTimeout":30,"securityProfile":2,"ocppInterface":"Wireless0",` +
			`"vpn":{"server":"vpn.example","user":"u","key":"shared-key-999","type":"IPSec","password":"vpn-pass-1234"}}}`, "vpn-pass-1234"},
		{"SetNetworkProfile", `{"configurationSlot":1,"connectionData":{"ocppVersion":"OCPP20","ocppTransport":"JSON",` +
			`"ocppCsmsUrl":"wss://csms.example/ocpp","messageTimeout":30,"securityProfile":2,"ocppInterface":"Wireless0",` +
			`"apn":{"apn":"internet","apnPassword":"apn-pass-5678","apnAuthentication":"AUTO"}}}`, "apn-pass-5678"},
		{"SetNetworkProfile", `{"configurationSlot":1,"connectionData":{"ocppVersion":"OCPP20","ocppTransport":"JSON",` +
			`"ocppCsmsUrl":"wss://csms.example/ocpp","messageTimeout":30,"securityProfile":2,"ocppInterface":"Wired0"}}`, ""},
		{"Reset", `{"type":"Soft"}`, ""},
		{"SetVariables", `not json`, ""},
	} {
		payload, frame := redacted("m1", tc.action, []byte(tc.payload), []byte("FRAME"))
		if tc.secret == "" {
			if string(payload) != tc.payload || string(frame) != "FRAME" {
				t.Errorf("%s %s changed: %s %s", tc.action, tc.payload, payload, frame)
			}
			continue
		}
		for _, got := range []string{string(payload), string(frame)} {
			if strings.Contains(got, tc.secret) || !strings.Contains(got, Redacted) {
				t.Errorf("%s: kept %s", tc.action, got)
			}
		}
		if !strings.HasPrefix(string(frame), `[2,"m1","`+tc.action+`",`) {
			t.Errorf("frame %s", frame)
		}
		if strings.Contains(string(payload), "shared-key-999") {
			t.Errorf("%s: kept the VPN key: %s", tc.action, payload)
		}
		if tc.action == "SetNetworkProfile" && !strings.Contains(string(payload), `"ocppCsmsUrl":"wss://csms.example/ocpp"`) {
			t.Errorf("the rest of the profile lost: %s", payload)
		}
		if tc.action == "SetVariables" && !strings.Contains(string(payload), `"attributeValue":"60"`) {
			t.Errorf("other variables lost: %s", payload)
		}
	}
}
