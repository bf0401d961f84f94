package schema

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func registry(t testing.TB) *Registry {
	t.Helper()
	r, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return r
}

func TestLoadCompilesEverySchemaOnce(t *testing.T) {
	r := registry(t)
	if r2 := registry(t); r2 != r {
		t.Error("Load compiled the schemas a second time")
	}
	names, _ := fs.Glob(files, "*/*.json")
	if len(names) != 2*(39+64) {
		t.Errorf("embedded %d schema files, want %d", len(names), 2*(39+64))
	}
	for _, v := range []ocppj.Version{ocppj.V16, ocppj.V201} {
		for name, a := range r.versions[v].actions {
			if a.request == nil || a.response == nil {
				t.Errorf("%s %s: schema not compiled", v, name)
			}
		}
	}
}

// The files must be the OCA's, byte for byte: SHA256SUMS was made from the
// npm tarball whose integrity PROVENANCE.md records.
func TestSchemasUnmodified(t *testing.T) {
	f, err := os.Open("SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("bad SHA256SUMS line %q", sc.Text())
		}
		b, err := files.ReadFile(name)
		if err != nil {
			t.Errorf("%s listed but not embedded: %v", name, err)
			continue
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s differs from the published file", name)
		}
		listed[name] = true
	}
	names, _ := fs.Glob(files, "*/*.json")
	for _, n := range names {
		if !listed[n] {
			t.Errorf("%s embedded but not in SHA256SUMS", n)
		}
	}
}

func TestV201SchemasAreFinal(t *testing.T) {
	names, _ := fs.Glob(files, "v201/*.json")
	for _, n := range names {
		b, _ := files.ReadFile(n)
		var head struct {
			Schema  string `json:"$schema"`
			ID      string `json:"$id"`
			Comment string `json:"$comment"`
		}
		if err := json.Unmarshal(b, &head); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if head.Comment != "OCPP 2.0.1 FINAL" {
			t.Errorf("%s: $comment = %q, want OCPP 2.0.1 FINAL", n, head.Comment)
		}
		want := "urn:OCPP:Cp:2:2020:3:" + strings.TrimSuffix(path.Base(n), ".json")
		if head.ID != want || head.Schema != "http://json-schema.org/draft-06/schema#" {
			t.Errorf("%s: $id %q $schema %q", n, head.ID, head.Schema)
		}
	}
}

// Every action the specs define has both schemas, every schema belongs to an
// action with a known direction, and only DataTransfer goes both ways.
func TestActionSetsComplete(t *testing.T) {
	r := registry(t)
	for _, tc := range []struct {
		v     ocppj.Version
		count int
	}{{ocppj.V16, 39}, {ocppj.V201, 64}} {
		d := directions[tc.v]
		union := map[string]bool{}
		for _, a := range append(slices.Clone(d.charger), d.csms...) {
			union[a] = true
		}
		var both []string
		for _, a := range d.charger {
			if slices.Contains(d.csms, a) {
				both = append(both, a)
			}
		}
		if !slices.Equal(both, []string{"DataTransfer"}) {
			t.Errorf("%s: actions in both directions: %v, want [DataTransfer]", tc.v, both)
		}
		got := r.Actions(tc.v)
		if len(got) != tc.count || len(union) != tc.count {
			t.Errorf("%s: %d embedded actions, %d with a direction, want %d", tc.v, len(got), len(union), tc.count)
		}
		for _, a := range got {
			if !union[a] {
				t.Errorf("%s: schema for %s but no direction", tc.v, a)
			}
		}
		for a := range union {
			if _, err := r.lookup(tc.v, a); err != nil {
				t.Errorf("%s: %s has a direction but no schema", tc.v, a)
			}
		}
	}
	for _, c := range []struct {
		v             ocppj.Version
		action        string
		charger, csms bool
	}{
		{ocppj.V16, "BootNotification", true, false},
		{ocppj.V16, "SignCertificate", true, false},
		{ocppj.V16, "RemoteStartTransaction", false, true},
		{ocppj.V16, "ExtendedTriggerMessage", false, true},
		{ocppj.V16, "DataTransfer", true, true},
		{ocppj.V16, "TransactionEvent", false, false},
		{ocppj.V201, "TransactionEvent", true, false},
		{ocppj.V201, "NotifyReport", true, false},
		{ocppj.V201, "GetBaseReport", false, true},
		{ocppj.V201, "RequestStartTransaction", false, true},
		{ocppj.V201, "DataTransfer", true, true},
		{ocppj.V201, "StartTransaction", false, false},
		{0, "Heartbeat", false, false},
	} {
		if got := r.IsChargerAction(c.v, c.action); got != c.charger {
			t.Errorf("IsChargerAction(%s, %s) = %v", c.v, c.action, got)
		}
		if got := r.IsCSMSAction(c.v, c.action); got != c.csms {
			t.Errorf("IsCSMSAction(%s, %s) = %v", c.v, c.action, got)
		}
	}
}

func TestValidate(t *testing.T) {
	r := registry(t)
	const (
		ok  = ocppj.ErrorCode("")
		occ = ocppj.CodeOccurenceConstraintViolation
		typ = ocppj.CodeTypeConstraintViolation
		prp = ocppj.CodePropertyConstraintViolation
	)
	tests := []struct {
		name     string
		v        ocppj.Version
		response bool
		action   string
		payload  string
		code     ocppj.ErrorCode
		pointer  string
	}{
		// 1.6
		{"16 boot ok", ocppj.V16, false, "BootNotification", `{"chargePointVendor":"VendorX","chargePointModel":"M1"}`, ok, ""},
		{"16 boot missing model", ocppj.V16, false, "BootNotification", `{"chargePointVendor":"VendorX"}`, occ, "/chargePointModel"},
		{"16 boot vendor too long", ocppj.V16, false, "BootNotification", `{"chargePointVendor":"` + strings.Repeat("v", 51) + `","chargePointModel":"M1"}`, prp, "/chargePointVendor"},
		{"16 boot vendor number", ocppj.V16, false, "BootNotification", `{"chargePointVendor":5,"chargePointModel":"M1"}`, typ, "/chargePointVendor"},
		{"16 boot unknown property", ocppj.V16, false, "BootNotification", `{"chargePointVendor":"V","chargePointModel":"M1","colour":"red"}`, prp, "/colour"},
		{"16 heartbeat ok", ocppj.V16, false, "Heartbeat", `{}`, ok, ""},
		{"16 heartbeat response ok", ocppj.V16, true, "Heartbeat", `{"currentTime":"2024-05-01T12:00:00.000Z"}`, ok, ""},
		{"16 heartbeat response bad date", ocppj.V16, true, "Heartbeat", `{"currentTime":"yesterday"}`, prp, "/currentTime"},
		{"16 meter values ok", ocppj.V16, false, "MeterValues", meterValues16, ok, ""},
		{"16 meter values bad unit", ocppj.V16, false, "MeterValues", `{"connectorId":1,"meterValue":[{"timestamp":"2024-05-01T12:00:00Z","sampledValue":[{"value":"1","unit":"Joule"}]}]}`, prp, "/meterValue/0/sampledValue/0/unit"},
		{"16 meter values missing value", ocppj.V16, false, "MeterValues", `{"connectorId":1,"meterValue":[{"timestamp":"2024-05-01T12:00:00Z","sampledValue":[{"unit":"Wh"}]}]}`, occ, "/meterValue/0/sampledValue/0/value"},
		{"16 meter values fractional connector", ocppj.V16, false, "MeterValues", `{"connectorId":1.5,"meterValue":[]}`, typ, "/connectorId"},
		{"16 status bad enum", ocppj.V16, false, "StatusNotification", `{"connectorId":1,"errorCode":"NoError","status":"Sleeping"}`, prp, "/status"},
		{"16 start transaction ok", ocppj.V16, false, "StartTransaction", `{"connectorId":1,"idTag":"ABC","meterStart":0,"timestamp":"2024-05-01T12:00:00Z"}`, ok, ""},
		{"16 start response ok", ocppj.V16, true, "StartTransaction", `{"transactionId":1,"idTagInfo":{"status":"Accepted"}}`, ok, ""},
		{"16 start response missing status", ocppj.V16, true, "StartTransaction", `{"transactionId":1,"idTagInfo":{}}`, occ, "/idTagInfo/status"},
		{"16 security event ok", ocppj.V16, false, "SecurityEventNotification", `{"type":"FirmwareUpdated","timestamp":"2024-05-01T12:00:00Z"}`, ok, ""},
		{"16 security event too long", ocppj.V16, false, "SecurityEventNotification", `{"type":"` + strings.Repeat("x", 51) + `","timestamp":"2024-05-01T12:00:00Z"}`, prp, "/type"},
		{"16 not json", ocppj.V16, false, "Heartbeat", `{`, ocppj.CodeFormationViolation, ""},
		{"16 not an object", ocppj.V16, false, "Heartbeat", `[]`, ocppj.CodeFormationViolation, ""},
		{"16 null", ocppj.V16, false, "Heartbeat", `null`, ocppj.CodeFormationViolation, ""},
		// 2.0.1
		{"201 boot ok", ocppj.V201, false, "BootNotification", `{"reason":"PowerUp","chargingStation":{"model":"M","vendorName":"V"}}`, ok, ""},
		{"201 boot missing reason", ocppj.V201, false, "BootNotification", `{"chargingStation":{"model":"M","vendorName":"V"}}`, occ, "/reason"},
		{"201 boot bad reason", ocppj.V201, false, "BootNotification", `{"reason":"Bored","chargingStation":{"model":"M","vendorName":"V"}}`, prp, "/reason"},
		{"201 boot customData allowed", ocppj.V201, false, "BootNotification", `{"reason":"PowerUp","chargingStation":{"model":"M","vendorName":"V","customData":{"vendorId":"x","extra":1}}}`, ok, ""},
		{"201 boot response ok", ocppj.V201, true, "BootNotification", `{"currentTime":"2024-05-01T12:00:00Z","interval":300,"status":"Accepted"}`, ok, ""},
		{"201 boot response interval string", ocppj.V201, true, "BootNotification", `{"currentTime":"2024-05-01T12:00:00Z","interval":"300","status":"Accepted"}`, typ, "/interval"},
		{"201 transaction event ok", ocppj.V201, false, "TransactionEvent", transactionEvent201, ok, ""},
		{"201 transaction event empty meter value", ocppj.V201, false, "TransactionEvent", `{"eventType":"Updated","timestamp":"2024-05-01T12:00:00Z","triggerReason":"MeterValuePeriodic","seqNo":1,"transactionInfo":{"transactionId":"t1"},"meterValue":[]}`, occ, "/meterValue"},
		{"201 transaction event bad timestamp", ocppj.V201, false, "TransactionEvent", `{"eventType":"Updated","timestamp":"2024-05-01 12:00","triggerReason":"MeterValuePeriodic","seqNo":1,"transactionInfo":{"transactionId":"t1"}}`, prp, "/timestamp"},
		{"201 transaction event seqNo string", ocppj.V201, false, "TransactionEvent", `{"eventType":"Updated","timestamp":"2024-05-01T12:00:00Z","triggerReason":"MeterValuePeriodic","seqNo":"1","transactionInfo":{"transactionId":"t1"}}`, typ, "/seqNo"},
		{"201 heartbeat extra", ocppj.V201, false, "Heartbeat", `{"x":1}`, prp, "/x"},
		{"201 not json", ocppj.V201, false, "Heartbeat", `nope`, ocppj.CodeFormatViolation, ""},
		{"201 string payload", ocppj.V201, false, "Heartbeat", `"{}"`, ocppj.CodeFormatViolation, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.response {
				err = r.ValidateResponse(tt.v, tt.action, []byte(tt.payload))
			} else {
				err = r.ValidateRequest(tt.v, tt.action, []byte(tt.payload))
			}
			if tt.code == ok {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v (%T), want *ValidationError", err, err)
			}
			if ve.Code != tt.code || ve.Pointer != tt.pointer {
				t.Errorf("got %s at %q, want %s at %q (%s)", ve.Code, ve.Pointer, tt.code, tt.pointer, ve.Description)
			}
			if ve.Description == "" || utf8.RuneCountInString(ve.Description) > 255 {
				t.Errorf("bad description %q", ve.Description)
			}
			if tt.pointer != "" && !strings.Contains(ve.Description, tt.pointer) {
				t.Errorf("description %q does not name %s", ve.Description, tt.pointer)
			}
		})
	}
}

func TestUnknownAction(t *testing.T) {
	r := registry(t)
	for _, c := range []struct {
		v      ocppj.Version
		action string
	}{{ocppj.V16, "TransactionEvent"}, {ocppj.V201, "StartTransaction"}, {ocppj.V201, ""}, {0, "Heartbeat"}} {
		if err := r.ValidateRequest(c.v, c.action, []byte(`{}`)); !errors.Is(err, ErrUnknownAction) {
			t.Errorf("ValidateRequest(%s, %q) = %v, want ErrUnknownAction", c.v, c.action, err)
		}
		if err := r.ValidateResponse(c.v, c.action, []byte(`{}`)); !errors.Is(err, ErrUnknownAction) {
			t.Errorf("ValidateResponse(%s, %q) = %v, want ErrUnknownAction", c.v, c.action, err)
		}
	}
}

// The same bad payload must always get the same answer, whatever order the
// validator happened to visit the properties in.
func TestDescriptionDeterministicAndShort(t *testing.T) {
	r := registry(t)
	bad := []byte(`{"chargePointVendor":` + `"` + strings.Repeat("v", 300) + `","chargePointModel":"` + strings.Repeat("m", 300) + `","a":1,"b":2,"c":3}`)
	var first string
	for range 50 {
		err := r.ValidateRequest(ocppj.V16, "BootNotification", bad)
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%v", err)
		}
		if utf8.RuneCountInString(ve.Description) > 255 {
			t.Fatalf("description too long: %d", len(ve.Description))
		}
		if first == "" {
			first = ve.Description
		} else if ve.Description != first {
			t.Fatalf("description changed: %q vs %q", ve.Description, first)
		}
	}
	if !strings.Contains(first, "more") {
		t.Errorf("description %q does not say there are more problems", first)
	}
}

func TestConcurrentValidation(t *testing.T) {
	r := registry(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if err := r.ValidateRequest(ocppj.V201, "TransactionEvent", []byte(transactionEvent201)); err != nil {
					t.Error(err)
					return
				}
				var ve *ValidationError
				if err := r.ValidateRequest(ocppj.V16, "MeterValues", []byte(`{"connectorId":"1","meterValue":[]}`)); !errors.As(err, &ve) || ve.Code != ocppj.CodeTypeConstraintViolation {
					t.Errorf("got %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNumberOutOfRange(t *testing.T) {
	r := registry(t)
	err := r.ValidateRequest(ocppj.V16, "MeterValues", []byte(`{"connectorId":1,"meterValue":[{"timestamp":"2024-05-01T12:00:00Z","sampledValue":[{"value":"1"}]}],"transactionId":99999999999999999999}`))
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Code != ocppj.CodePropertyConstraintViolation || ve.Pointer != "/transactionId" {
		t.Fatalf("got %v", err)
	}
	err = r.ValidateRequest(ocppj.V201, "TransactionEvent", []byte(strings.Replace(transactionEvent201, `"value":7200`, `"value":1e400`, 1)))
	if !errors.As(err, &ve) || ve.Pointer != "/meterValue/0/sampledValue/1/value" {
		t.Fatalf("got %v", err)
	}
}

// Deeply nested or huge input must neither panic nor be accepted.
func TestHostilePayloads(t *testing.T) {
	r := registry(t)
	deep := []byte(`{"a":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`)
	for _, p := range [][]byte{deep, []byte(`{"connectorId":1e999999,"meterValue":[]}`), []byte(`{"connectorId":123456789012345678901234567890,"meterValue":[]}`), []byte("{\"connectorId\":1,\"meterValue\":[],\"\xff\":1}"), nil, []byte(`{} {}`)} {
		if err := r.ValidateRequest(ocppj.V16, "MeterValues", p); err == nil {
			t.Errorf("accepted %.40q", p)
		}
	}
}

const meterValues16 = `{"connectorId":1,"transactionId":4711,"meterValue":[{"timestamp":"2024-05-01T12:00:00Z","sampledValue":[{"value":"12345.6","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"7200","measurand":"Power.Active.Import","unit":"W"},{"value":"32.1","measurand":"Current.Import","phase":"L1","unit":"A"}]}]}`

const transactionEvent201 = `{"eventType":"Updated","timestamp":"2024-05-01T12:00:00Z","triggerReason":"MeterValuePeriodic","seqNo":3,"transactionInfo":{"transactionId":"f9b1c2d3-0000-4a5b-8c9d-0e1f2a3b4c5d","chargingState":"Charging"},"evse":{"id":1,"connectorId":1},"idToken":{"idToken":"04A2B3C4D5E6F7","type":"ISO14443"},"meterValue":[{"timestamp":"2024-05-01T12:00:00Z","sampledValue":[{"value":12345.6,"context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}},{"value":7200,"measurand":"Power.Active.Import"},{"value":32.1,"measurand":"Current.Import","phase":"L1"}]}]}`

func BenchmarkValidateRequest(b *testing.B) {
	r := registry(b)
	for _, c := range []struct {
		name    string
		v       ocppj.Version
		action  string
		payload []byte
	}{
		{"v16/MeterValues", ocppj.V16, "MeterValues", []byte(meterValues16)},
		{"v201/TransactionEvent", ocppj.V201, "TransactionEvent", []byte(transactionEvent201)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.payload)))
			for b.Loop() {
				if err := r.ValidateRequest(c.v, c.action, c.payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
