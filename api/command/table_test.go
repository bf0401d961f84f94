package command_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// The tables' machinery on a made-up action, Ping: {n} → {status, echo}.

type pingReq struct {
	N int `json:"n"`
}

type pingResp struct {
	Status string `json:"status"`
	Echo   int    `json:"echo"`
}

// pingOp is the operator's request that Ping carries out.
type pingOp struct{ N int }

// fakeCaller answers every CALL with answer (or fails with err) and
// records what it was sent.
type fakeCaller struct {
	answer string
	err    error
	sent   []command.Request
}

func (f *fakeCaller) Version(context.Context, string) (ocppj.Version, error) { return ocppj.V201, nil }
func (f *fakeCaller) Connected(context.Context, string) (ocppj.Version, error) {
	return ocppj.V201, nil
}
func (f *fakeCaller) Check(ocppj.Version, string, json.RawMessage) error { return nil }

func (f *fakeCaller) Call(_ context.Context, r command.Request) (*command.Result, error) {
	f.sent = append(f.sent, r)
	if f.err != nil {
		return nil, f.err
	}
	return &command.Result{CommandID: "cmd-1", Payload: json.RawMessage(f.answer)}, nil
}

// pinged is what the effect records: every answer, with its command.
type pinged struct {
	commands []string
	echoes   []int
	failed   []error
	fail     error
}

func (p *pinged) effect(_ context.Context, a command.Answer[pingReq, pingResp]) (int, error) {
	if p.fail != nil {
		return 0, p.fail
	}
	p.commands = append(p.commands, a.CommandID)
	p.echoes = append(p.echoes, a.Response.Echo)
	return len(p.echoes), nil
}

func (p *pinged) noAnswer(_ context.Context, _ command.Meta, req *pingReq, err error) error {
	p.failed = append(p.failed, err)
	return nil
}

func pingTable(p *pinged) command.Table {
	build := func(_ context.Context, m command.Meta, in pingOp) (*pingReq, error) {
		if in.N < 0 {
			return nil, command.Invalid("n must not be negative")
		}
		return &pingReq{N: in.N}, nil
	}
	result := func(a command.Answer[pingReq, pingResp], count int) (string, error) {
		return strings.Repeat("pong ", count) + a.Response.Status, nil
	}
	return command.NewTable(
		command.WithEffect("Ping", p.effect, command.Op(build, result),
			command.OnNoAnswer[pingReq, pingResp, int](p.noAnswer)),
		command.New[pingReq, pingResp]("Quiet"),
	)
}

func newSender(f *fakeCaller, p *pinged) *command.Sender {
	return command.NewSender(f, map[ocppj.Version]command.Table{ocppj.V201: pingTable(p)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func TestTypedOperation(t *testing.T) {
	ctx := context.Background()
	f := &fakeCaller{answer: `{"status":"Accepted","echo":7}`}
	p := &pinged{}
	s := newSender(f, p)

	out, err := command.Do[string](ctx, s, "CS1", "op", pingOp{N: 7})
	if err != nil || out != "pong Accepted" {
		t.Fatalf("Do = %q, %v", out, err)
	}
	if len(f.sent) != 1 || f.sent[0].Action != "Ping" || f.sent[0].Version != ocppj.V201 || f.sent[0].RequestedBy != "op" {
		t.Fatalf("sent %+v", f.sent)
	}
	if p.commands[0] != "cmd-1" || p.echoes[0] != 7 {
		t.Errorf("effect saw %+v", p)
	}

	// Refused by its build: nothing sent.
	if _, err := command.Do[string](ctx, s, "CS1", "op", pingOp{N: -1}); status.Code(command.Status(err)) != codes.InvalidArgument {
		t.Errorf("negative n: %v", err)
	}
	// An operation the version has no action for.
	var niv *command.NotInVersionError
	if _, err := command.Do[string](ctx, s, "CS1", "op", struct{ Other int }{}); !errors.As(err, &niv) || niv.Version != ocppj.V201 {
		t.Errorf("unbound operation: %v", err)
	}
	// The caller's result type is not the operation's.
	if _, err := command.Do[int](ctx, s, "CS1", "op", pingOp{N: 1}); err == nil {
		t.Error("wrong result type accepted")
	}
	if len(f.sent) != 1 {
		t.Fatalf("refused operations sent %+v", f.sent[1:])
	}

	// No answer: the hook runs, the error is the dispatcher's.
	f.err = command.ErrTimeout
	if _, err := command.Do[string](ctx, s, "CS1", "op", pingOp{N: 2}); !errors.Is(err, command.ErrTimeout) {
		t.Errorf("timeout: %v", err)
	}
	if len(p.failed) != 1 || !errors.Is(p.failed[0], command.ErrTimeout) {
		t.Errorf("no-answer hook saw %v", p.failed)
	}

	// An answer that does not fit the response type: its effect cannot
	// run, the operator is told.
	f.err, f.answer = nil, `{"status":"Accepted","echo":"seven"}`
	_, err = command.Do[string](ctx, s, "CS1", "op", pingOp{N: 3})
	if st := status.Convert(command.Status(err)); st.Code() != codes.Internal || !strings.Contains(st.Message(), "Ping") {
		t.Errorf("unreadable answer: %v", err)
	}
	// The effect fails: so does the operation.
	f.answer, p.fail = `{"status":"Accepted","echo":3}`, command.Conflict("recorded meanwhile")
	if _, err := command.Do[string](ctx, s, "CS1", "op", pingOp{N: 3}); status.Code(command.Status(err)) != codes.Aborted {
		t.Errorf("conflicting effect: %v", err)
	}
	if len(p.echoes) != 1 {
		t.Errorf("effects applied: %v", p.echoes)
	}
}

func TestGenericCall(t *testing.T) {
	ctx := context.Background()
	f := &fakeCaller{answer: `{"status":"Accepted","echo":5}`}
	p := &pinged{}
	s := newSender(f, p)

	// The payload goes out as written; the answer has its effect.
	raw := json.RawMessage(`{"n": 5}`)
	res, err := s.Call(ctx, command.Request{StationID: "CS1", Action: "Ping", Payload: raw, RequestedBy: "op"})
	if err != nil || string(res.Payload) != f.answer {
		t.Fatalf("Call = %+v, %v", res, err)
	}
	if got, _ := f.sent[0].Payload.(json.RawMessage); string(got) != string(raw) {
		t.Errorf("sent %s, want the operator's %s", got, raw)
	}
	if len(p.echoes) != 1 || p.echoes[0] != 5 {
		t.Errorf("effect saw %v", p.echoes)
	}

	// An action without an effect is not even decoded.
	if _, err := s.Call(ctx, command.Request{StationID: "CS1", Action: "Quiet", Payload: json.RawMessage(`{"whatever":[1]}`)}); err != nil {
		t.Errorf("Quiet: %v", err)
	}
	// Not in the table, or not what the effect can read: refused, nothing sent.
	var inv *command.InvalidError
	for _, r := range []command.Request{
		{StationID: "CS1", Action: "Nope"},
		{StationID: "CS1", Action: "Ping", Payload: json.RawMessage(`{"n":"five"}`)},
		{Action: "Ping"},
	} {
		if _, err := s.Call(ctx, r); !errors.As(err, &inv) {
			t.Errorf("%+v: %v, want invalid", r, err)
		}
	}
	if len(f.sent) != 2 {
		t.Fatalf("refused calls sent: %+v", f.sent[2:])
	}

	// An unreadable answer is passed on as it came, without effect.
	f.answer = `{"status":"Accepted","echo":"five"}`
	if res, err := s.Call(ctx, command.Request{StationID: "CS1", Action: "Ping", Payload: raw}); err != nil || string(res.Payload) != f.answer {
		t.Errorf("unreadable answer: %+v %v", res, err)
	}
	// No answer: the same hook as the typed operation.
	f.err = command.ErrNotConnected
	if _, err := s.Call(ctx, command.Request{StationID: "CS1", Action: "Ping", Payload: raw}); !errors.Is(err, command.ErrNotConnected) {
		t.Errorf("not connected: %v", err)
	}
	if len(p.failed) != 1 || len(p.echoes) != 1 {
		t.Errorf("after failures: effects %v, no-answer %v", p.echoes, p.failed)
	}
}

func TestNewTableRefusesDuplicates(t *testing.T) {
	build := func(context.Context, command.Meta, pingOp) (*pingReq, error) { return &pingReq{}, nil }
	result := func(command.Answer[pingReq, pingResp], command.None) (string, error) { return "", nil }
	for name, specs := range map[string][]command.Spec{
		"action":    {command.New[pingReq, pingResp]("Ping"), command.New[pingReq, pingResp]("Ping")},
		"operation": {command.New("Ping", command.Op(build, result)), command.New("Pong", command.Op(build, result))},
		"no action": {command.New[pingReq, pingResp]("")},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			command.NewTable(specs...)
		}()
	}
}
