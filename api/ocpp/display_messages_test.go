package ocpp

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/displaymessage"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// TestDisplayMessages: the display message commands go out schema-valid
// from their typed operations; an accepted SetDisplayMessage is held, a
// rejected one is not, a cleared one is forgotten, with the same effects
// through the generic call; a GetDisplayMessages report (two tbc parts)
// replaces the held messages its criteria cover once complete, and an
// Unknown answer forgets them.
func TestDisplayMessages(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			ctx := context.Background()
			if err := h.store.CreateStation(ctx, &store.Station{ID: "GENERIC"}); err != nil {
				t.Fatal(err)
			}
			c := &stationCaller{t: t, v: ocppj.V201, schemas: h.schemas, answers: map[string]string{
				"SetDisplayMessage":   `{"status":"Accepted"}`,
				"ClearDisplayMessage": `{"status":"Accepted"}`,
				"GetDisplayMessages":  `{"status":"Accepted"}`,
			}}
			s := tableSender(c, h.store)
			msgs := displaymessage.Messages{Store: h.store, Now: func() time.Time { return testNow }}
			held := func(station string) string {
				t.Helper()
				ms, err := msgs.Current(ctx, station)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, m := range ms {
					out = append(out, fmt.Sprintf("%d %s %s", m.MessageID, m.Priority, m.Source))
				}
				return fmt.Sprint(out)
			}
			set := func(id int32, priority, status string) {
				t.Helper()
				r, err := command.Do[command.Reply](ctx, s, stationID, "op", &chargeplanev1.SetDisplayMessageRequest{StationId: stationID,
					Message: &chargeplanev1.DisplayMessage{Id: id, Priority: priority, Format: "UTF8", Content: fmt.Sprintf("Hello %d", id),
						EndTime: timestamppb.New(testNow.Add(time.Hour))}})
				if err != nil {
					t.Fatalf("SetDisplayMessage %d: %v", id, err)
				}
				if _, err := s.Call(ctx, command.Request{StationID: "GENERIC", Action: "SetDisplayMessage", Payload: c.last()}); err != nil {
					t.Fatal(err)
				}
				if r.Status != status {
					t.Errorf("SetDisplayMessage %d answered %+v", id, r)
				}
			}
			set(1, "InFront", "Accepted")
			if got, want := string(c.last()), `{"message":{"id":1,"priority":"InFront","endDateTime":"2025-03-04T06:06:07.89Z",`+
				`"message":{"format":"UTF8","content":"Hello 1"}}}`; got != want {
				t.Errorf("SetDisplayMessage sent\n %s\nwant\n %s", got, want)
			}
			set(2, "NormalCycle", "Accepted")
			set(3, "InFront", "Accepted")
			c.answers["SetDisplayMessage"] = `{"status":"Rejected"}`
			set(4, "InFront", "Rejected")
			want := "[1 InFront set 2 NormalCycle set 3 InFront set]"
			if a, b := held(stationID), held("GENERIC"); a != want || b != want {
				t.Errorf("after Set\n typed:   %s\n generic: %s\n want:    %s", a, b, want)
			}

			r, err := command.Do[command.Reply](ctx, s, stationID, "op", &chargeplanev1.ClearDisplayMessageRequest{StationId: stationID, Id: 3})
			if err != nil || r.Status != "Accepted" {
				t.Fatalf("ClearDisplayMessage = %+v %v", r, err)
			}
			if _, err := s.Call(ctx, command.Request{StationID: "GENERIC", Action: "ClearDisplayMessage", Payload: c.last()}); err != nil {
				t.Fatal(err)
			}
			want = "[1 InFront set 2 NormalCycle set]"
			if a, b := held(stationID), held("GENERIC"); a != want || b != want {
				t.Errorf("after Clear\n typed:   %s\n generic: %s\n want:    %s", a, b, want)
			}

			// The station shows 5 (InFront) but no longer 1: a report for
			// InFront replaces 1 by 5 and leaves 2 (NormalCycle) alone.
			rr, err := command.Do[command.RequestReply](ctx, s, stationID, "op",
				&chargeplanev1.GetDisplayMessagesRequest{StationId: stationID, RequestId: 5, Priority: "InFront"})
			if err != nil || rr.Status != "Accepted" || rr.RequestID != 5 {
				t.Fatalf("GetDisplayMessages = %+v %v", rr, err)
			}
			if got := string(c.last()); got != `{"requestId":5,"priority":"InFront"}` {
				t.Errorf("GetDisplayMessages sent %s", got)
			}
			h.result(ocppj.V201, "NotifyDisplayMessages", h.call(ocppj.V201, "NotifyDisplayMessages",
				`{"requestId":5,"tbc":true,"messageInfo":[{"id":5,"priority":"InFront","message":{"format":"ASCII","content":"five"}}]}`), nil)
			if got := held(stationID); got != want {
				t.Errorf("after an incomplete report: %s, want %s", got, want)
			}
			h.result(ocppj.V201, "NotifyDisplayMessages", h.call(ocppj.V201, "NotifyDisplayMessages", `{"requestId":5}`), nil)
			if got, want := held(stationID), "[2 NormalCycle set 5 InFront reported]"; got != want {
				t.Errorf("after the report: %s, want %s", got, want)
			}

			// Unknown: the station shows none at all.
			c.answers["GetDisplayMessages"] = `{"status":"Unknown"}`
			if _, err := s.Call(ctx, command.Request{StationID: "GENERIC", Action: "GetDisplayMessages", Payload: json.RawMessage(`{"requestId":6}`)}); err != nil {
				t.Fatal(err)
			}
			if got := held("GENERIC"); got != "[]" {
				t.Errorf("after Unknown to every message: %s", got)
			}
		})
	}
}
