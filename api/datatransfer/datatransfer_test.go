package datatransfer

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

type memRecorder struct{ got []store.DataTransfer }

func (m *memRecorder) RecordDataTransfer(_ context.Context, d *store.DataTransfer) error {
	m.got = append(m.got, *d)
	return nil
}

// The answer follows the known vendors and messages; every answered
// message is stored with its status and data; a failing handler stores
// nothing (the station retries).
func TestReceive(t *testing.T) {
	reg := NewRegistry()
	reg.Accept("com.acme", "Ping")
	reg.Accept("org.example", "")
	reg.Register("com.acme", "Echo", func(_ context.Context, m Message) (Answer, error) {
		return Answer{Status: Rejected, Data: m.Data}, nil
	})
	reg.Accept("com.acme", "Echo") // the handler stays
	reg.Register("com.acme", "Fail", func(context.Context, Message) (Answer, error) { return Answer{}, errors.New("down") })
	reg.Register("com.acme", "Odd", func(context.Context, Message) (Answer, error) { return Answer{Status: "Maybe"}, nil })
	rec := &memRecorder{}
	rc := Receiver{Registry: reg, Store: rec}
	ctx := context.Background()
	for _, tc := range []struct {
		vendor, message, data string
		v                     ocppj.Version
		status, answerData    string
	}{
		{"com.acme", "Ping", `{"n":1}`, ocppj.V201, Accepted, ""},
		{"com.acme", "Pong", "", ocppj.V201, UnknownMessageID, ""},
		{"com.acme", "", "", ocppj.V16, UnknownMessageID, ""},
		{"org.example", "Anything", `"x"`, ocppj.V16, Accepted, ""},
		{"org.example", "", "", ocppj.V201, Accepted, ""},
		{"net.other", "Ping", `[1]`, ocppj.V201, UnknownVendorID, ""},
		{"com.acme", "Echo", `{"a":2}`, ocppj.V201, Rejected, `{"a":2}`},
	} {
		m := Message{StationID: "CS", Version: tc.v, VendorID: tc.vendor, MessageID: tc.message}
		if tc.data != "" {
			m.Data = json.RawMessage(tc.data)
		}
		a, err := rc.Receive(ctx, m)
		if err != nil || a.Status != tc.status || string(a.Data) != tc.answerData {
			t.Errorf("%s/%s: %+v %v, want %s %s", tc.vendor, tc.message, a, err, tc.status, tc.answerData)
		}
		last := rec.got[len(rec.got)-1]
		if last.VendorID != tc.vendor || last.MessageID != tc.message || last.Status != tc.status || last.Data != tc.data || last.OCPPVersion != tc.v {
			t.Errorf("%s/%s stored %+v", tc.vendor, tc.message, last)
		}
	}
	// What is stored (and listed to viewers) has no secret; the handler
	// got it as sent.
	a, err := rc.Receive(ctx, Message{StationID: "CS", Version: ocppj.V201, VendorID: "com.acme", MessageID: "Echo",
		Data: json.RawMessage(`{"user":"u","password":"p4ss-w0rd"}`)})
	if last := rec.got[len(rec.got)-1]; err != nil || last.Data != `{"password":"[redacted]","user":"u"}` || string(a.Data) != `{"user":"u","password":"p4ss-w0rd"}` {
		t.Errorf("secret data: stored %q, answered %s %v", last.Data, a.Data, err)
	}
	n := len(rec.got)
	for _, msg := range []string{"Fail", "Odd"} {
		if _, err := rc.Receive(ctx, Message{StationID: "CS", Version: ocppj.V201, VendorID: "com.acme", MessageID: msg}); err == nil {
			t.Errorf("%s: no error", msg)
		}
	}
	if _, err := rc.Receive(ctx, Message{StationID: "CS", Version: ocppj.V16, VendorID: "com.acme", MessageID: "Echo", Data: json.RawMessage(`{"a":1}`)}); err == nil {
		t.Error("1.6 data that is not a string was answered")
	}
	if len(rec.got) != n {
		t.Errorf("failed messages were stored: %+v", rec.got[n:])
	}
	if a, err := (Receiver{Store: rec}).Receive(ctx, Message{StationID: "CS", Version: ocppj.V16, VendorID: "com.acme"}); err != nil || a.Status != UnknownVendorID {
		t.Errorf("without a registry: %+v %v", a, err)
	}
}
