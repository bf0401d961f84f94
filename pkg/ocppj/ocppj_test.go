package ocppj

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Frame
	}{
		{"call", `[2,"19223201","BootNotification",{"chargePointVendor":"VendorX","chargePointModel":"SingleSocketCharger"}]`,
			Frame{Type: Call, ID: "19223201", Action: "BootNotification", Payload: json.RawMessage(`{"chargePointVendor":"VendorX","chargePointModel":"SingleSocketCharger"}`)}},
		{"call with whitespace", " [ 2 , \"a\" ,\n\"Heartbeat\" , { } ] ",
			Frame{Type: Call, ID: "a", Action: "Heartbeat", Payload: json.RawMessage(`{ }`)}},
		{"call id of 36 chars", `[2,"123456789012345678901234567890123456","Heartbeat",{}]`,
			Frame{Type: Call, ID: "123456789012345678901234567890123456", Action: "Heartbeat", Payload: json.RawMessage(`{}`)}},
		{"escaped id", `[2,"a\"b\u00e9","Heartbeat",{}]`,
			Frame{Type: Call, ID: "a\"bé", Action: "Heartbeat", Payload: json.RawMessage(`{}`)}},
		{"call result", `[3,"19223201",{"status":"Accepted","currentTime":"2013-02-01T20:53:32.486Z","interval":300}]`,
			Frame{Type: CallResult, ID: "19223201", Payload: json.RawMessage(`{"status":"Accepted","currentTime":"2013-02-01T20:53:32.486Z","interval":300}`)}},
		{"call error", `[4,"162376037","NotSupported","SetDisplayMessageRequest not implemented",{}]`,
			Frame{Type: CallError, ID: "162376037", ErrorCode: CodeNotSupported, ErrorDescription: "SetDisplayMessageRequest not implemented", ErrorDetails: json.RawMessage(`{}`)}},
		{"call error with details", `[4,"1","GenericError","",{"reason":"x"}]`,
			Frame{Type: CallError, ID: "1", ErrorCode: CodeGenericError, ErrorDetails: json.RawMessage(`{"reason":"x"}`)}},
		{"call error without details", `[4,"1","InternalError","boom"]`,
			Frame{Type: CallError, ID: "1", ErrorCode: CodeInternalError, ErrorDescription: "boom", ErrorDetails: json.RawMessage(`{}`)}},
		{"call error with null details", `[4,"1","InternalError","boom",null]`,
			Frame{Type: CallError, ID: "1", ErrorCode: CodeInternalError, ErrorDescription: "boom", ErrorDetails: json.RawMessage(`{}`)}},
		{"2.1 spelling inbound", `[4,"1","OccurrenceConstraintViolation","",{}]`,
			Frame{Type: CallError, ID: "1", ErrorCode: CodeOccurrenceConstraintViolation, ErrorDetails: json.RawMessage(`{}`)}},
		{"message type 2.0", `[2.0,"1","Heartbeat",{}]`,
			Frame{Type: Call, ID: "1", Action: "Heartbeat", Payload: json.RawMessage(`{}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse(%s): %v", tt.in, err)
			}
			if got.Type != tt.want.Type || got.ID != tt.want.ID || got.Action != tt.want.Action ||
				got.ErrorCode != tt.want.ErrorCode || got.ErrorDescription != tt.want.ErrorDescription {
				t.Fatalf("Parse(%s) = %+v, want %+v", tt.in, got, tt.want)
			}
			if !bytes.Equal(got.Payload, tt.want.Payload) {
				t.Errorf("payload = %s, want %s", got.Payload, tt.want.Payload)
			}
			if !bytes.Equal(got.ErrorDetails, tt.want.ErrorDetails) {
				t.Errorf("details = %s, want %s", got.ErrorDetails, tt.want.ErrorDetails)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	long := strings.Repeat("x", 37)
	tests := []struct {
		name   string
		in     string
		id     string
		typ    MessageType
		kind   ParseErrorKind
		code16 ErrorCode // "" = not answered
		code20 ErrorCode
	}{
		{"empty input", ``, UnknownID, 0, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"not json", `hello`, UnknownID, 0, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"truncated", `[2,"abc","Heartbeat",{`, UnknownID, 0, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"null", `null`, UnknownID, 0, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"object", `{"a":1}`, UnknownID, 0, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"string", `"[2]"`, UnknownID, 0, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"empty array", `[]`, UnknownID, 0, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"type only", `[2]`, UnknownID, Call, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"call without action (MaEVe panic)", `[2,"x1"]`, "x1", Call, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"call without payload", `[2,"x1","Heartbeat"]`, "x1", Call, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"call with extra element", `[2,"x1","Heartbeat",{},{}]`, "x1", Call, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"call null payload", `[2,"x1","Heartbeat",null]`, "x1", Call, BadPayload, CodeFormationViolation, CodeFormatViolation},
		{"call array payload", `[2,"x1","Heartbeat",[]]`, "x1", Call, BadPayload, CodeFormationViolation, CodeFormatViolation},
		{"call string payload", `[2,"x1","Heartbeat","{}"]`, "x1", Call, BadPayload, CodeFormationViolation, CodeFormatViolation},
		{"call numeric action", `[2,"x1",5,{}]`, "x1", Call, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"call empty action", `[2,"x1","",{}]`, "x1", Call, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"numeric id", `[2,12,"Heartbeat",{}]`, UnknownID, Call, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"empty id", `[2,"","Heartbeat",{}]`, UnknownID, Call, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"id too long", `[2,"` + long + `","Heartbeat",{}]`, long, Call, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"type as string", `["2","x1","Heartbeat",{}]`, "x1", 0, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"type null", `[null,"x1","Heartbeat",{}]`, "x1", 0, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"unknown type", `[7,"x1","Heartbeat",{}]`, "x1", 7, UnknownType, "", CodeMessageTypeNotSupported},
		{"2.1 SEND", `[6,"x1","NotifyPeriodicEventStream",{}]`, "x1", 6, UnknownType, "", CodeMessageTypeNotSupported},
		{"unknown type no id", `[5]`, UnknownID, 5, UnknownType, "", CodeMessageTypeNotSupported},
		{"negative type", `[-1,"x1"]`, "x1", -1, UnknownType, "", CodeMessageTypeNotSupported},
		{"huge type", `[1e999,"x1"]`, "x1", 0, UnknownType, "", CodeMessageTypeNotSupported},
		{"huge integer type", `[123456789012345678901234567890,"x1"]`, "x1", 0, UnknownType, "", CodeMessageTypeNotSupported},
		{"fractional type", `[2.5,"x1","Heartbeat",{}]`, "x1", 0, UnknownType, "", CodeMessageTypeNotSupported},
		{"invalid utf8 in payload", "[2,\"x1\",\"Heartbeat\",{\"a\":\"\xff\"}]", "x1", Call, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"invalid utf8 in id", "[2,\"x\xff\",\"Heartbeat\",{}]", UnknownID, Call, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"result wrong count", `[3,"r1"]`, "r1", CallResult, NotRPC, "", ""},
		{"result null payload", `[3,"r1",null]`, "r1", CallResult, BadPayload, "", ""},
		{"result extra", `[3,"r1",{},{}]`, "r1", CallResult, NotRPC, "", ""},
		{"error too short", `[4,"e1","GenericError"]`, "e1", CallError, NotRPC, "", ""},
		{"error too long", `[4,"e1","GenericError","",{},1]`, "e1", CallError, NotRPC, "", ""},
		{"error numeric code", `[4,"e1",1,"",{}]`, "e1", CallError, NotRPC, "", ""},
		{"error null description", `[4,"e1","GenericError",null,{}]`, "e1", CallError, NotRPC, "", ""},
		{"error array details", `[4,"e1","GenericError","",[]]`, "e1", CallError, NotRPC, "", ""},
		{"trailing garbage", `[2,"x1","Heartbeat",{}]x`, UnknownID, 0, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
		{"two frames", `[2,"x1","Heartbeat",{}][2,"x2","Heartbeat",{}]`, UnknownID, 0, NotRPC, CodeFormationViolation, CodeRpcFrameworkError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", tt.in)
			}
			if !errors.Is(err, ErrParse) {
				t.Errorf("errors.Is(%v, ErrParse) = false", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *ParseError", err)
			}
			if pe.ID != tt.id || pe.Type != tt.typ || pe.Kind != tt.kind {
				t.Errorf("got id=%q type=%d kind=%d, want id=%q type=%d kind=%d (%s)", pe.ID, pe.Type, pe.Kind, tt.id, tt.typ, tt.kind, pe.Reason)
			}
			for _, c := range []struct {
				v    Version
				want ErrorCode
			}{{V16, tt.code16}, {V201, tt.code20}} {
				code, answer := pe.Answer(c.v)
				if answer != (c.want != "") || code != c.want {
					t.Errorf("Answer(%s) = %q, %v; want %q", c.v, code, answer, c.want)
				}
			}
			if pe.Error() == "" || pe.Reason == "" {
				t.Error("empty error text")
			}
		})
	}
}

func TestEncodeCall(t *testing.T) {
	type req struct {
		IDTag string `json:"idTag"`
		Note  string `json:"note,omitempty"`
	}
	tests := []struct {
		name    string
		id      string
		action  string
		payload any
		want    string
		wantErr error
	}{
		{"struct", "1", "Authorize", req{IDTag: "ABC"}, `[2,"1","Authorize",{"idTag":"ABC"}]`, nil},
		{"nil payload", "1", "Heartbeat", nil, `[2,"1","Heartbeat",{}]`, nil},
		{"nil pointer payload", "1", "Heartbeat", (*req)(nil), `[2,"1","Heartbeat",{}]`, nil},
		{"raw untouched", "1", "DataTransfer", json.RawMessage(`{ "b":1,  "a":2 }`), `[2,"1","DataTransfer",{ "b":1,  "a":2 }]`, nil},
		{"raw null", "1", "Heartbeat", json.RawMessage(`null`), `[2,"1","Heartbeat",{}]`, nil},
		{"map", "1", "Heartbeat", map[string]any{}, `[2,"1","Heartbeat",{}]`, nil},
		{"escaped id", "a\"b", "Heartbeat", nil, `[2,"a\"b","Heartbeat",{}]`, nil},
		{"array payload", "1", "Heartbeat", []int{1}, "", ErrNotObject},
		{"raw array", "1", "Heartbeat", json.RawMessage(`[1]`), "", ErrNotObject},
		{"raw invalid", "1", "Heartbeat", json.RawMessage(`{`), "", ErrNotObject},
		{"empty id", "", "Heartbeat", nil, "", ErrInvalidMessageID},
		{"long id", strings.Repeat("1", 37), "Heartbeat", nil, "", ErrInvalidMessageID},
		{"empty action", "1", "", nil, "", ErrInvalidAction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EncodeCall(tt.id, tt.action, tt.payload)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			f, err := Parse(got)
			if err != nil || f.Type != Call || f.ID != tt.id || f.Action != tt.action {
				t.Fatalf("re-parse: %+v, %v", f, err)
			}
		})
	}
}

func TestEncodeCallResult(t *testing.T) {
	got, err := EncodeCallResult("42", struct {
		Status string `json:"status"`
	}{"Accepted"})
	if err != nil || string(got) != `[3,"42",{"status":"Accepted"}]` {
		t.Fatalf("got %s, %v", got, err)
	}
	got, err = EncodeCallResult("42", nil)
	if err != nil || string(got) != `[3,"42",{}]` {
		t.Fatalf("nil payload: got %s, %v", got, err)
	}
	raw := json.RawMessage("{\n \"x\" : 1\n}")
	got, err = EncodeCallResult("42", raw)
	if err != nil || string(got) != "[3,\"42\","+string(raw)+"]" {
		t.Fatalf("raw payload: got %s, %v", got, err)
	}
	if _, err := EncodeCallResult("", nil); !errors.Is(err, ErrInvalidMessageID) {
		t.Errorf("empty id: %v", err)
	}
	if _, err := EncodeCallResult("1", "str"); !errors.Is(err, ErrNotObject) {
		t.Errorf("string payload: %v", err)
	}
	if _, err := EncodeCallResult("1", func() {}); err == nil {
		t.Error("unmarshalable payload accepted")
	}
}

func TestEncodeCallError(t *testing.T) {
	got, err := EncodeCallError(UnknownID, CodeRpcFrameworkError, "frame is not a JSON array", nil)
	if err != nil || string(got) != `[4,"-1","RpcFrameworkError","frame is not a JSON array",{}]` {
		t.Fatalf("got %s, %v", got, err)
	}
	got, err = EncodeCallError("7", CodeGenericError, "", map[string]string{"k": "v"})
	if err != nil || string(got) != `[4,"7","GenericError","",{"k":"v"}]` {
		t.Fatalf("details: got %s, %v", got, err)
	}

	// 300 two-byte characters: cut at 255 characters, never inside one.
	long := strings.Repeat("é", 300)
	got, err = EncodeCallError("7", CodeInternalError, long, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if f.ErrorDescription != strings.Repeat("é", 255) {
		t.Errorf("description has %d characters, want 255", len([]rune(f.ErrorDescription)))
	}
	exact := strings.Repeat("a", 255)
	got, _ = EncodeCallError("7", CodeInternalError, exact, nil)
	if f, _ := Parse(got); f.ErrorDescription != exact {
		t.Error("a 255-character description was changed")
	}

	// An over-long id is answered under that id.
	longID := strings.Repeat("i", 40)
	if _, err := EncodeCallError(longID, CodeRpcFrameworkError, "", nil); err != nil {
		t.Errorf("long id: %v", err)
	}
	if _, err := EncodeCallError("", CodeGenericError, "", nil); !errors.Is(err, ErrInvalidMessageID) {
		t.Errorf("empty id: %v", err)
	}
	if _, err := EncodeCallError("1", "", "", nil); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("empty code: %v", err)
	}
	if _, err := EncodeCallError("1", CodeGenericError, "", []string{}); !errors.Is(err, ErrNotObject) {
		t.Errorf("array details: %v", err)
	}
}

func TestFormatViolation(t *testing.T) {
	if got := FormatViolation(V16); got != "FormationViolation" {
		t.Errorf("1.6: %s", got)
	}
	if got := FormatViolation(V201); got != "FormatViolation" {
		t.Errorf("2.0.1: %s", got)
	}
	if CodeOccurenceConstraintViolation != "OccurenceConstraintViolation" || CodeOccurrenceConstraintViolation != "OccurrenceConstraintViolation" {
		t.Error("occurrence spellings")
	}
}

func TestVersion(t *testing.T) {
	for _, v := range []Version{V16, V201} {
		got, ok := ParseSubprotocol(v.Subprotocol())
		if !ok || got != v {
			t.Errorf("round trip of %s failed", v)
		}
	}
	if _, ok := ParseSubprotocol("ocpp2.0"); ok {
		t.Error("ocpp2.0 accepted")
	}
}

// A parsed frame's payload must not alias the caller's buffer, which the
// WebSocket reader reuses for the next message.
func TestParseDoesNotAliasInput(t *testing.T) {
	in := []byte(`[2,"1","Heartbeat",{"a":1}]`)
	f, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'z'
	}
	if string(f.Payload) != `{"a":1}` || f.ID != "1" || f.Action != "Heartbeat" {
		t.Fatalf("frame changed with the input: %+v", f)
	}
}

var meterValuesFrame = []byte(`[2,"c5a8f2e0-3b1d-4e7a-9b6f-1d2e3f4a5b6c","MeterValues",{"connectorId":1,"transactionId":4711,"meterValue":[{"timestamp":"2024-05-01T12:00:00Z","sampledValue":[{"value":"12345.6","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"7200","measurand":"Power.Active.Import","unit":"W"},{"value":"32.1","measurand":"Current.Import","phase":"L1","unit":"A"}]}]}]`)

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(meterValuesFrame)))
	for b.Loop() {
		if _, err := Parse(meterValuesFrame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeCallResult(b *testing.B) {
	type idTagInfo struct {
		Status     string `json:"status"`
		ExpiryDate string `json:"expiryDate,omitempty"`
	}
	type startTransactionConf struct {
		TransactionID int       `json:"transactionId"`
		IDTagInfo     idTagInfo `json:"idTagInfo"`
	}
	b.Run("struct", func(b *testing.B) {
		b.ReportAllocs()
		p := startTransactionConf{TransactionID: 4711, IDTagInfo: idTagInfo{Status: "Accepted"}}
		for b.Loop() {
			if _, err := EncodeCallResult("c5a8f2e0-3b1d-4e7a-9b6f-1d2e3f4a5b6c", p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		p := json.RawMessage(`{"transactionId":4711,"idTagInfo":{"status":"Accepted"}}`)
		for b.Loop() {
			if _, err := EncodeCallResult("c5a8f2e0-3b1d-4e7a-9b6f-1d2e3f4a5b6c", p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
