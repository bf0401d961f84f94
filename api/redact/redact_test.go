package redact_test

import (
	"strings"
	"testing"

	"github.com/chargeplane/chargeplane/api/redact"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

const secret = "s3cret-value-0123456789"

func TestJSON(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		keep      []string // what must still be there
	}{
		{"1.6 ChangeConfiguration", `{"key":"AuthorizationKey","value":"` + secret + `"}`, []string{`"key":"AuthorizationKey"`}},
		{"1.6 key in another case", `{"key":"authorizationKEY","value":"` + secret + `"}`, nil},
		{"1.6 GetConfiguration answer", `{"configurationKey":[{"key":"AuthorizationKey","readonly":false,"value":"` + secret + `"},` +
			`{"key":"HeartbeatInterval","readonly":false,"value":"300"}]}`, []string{`"value":"300"`, `"readonly":false`}},
		{"1.6 vendor key naming a secret", `{"configurationKey":[{"key":"WifiPassword","readonly":false,"value":"` + secret + `"}]}`, []string{`"key":"WifiPassword"`}},
		{"2.0.1 SetVariables", `{"setVariableData":[{"component":{"name":"SecurityCtrlr"},"variable":{"name":"BasicAuthPassword"},"attributeValue":"` + secret + `"},` +
			`{"component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"},"attributeValue":"60"}]}`, []string{`"attributeValue":"60"`}},
		{"2.0.1 GetVariables answer", `{"getVariableResult":[{"attributeStatus":"Accepted","component":{"name":"SecurityCtrlr"},` +
			`"variable":{"name":"basicauthpassword"},"attributeValue":"` + secret + `"}]}`, []string{"Accepted"}},
		{"2.0.1 NotifyReport", `{"requestId":1,"generatedAt":"2026-01-02T03:04:05Z","seqNo":0,"reportData":[{"component":{"name":"SecurityCtrlr"},` +
			`"variable":{"name":"BasicAuthPassword"},"variableAttribute":[{"type":"Actual","value":"` + secret + `"}]}]}`, []string{`"type":"Actual"`, `"requestId":1`}},
		{"SetNetworkProfile", `{"configurationSlot":1,"connectionData":{"apn":{"apn":"x","apnPassword":"` + secret + `","simPin":1234},` +
			`"vpn":{"server":"v","user":"u","password":"` + secret + `","key":"k","type":"IPSec"}}}`, []string{`"server":"v"`}},
		{"secret-named key", `{"data":{"clientSecret":"` + secret + `"},"n":1.50}`, []string{`"n":1.50`}},
		{"key spelt with JSON escapes", `{"key":"Authorization\u004bey","value":"` + secret + `"}`, nil},
		// A 1.6 DataTransfer's data is a string; often JSON itself.
		{"JSON in a string", `{"vendorId":"x","data":"{\"user\":\"u\",\"password\":\"` + secret + `\"}"}`, []string{`"vendorId":"x"`, `\"user\":\"u\"`}},
		{"JSON string on its own", `"{\"password\":\"` + secret + `\",\"n\":1}"`, []string{`\"n\":1`}},
		{"JSON in a string in a list", `{"l":[" [{\"apiSecret\":\"` + secret + `\"}]","plain"]}`, []string{`"plain"`}},
		// A firmware or log location with its server's credentials.
		{"1.6 UpdateFirmware location", `{"location":"ftp://fw:` + secret + `@files.example.com/fw.bin","retrieveDate":"2026-01-02T03:04:05Z"}`,
			[]string{`"location":"ftp://fw:[redacted]@files.example.com/fw.bin"`}},
		{"2.0.1 GetLog remote location", `{"logType":"DiagnosticsLog","requestId":1,"log":{"remoteLocation":"https://up:` + secret + `@logs.example/in?x=1"}}`,
			[]string{`"remoteLocation":"https://up:[redacted]@logs.example/in?x=1"`}},
		{"variable spelt with JSON escapes", `{"setVariableData":[{"component":{"name":"SecurityCtrlr"},"variable":{"name":"BasicAuthPass\u0077ord"},"attributeValue":"` + secret + `"}]}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := redact.JSON([]byte(tc.doc))
			if !changed || strings.Contains(string(got), secret) || !strings.Contains(string(got), redact.Marker) {
				t.Fatalf("got %s (changed %v)", got, changed)
			}
			if strings.Contains(tc.doc, "simPin") && strings.Contains(string(got), "1234") {
				t.Errorf("SIM PIN kept: %s", got)
			}
			for _, k := range tc.keep {
				if !strings.Contains(string(got), k) {
					t.Errorf("%s lost: %s", k, got)
				}
			}
			if again, changed := redact.JSON(got); changed || string(again) != string(got) {
				t.Errorf("redacting twice changed it: %s", again)
			}
		})
	}

	// Nothing secret: the very same bytes, not re-encoded.
	for _, doc := range []string{
		`{"key":"HeartbeatInterval", "value":"60"}`,
		`{"setVariableData":[{"component":{"name":"SecurityCtrlr"},"variable":{"name":"SecurityProfile"},"attributeValue":"2"}]}`,
		`{"idTag":"<&>"}`,
		`{"vendorId":"x","data":"{\"user\":\"u\",\"passwordHint\"}"}`, // not JSON: kept
		`{"vendorId":"x","data":"{\"n\":1,\"note\":\"no password here\"}"}`,
		`not json but a password`,
		`{"location":"https://files.example.com/fw.bin?owner=a@b"}`, // no password
		`{"location":"ftp://user@files.example.com/fw.bin"}`,
		`{"remoteLocation":"https://logs.example/in","note":"mail a@b"}`,
		``,
	} {
		if got, changed := redact.JSON([]byte(doc)); changed || string(got) != doc {
			t.Errorf("%q became %q (changed %v)", doc, got, changed)
		}
	}
}

func TestStationPassword(t *testing.T) {
	if !redact.StationPasswordKey("AuthorizationKey") || !redact.StationPasswordKey("authorizationkey") || redact.StationPasswordKey("AuthorizeRemoteTxRequests") {
		t.Error("StationPasswordKey")
	}
	for key, want := range map[string]bool{"AuthorizationKey": true, "authorizationkey": true, "WifiPassword": true, "MqttClientSecret": true,
		"SimPin": true, "HeartbeatInterval": false, "AuthorizeRemoteTxRequests": false} {
		if got := redact.SecretConfigurationKey(key); got != want {
			t.Errorf("SecretConfigurationKey(%q) = %v", key, got)
		}
	}
	if !redact.StationPasswordVariable("SecurityCtrlr", "BasicAuthPassword") || !redact.StationPasswordVariable("securityctrlr", "BASICAUTHPASSWORD") ||
		redact.StationPasswordVariable("OCPPCommCtrlr", "BasicAuthPassword") {
		t.Error("StationPasswordVariable")
	}
}

func TestProto(t *testing.T) {
	got, err := redact.Proto(&chargeplanev1.CreateStationRequest{Id: "CP-1", Password: secret, Name: "Depot"})
	if err != nil || strings.Contains(string(got), secret) || !strings.Contains(string(got), `"password":"`+redact.Marker+`"`) ||
		!strings.Contains(string(got), `"name":"Depot"`) {
		t.Errorf("CreateStationRequest: %s %v", got, err)
	}
	got, err = redact.Proto(&chargeplanev1.ChangeConfigurationRequest{StationId: "CP-1", Key: "AuthorizationKey", Value: secret})
	if err != nil || strings.Contains(string(got), secret) || !strings.Contains(string(got), `"station_id":"CP-1"`) {
		t.Errorf("ChangeConfigurationRequest: %s %v", got, err)
	}
}

// What the history and the message log keep of a frame: the secret gone,
// the rest of the frame intact; nothing re-encoded when nothing is secret.
func TestFrame(t *testing.T) {
	for _, tc := range []struct {
		raw    string
		secret string // must be gone; "" = frame kept as is
	}{
		{`[2,"m1","ChangeConfiguration",{"key":"AuthorizationKey","value":"4F43415F4F4354545F61646D696E5F74657374"}]`, "4F43415F"},
		{`[2,"m1","ChangeConfiguration",{"key":"HeartbeatInterval","value":"60"}]`, ""},
		{`[2,"m1","SetVariables",{"setVariableData":[{"component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"},"attributeValue":"60"},` +
			`{"component":{"name":"SecurityCtrlr"},"variable":{"name":"BasicAuthPassword"},"attributeValue":"s3cret-password-42"}]}]`, "s3cret-password-42"},
		// A 1.6 charger that reports its AuthorizationKey (it should not).
		{`[3,"m2",{"configurationKey":[{"key":"AuthorizationKey","readonly":false,"value":"0011AABB"},{"key":"HeartbeatInterval","readonly":false,"value":"300"}]}]`, "0011AABB"},
		{`[4,"m3","GenericError","password wrong",{}]`, ""},
	} {
		f, err := ocppj.Parse([]byte(tc.raw))
		if err != nil {
			t.Fatal(err)
		}
		payload, frame := redact.Frame(f, []byte(tc.raw))
		if tc.secret == "" {
			if string(frame) != tc.raw || string(payload) != string(f.Payload) {
				t.Errorf("%s changed: %s", tc.raw, frame)
			}
			continue
		}
		for _, got := range []string{string(payload), string(frame)} {
			if strings.Contains(got, tc.secret) || !strings.Contains(got, redact.Marker) {
				t.Errorf("kept %s", got)
			}
		}
		g, err := ocppj.Parse(frame)
		if err != nil || g.Type != f.Type || g.ID != f.ID || g.Action != f.Action {
			t.Errorf("recorded frame %s: %+v %v", frame, g, err)
		}
	}
}

// The customer information messages are recorded without what names the
// customer or what the station reports of them; the rest of the message,
// and the same fields in other actions, stay.
func TestPayload(t *testing.T) {
	for _, tc := range []struct {
		action, doc string
		gone, keep  []string
	}{
		{"CustomerInformation", `{"idToken":{"idToken":"AB12CD","type":"ISO14443"},"requestId":21,"report":true,"clear":false}`,
			[]string{"AB12CD"}, []string{`"requestId":21`, `"report":true`, `"idToken":"[redacted]"`}},
		{"CustomerInformation", `{"customerIdentifier":"cust-9","requestId":22,"report":false,"clear":true}`,
			[]string{"cust-9"}, []string{`"clear":true`}},
		{"CustomerInformation", `{"customerCertificate":{"hashAlgorithm":"SHA256","issuerNameHash":"aa11","issuerKeyHash":"bb22","serialNumber":"cc33"},"requestId":23,"report":true,"clear":false}`,
			[]string{"aa11", "bb22", "cc33"}, []string{`"requestId":23`}},
		{"NotifyCustomerInformation", `{"requestId":21,"seqNo":0,"tbc":true,"generatedAt":"2025-03-04T05:00:00Z","data":"token AB12CD; 2 sessions"}`,
			[]string{"AB12CD", "sessions"}, []string{`"seqNo":0`, `"tbc":true`, `"generatedAt":"2025-03-04T05:00:00Z"`}},
		// Secrets still go, whatever the action.
		{"NotifyCustomerInformation", `{"requestId":1,"seqNo":0,"generatedAt":"2025-03-04T05:00:00Z","data":"x","password":"` + secret + `"}`,
			[]string{secret}, []string{`"requestId":1`}},
	} {
		got, changed := redact.Payload(tc.action, []byte(tc.doc))
		if !changed {
			t.Errorf("%s %s unchanged", tc.action, tc.doc)
		}
		for _, g := range tc.gone {
			if strings.Contains(string(got), g) {
				t.Errorf("%s kept %q: %s", tc.action, g, got)
			}
		}
		for _, k := range tc.keep {
			if !strings.Contains(string(got), k) {
				t.Errorf("%s lost %q: %s", tc.action, k, got)
			}
		}
	}
	// Personal data is the customer information actions' rule only.
	for _, c := range [][2]string{
		{"Authorize", `{"idToken":{"idToken":"AB12CD","type":"ISO14443"}}`},
		{"DataTransfer", `{"vendorId":"x","data":"AB12CD"}`},
	} {
		if got, changed := redact.Payload(c[0], []byte(c[1])); changed || string(got) != c[1] {
			t.Errorf("%s became %s", c[0], got)
		}
	}
	f, err := ocppj.Parse([]byte(`[2,"m1","CustomerInformation",{"customerIdentifier":"cust-9","requestId":22,"report":true,"clear":false}]`))
	if err != nil {
		t.Fatal(err)
	}
	if p, frame := redact.Frame(f, nil); strings.Contains(string(p), "cust-9") || !strings.HasPrefix(string(frame), `[2,"m1","CustomerInformation",{`) ||
		strings.Contains(string(frame), "cust-9") {
		t.Errorf("frame recorded as %s (payload %s)", frame, p)
	}
}
