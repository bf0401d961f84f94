package command

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/bus"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
	"github.com/chargeplane/chargeplane/pkg/outcome"
)

// answeringBus is a gateway and charger in one: publishing a CALL hands
// the dispatcher the charger's answer at once, then runs then (a caller
// giving up, say), so the answer and the other event are both ready
// when Call starts waiting.
type answeringBus struct {
	bus.Bus // only PublishDownstream is used
	d       *Dispatcher
	then    func()
	fail    error // returned by PublishDownstream after the answer
}

func (b *answeringBus) PublishDownstream(ctx context.Context, env *busv1.Envelope) error {
	frame, err := ocppj.EncodeCallResult(env.GetMessageId(), json.RawMessage(`{"status":"Accepted"}`))
	if err != nil {
		return err
	}
	if err := b.d.HandleReply(ctx, &busv1.Envelope{Kind: busv1.Kind_KIND_FRAME, StationId: env.GetStationId(), Frame: frame}); err != nil {
		return err
	}
	b.then()
	return b.fail
}

// An answer that is there when the caller gives up or the broker reports
// a failed publish is the command's outcome: the charger did it, and the
// history must not say otherwise. Each case runs many times, since a
// select between two ready events picks at random. (A timeout takes the
// same path, abandon, but cannot be made ready at the same moment here.)
func TestAnswerThereWhenWaitEnds(t *testing.T) {
	ctx := context.Background()
	st := connectedStore(t, "CS1")
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		then func(cancel context.CancelFunc)
		fail error
	}{
		{"caller gives up", func(cancel context.CancelFunc) { cancel() }, nil},
		{"publish reported failed", func(context.CancelFunc) {}, errors.New("no confirm from the broker")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &answeringBus{fail: tc.fail}
			d := NewDispatcher(Deps{Store: st, Bus: b, Schemas: reg, CoreID: "core-1"})
			b.d = d
			for i := range 20 {
				callCtx, cancel := context.WithCancel(ctx)
				b.then = func() { tc.then(cancel) }
				res, err := d.Call(callCtx, Request{StationID: "CS1", Action: "ClearCache", Payload: json.RawMessage(`{}`)})
				cancel()
				if err != nil {
					t.Fatalf("call %d: %v, want the answer", i, err)
				}
				cmd, err := st.GetCommand(ctx, res.CommandID)
				if err != nil {
					t.Fatal(err)
				}
				if cmd.Status != outcome.Answered {
					t.Fatalf("call %d recorded %s (%s), want answered", i, cmd.Status, cmd.ErrorDescription)
				}
			}
			if n := len(d.waiters); n != 0 {
				t.Errorf("%d waiters left", n)
			}
		})
	}
}

// connectedStore is a SQLite store where each station is connected (1.6)
// on connection "conn-" + its id.
func connectedStore(t *testing.T, stations ...string) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range stations {
		if err := st.CreateStation(ctx, &store.Station{ID: id}); err != nil {
			t.Fatal(err)
		}
		ev := store.ConnectionEvent{StationID: id, GatewayID: "gw", ConnectionID: "conn-" + id, OCPPVersion: ocppj.V16}
		if _, err := st.RecordAdmission(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.MarkConnected(ctx, ev); err != nil || !ok {
			t.Fatalf("mark connected: %v %v", ok, err)
		}
	}
	return st
}

// queryHook runs during every CurrentConnections query, as a Call
// registering its waiter while the check reads the database would.
type queryHook struct {
	*store.Store
	during func()
}

func (q *queryHook) CurrentConnections(ctx context.Context, ids []string) (map[string]string, error) {
	q.during()
	return q.Store.CurrentConnections(ctx, ids)
}

// The connection check fails the commands whose connection is gone, and
// only those that were waiting when it read the connections: a command
// sent meanwhile, to a station the query did not ask about, is not gone.
func TestCheckConnectionsJudgesOnlyWhatItRead(t *testing.T) {
	st := connectedStore(t, "CS1", "CS2")
	q := &queryHook{Store: st}
	d := NewDispatcher(Deps{Store: q, CoreID: "core-1"})
	old := &waiter{station: "CS1", conn: "conn-before", action: "Reset", ch: make(chan *busv1.Envelope, 1)}
	sent := &waiter{station: "CS2", conn: "conn-CS2", action: "Reset", ch: make(chan *busv1.Envelope, 1)}
	d.waiters["on-old-connection"] = old
	q.during = func() {
		d.mu.Lock()
		d.waiters["sent-meanwhile"] = sent
		d.mu.Unlock()
	}
	if err := d.CheckConnections(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case env := <-old.ch:
		if env.GetKind() != busv1.Kind_KIND_CALL_FAILED || env.GetReason() != string(outcome.ConnectionClosed) {
			t.Errorf("command on a replaced connection got %v", env)
		}
	default:
		t.Error("the command on a replaced connection was not answered")
	}
	select {
	case env := <-sent.ch:
		t.Errorf("the command sent during the check was answered %v", env)
	default:
	}
	if _, waiting := d.waiters["sent-meanwhile"]; !waiting {
		t.Error("the command sent during the check no longer waits")
	}
}

// leavingBus publishes while its caller leaves: like a broker confirm
// awaited on the caller's context, it fails if that context ends.
type leavingBus struct {
	bus.Bus // only PublishDownstream is used
	leave   func()
}

func (b *leavingBus) PublishDownstream(ctx context.Context, _ *busv1.Envelope) error {
	b.leave()
	return ctx.Err()
}

// A caller leaving while the command is published is recorded as that,
// not as "could not publish": the broker may have taken the message.
func TestCallerLeavesDuringPublish(t *testing.T) {
	ctx := context.Background()
	st := connectedStore(t, "CS1")
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := NewDispatcher(Deps{Store: st, Bus: &leavingBus{leave: cancel}, Schemas: reg, CoreID: "core-1"})
	if _, err := d.Call(callCtx, Request{StationID: "CS1", Action: "ClearCache", Payload: json.RawMessage(`{}`)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("call: %v, want the caller's cancellation", err)
	}
	cmds, _, err := st.ListCommands(ctx, "CS1", store.SeqPage{Limit: 10})
	if err != nil || len(cmds) != 1 {
		t.Fatalf("commands %v %v", cmds, err)
	}
	if c := cmds[0]; c.Status != outcome.Failed || !strings.HasPrefix(c.ErrorDescription, "caller gave up") {
		t.Errorf("recorded %s %q, want failed: caller gave up", c.Status, c.ErrorDescription)
	}
}
