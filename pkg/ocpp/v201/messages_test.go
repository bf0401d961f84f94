package v201

import (
	"encoding/json"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema/schematest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestMessagesRoundTrip decodes an instance of every schema into its Go type
// and encodes it again: a field missing from a type, a wrong name or type,
// or an optional field that comes back as null or a zero value would change
// the JSON.
func TestMessagesRoundTrip(t *testing.T) {
	paths, err := filepath.Glob("../schema/v201/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no schemas in ../schema/v201 (%v)", err)
	}
	for _, p := range paths {
		base := strings.TrimSuffix(filepath.Base(p), ".json")
		for _, full := range []bool{false, true} {
			t.Run(base+map[bool]string{false: "/required", true: "/full"}[full], func(t *testing.T) {
				schema, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				in, err := schematest.Sample(schema, full)
				if err != nil {
					t.Fatal(err)
				}
				var msg any
				var ok bool
				if action, isResp := strings.CutSuffix(base, "Response"); isResp {
					msg, ok = NewResponse(action)
				} else {
					msg, ok = NewRequest(strings.TrimSuffix(base, "Request"))
				}
				if !ok {
					t.Fatalf("no Go type for %s", base)
				}
				dec := json.NewDecoder(strings.NewReader(string(in)))
				dec.DisallowUnknownFields()
				if err := dec.Decode(msg); err != nil {
					t.Fatalf("decode %s: %v", in, err)
				}
				out, err := json.Marshal(msg)
				if err != nil {
					t.Fatal(err)
				}
				var a, b any
				_ = json.Unmarshal(in, &a)
				_ = json.Unmarshal(out, &b)
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("round trip changed the message\n in: %s\nout: %s", in, out)
				}
			})
		}
	}
}

func TestOptionalFieldsOmitted(t *testing.T) {
	b, err := json.Marshal(TransactionEventResponse{})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "{}" {
		t.Fatalf("empty TransactionEventResponse = %s, want {}", b)
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	b, err = json.Marshal(BootNotificationResponse{Status: RegistrationStatusAccepted, CurrentTime: at, Interval: 300})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"currentTime":"2024-05-06T07:08:09Z","interval":300,"status":"Accepted"}`
	if string(b) != want {
		t.Fatalf("BootNotificationResponse = %s, want %s", b, want)
	}
}
