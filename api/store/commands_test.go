package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
	"github.com/chargeplane/chargeplane/pkg/outcome"
)

func TestCommandLifecycle(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		mustCreateStation(t, s, "CP2")
		var ids []string
		for i := range 5 {
			c := &Command{
				ID: fmt.Sprintf("m%d", i), StationID: "CP1", OCPPVersion: ocppj.V16, Action: "Reset",
				Payload: `{"type":"Soft"}`, RequestedBy: "op@example.com", CoreID: "core-a",
				CreatedAt: clk.Add(time.Second), ExpiresAt: clk.Now().Add(30 * time.Second),
			}
			if err := s.CreateCommand(ctx, c); err != nil {
				t.Fatal(err)
			}
			if c.Seq == 0 || c.Status != outcome.Pending {
				t.Fatalf("created %+v", c)
			}
			ids = append(ids, c.ID)
		}
		dup := &Command{ID: "m0", StationID: "CP1", OCPPVersion: ocppj.V16, Action: "Reset", Payload: "{}", CoreID: "x", ExpiresAt: clk.Now()}
		if err := s.CreateCommand(ctx, dup); !errors.Is(err, ErrAlreadyExists) {
			t.Fatalf("reused message id: %v", err)
		}

		resp := `{"status":"Accepted"}`
		ok, err := s.FinishCommand(ctx, "m0", CommandOutcome{Status: outcome.Answered, Response: &resp, At: clk.Add(time.Second)})
		if err != nil || !ok {
			t.Fatalf("finish: %v %v", ok, err)
		}
		// The first outcome stays.
		if ok, err := s.FinishCommand(ctx, "m0", CommandOutcome{Status: outcome.Timeout}); err != nil || ok {
			t.Fatalf("second outcome applied: %v %v", ok, err)
		}
		if _, err := s.FinishCommand(ctx, "m1", CommandOutcome{Status: outcome.ChargerError, ErrorCode: "NotSupported", ErrorDescription: "no"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetCommand(ctx, "m0")
		if err != nil || got.Status != outcome.Answered || got.Response == nil || *got.Response != resp || got.FinishedAt == nil ||
			got.RequestedBy != "op@example.com" || got.Payload != `{"type":"Soft"}` {
			t.Fatalf("m0 = %+v, %v", got, err)
		}

		// Newest first, keyset paging.
		page, total, err := s.ListCommands(ctx, "CP1", SeqPage{Limit: 2})
		if err != nil || total != 5 || len(page) != 2 || page[0].ID != "m4" || page[1].ID != "m3" {
			t.Fatalf("page 1: %v %d %v", page, total, err)
		}
		page, _, err = s.ListCommands(ctx, "CP1", SeqPage{Limit: 10, Before: page[1].Seq})
		if err != nil || len(page) != 3 || page[0].ID != "m2" || page[2].ID != "m0" || page[1].ErrorCode != "NotSupported" {
			t.Fatalf("page 2: %v %v", page, err)
		}
		if page, total, _ := s.ListCommands(ctx, "CP2", SeqPage{}); len(page) != 0 || total != 0 {
			t.Fatalf("CP2 has %v", page)
		}

		// Pending commands whose callers gave up long ago are failed; the
		// others stay pending.
		late := &Command{ID: "late", StationID: "CP2", OCPPVersion: ocppj.V201, Action: "ClearCache", Payload: "{}", CoreID: "core-a",
			ExpiresAt: clk.Now().Add(time.Hour)}
		if err := s.CreateCommand(ctx, late); err != nil {
			t.Fatal(err)
		}
		n, err := s.FailStaleCommands(ctx, clk.Now().Add(time.Minute), "core restarted")
		if err != nil || n != 3 { // m2, m3, m4
			t.Fatalf("swept %d, %v", n, err)
		}
		for _, id := range ids[2:] {
			c, _ := s.GetCommand(ctx, id)
			if c.Status != outcome.Failed || c.ErrorDescription != "core restarted" || c.FinishedAt == nil {
				t.Fatalf("%s = %+v", id, c)
			}
		}
		if c, _ := s.GetCommand(ctx, "late"); c.Status != outcome.Pending {
			t.Fatalf("late swept: %+v", c)
		}
		if c, _ := s.GetCommand(ctx, "m0"); c.Status != outcome.Answered {
			t.Fatalf("answered command swept: %+v", c)
		}
	})
}

func TestMessageLogBounded(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		mustCreateStation(t, s, "CP2")
		msg := func(st string, i int) StationMessage {
			return StationMessage{StationID: st, At: clk.Add(time.Millisecond), Direction: DirectionIn, MessageType: MessageCall,
				MessageID: fmt.Sprint(i), Action: "Heartbeat", ConnectionID: "c", Frame: fmt.Sprintf(`[2,"%d","Heartbeat",{}]`, i)}
		}
		var batch []StationMessage
		for i := range 8 {
			batch = append(batch, msg("CP1", i), msg("CP2", i))
		}
		if err := s.AppendMessages(ctx, batch, MessageBound{Keep: 5}); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendMessages(ctx, []StationMessage{msg("CP1", 8)}, MessageBound{Keep: 5}); err != nil {
			t.Fatal(err)
		}
		got, err := s.ListMessages(ctx, "CP1", SeqPage{Limit: 100})
		if err != nil || len(got) != 5 || got[0].MessageID != "8" || got[4].MessageID != "4" {
			t.Fatalf("CP1 log: %v %v", got, err)
		}
		if got[0].Frame != `[2,"8","Heartbeat",{}]` || got[0].Direction != DirectionIn || got[0].At.IsZero() {
			t.Fatalf("entry: %+v", got[0])
		}
		page, _ := s.ListMessages(ctx, "CP1", SeqPage{Limit: 2, Before: got[1].ID})
		if len(page) != 2 || page[0].MessageID != "6" {
			t.Fatalf("page: %v", page)
		}
		if got, _ := s.ListMessages(ctx, "CP2", SeqPage{}); len(got) != 5 || got[0].MessageID != "7" {
			t.Fatalf("CP2 log: %v", got)
		}
	})
}

// A station's log is bounded in bytes as well as in messages, frames
// counted in bytes (not characters), the newest message always kept; a big
// frame is stored cut.
func TestMessageLogBoundedInBytes(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		msg := func(i, size int) StationMessage {
			// "é" is two bytes: a bound in characters would keep more.
			return StationMessage{StationID: "CP1", At: clk.Add(time.Millisecond), Direction: DirectionIn, MessageType: MessageCall,
				MessageID: fmt.Sprint(i), Frame: strings.Repeat("é", size/2)}
		}
		for i := range 10 {
			if err := s.AppendMessages(ctx, []StationMessage{msg(i, 1000)}, MessageBound{Keep: 100, Bytes: 3500}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ListMessages(ctx, "CP1", SeqPage{Limit: 100})
		if err != nil || len(got) != 3 || got[0].MessageID != "9" || got[2].MessageID != "7" {
			t.Fatalf("log bounded to 3500 bytes of 1000-byte frames: %d messages %v", len(got), err)
		}
		// A newest frame bigger than the bound alone is still kept.
		if err := s.AppendMessages(ctx, []StationMessage{msg(10, 5000)}, MessageBound{Keep: 100, Bytes: 3500}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.ListMessages(ctx, "CP1", SeqPage{}); len(got) != 1 || got[0].MessageID != "10" {
			t.Fatalf("after a frame bigger than the bound: %d messages", len(got))
		}

		l := s.NewMessageLogger(MessageLoggerConfig{Keep: 10, MaxFrame: 1024})
		big := `[2,"big","DataTransfer",{"data":"` + strings.Repeat("ü", 3000) + `"}]`
		l.Log(StationMessage{StationID: "CP1", At: clk.Now(), Direction: DirectionIn, MessageType: MessageCall, MessageID: "big", Frame: big})
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		got, _ = s.ListMessages(ctx, "CP1", SeqPage{Limit: 1})
		want := fmt.Sprintf("…(truncated, %d bytes)", len(big))
		if len(got) != 1 || !strings.HasSuffix(got[0].Frame, want) || len(got[0].Frame) > 1024+len(want) ||
			!utf8.ValidString(got[0].Frame) || !strings.HasPrefix(big, strings.TrimSuffix(got[0].Frame, want)) {
			t.Fatalf("stored frame of %d bytes: %.60q…", len(got[0].Frame), got[0].Frame)
		}
	})
}

func TestMessageLoggerWritesAndDropsUnknownStations(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		mustCreateStation(t, s, "CP1")
		l := s.NewMessageLogger(MessageLoggerConfig{Keep: 3})
		for i := range 6 {
			l.Log(StationMessage{StationID: "CP1", At: clk.Now(), Direction: DirectionOut, MessageType: MessageCall, Frame: fmt.Sprint(i)})
			// A station that does not exist must not lose the others' entries.
			l.Log(StationMessage{StationID: "GONE", At: clk.Now(), Direction: DirectionOut, MessageType: MessageCall, Frame: "x"})
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l.Log(StationMessage{StationID: "CP1", Frame: "after close"}) // ignored, no panic
		got, err := s.ListMessages(context.Background(), "CP1", SeqPage{})
		if err != nil || len(got) != 3 || got[0].Frame != "5" || got[2].Frame != "3" {
			t.Fatalf("log: %v %v", got, err)
		}
	})
}

// TestCommandsSince: a station's commands of the given actions, pending or
// answered, answered (or, pending, sent) since the time asked, newest
// first and at most limit: what the router reads for a Pending station's
// triggered messages.
func TestCommandsSince(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		mustCreateStation(t, s, "CP2")
		start := clk.Now()
		n := 0
		add := func(station, action string, at time.Time, o *CommandOutcome) {
			t.Helper()
			n++
			c := &Command{ID: fmt.Sprintf("c%d", n), StationID: station, OCPPVersion: ocppj.V201, Action: action,
				Payload: `{"requestedMessage":"StatusNotification"}`, CoreID: "core-a", CreatedAt: at, ExpiresAt: at.Add(time.Minute)}
			if err := s.CreateCommand(ctx, c); err != nil {
				t.Fatal(err)
			}
			if o != nil {
				if _, err := s.FinishCommand(ctx, c.ID, *o); err != nil {
					t.Fatal(err)
				}
			}
		}
		resp := `{"status":"Accepted"}`
		answered := func(at time.Time) *CommandOutcome {
			return &CommandOutcome{Status: outcome.Answered, Response: &resp, At: at}
		}
		add("CP1", "TriggerMessage", start.Add(-time.Hour), answered(start.Add(-time.Hour)))           // c1: too old
		add("CP1", "TriggerMessage", start.Add(-time.Minute), answered(start.Add(time.Second)))        // c2: sent before, answered after since
		add("CP1", "TriggerMessage", start.Add(time.Second), &CommandOutcome{Status: outcome.Timeout}) // c3: no answer
		add("CP1", "Reset", start.Add(2*time.Second), answered(start.Add(2*time.Second)))              // c4: another action
		add("CP2", "TriggerMessage", start.Add(3*time.Second), answered(start.Add(3*time.Second)))     // c5: another station
		add("CP1", "ExtendedTriggerMessage", start.Add(4*time.Second), nil)                            // c6: pending
		add("CP1", "TriggerMessage", start.Add(5*time.Second), answered(start.Add(5*time.Second)))     // c7
		ids := func(cs []Command) []string {
			var out []string
			for _, c := range cs {
				out = append(out, c.ID)
			}
			return out
		}
		got, err := s.CommandsSince(ctx, "CP1", []string{"TriggerMessage", "ExtendedTriggerMessage"}, start, 20)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ids(got)) != "[c7 c6 c2]" {
			t.Fatalf("CommandsSince = %v, want [c7 c6 c2]", ids(got))
		}
		if got[0].Response == nil || *got[0].Response != resp || got[0].FinishedAt == nil || got[1].Status != outcome.Pending {
			t.Fatalf("rows = %+v", got)
		}
		if got, err := s.CommandsSince(ctx, "CP1", []string{"TriggerMessage", "ExtendedTriggerMessage"}, start, 2); err != nil || fmt.Sprint(ids(got)) != "[c7 c6]" {
			t.Fatalf("limit 2 = %v, %v", ids(got), err)
		}
	})
}
