package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Meta is what a command's functions may know besides its payloads.
type Meta struct {
	StationID   string
	Version     ocppj.Version
	RequestedBy string
	// CommandID is the recorded command (the OCPP message id); empty
	// before the CALL is sent.
	CommandID string
}

// Answer is a charger's CALLRESULT with the CALL it answers, both decoded
// into the action's generated types.
type Answer[Req, Resp any] struct {
	Meta
	Request  *Req
	Response *Resp
}

// Effect is what the CSMS does with an answer: which state it changes and
// where it is stored. It sees what was sent and what was answered, never
// how the command came to be sent, so an answer has the same effects
// whether a typed operator method or the generic Call sent it. Its effects
// must be committed when it returns; it runs even if the caller has given
// up meanwhile (the station acted on the command all the same). E is what
// it reports to the typed operations' results (None when nothing).
type Effect[Req, Resp, E any] func(ctx context.Context, a Answer[Req, Resp]) (E, error)

// None is the report of an action whose answer changes nothing.
type None struct{}

// Spec is one CSMS-initiated action of a table.
type Spec struct {
	Action string
	// call sends an operator's raw payload (the generic Call).
	call func(ctx context.Context, s *Sender, m Meta, payload json.RawMessage, timeout time.Duration) (*Result, error)
	ops  []op
}

// op is a typed operation bound to an action: in (the operator's request
// type) names it in its table, do carries it out.
type op struct {
	in, out reflect.Type
	do      func(ctx context.Context, s *Sender, m Meta, in any) (any, error)
}

// Option completes a Spec of action types Req/Resp whose effect reports E.
type Option[Req, Resp, E any] func(*spec[Req, Resp, E])

// spec is a Spec before it loses its types.
type spec[Req, Resp, E any] struct {
	action   string
	effect   Effect[Req, Resp, E]
	noAnswer func(ctx context.Context, m Meta, req *Req, err error) error
	ops      []op
}

// New binds action to its request and response types. Its answer changes
// nothing; opts bind the typed operations it carries out.
func New[Req, Resp any](action string, opts ...Option[Req, Resp, None]) Spec {
	return build(&spec[Req, Resp, None]{action: action}, opts)
}

// WithEffect binds action to its types and to what is done with its answer;
// opts bind the typed operations it carries out, whose results get the
// effect's report.
func WithEffect[Req, Resp, E any](action string, effect Effect[Req, Resp, E], opts ...Option[Req, Resp, E]) Spec {
	if effect == nil {
		panic("command: nil effect for " + action)
	}
	return build(&spec[Req, Resp, E]{action: action, effect: effect}, opts)
}

func build[Req, Resp, E any](sp *spec[Req, Resp, E], opts []Option[Req, Resp, E]) Spec {
	for _, o := range opts {
		o(sp)
	}
	return Spec{Action: sp.action, call: sp.call, ops: sp.ops}
}

// Op binds a typed operator operation to the action: build maps the
// operator's request (its type In names the operation, once per table) to
// the action's request; result maps the answer, once its effect is
// applied, to what the operator method gets back.
func Op[In, Out, Req, Resp, E any](build func(ctx context.Context, m Meta, in In) (*Req, error),
	result func(a Answer[Req, Resp], e E) (Out, error)) Option[Req, Resp, E] {
	return func(sp *spec[Req, Resp, E]) {
		sp.ops = append(sp.ops, op{
			in:  reflect.TypeFor[In](),
			out: reflect.TypeFor[Out](),
			do: func(ctx context.Context, s *Sender, m Meta, in any) (any, error) {
				req, err := build(ctx, m, in.(In))
				if err != nil {
					return nil, err
				}
				res, err := s.calls.Call(ctx, Request{StationID: m.StationID, Version: m.Version, Action: sp.action,
					Payload: req, RequestedBy: m.RequestedBy})
				a, e, err := sp.settle(ctx, s, m, req, res, err)
				if err != nil {
					return nil, err
				}
				return result(a, e)
			},
		})
	}
}

// OnNoAnswer sets what is done when a command gets no answer (timeout, not
// connected, CALLERROR, the caller gave up): for example a reservation
// made for the command is marked failed. Like an effect it sees only what
// was sent.
func OnNoAnswer[Req, Resp, E any](f func(ctx context.Context, m Meta, req *Req, err error) error) Option[Req, Resp, E] {
	return func(sp *spec[Req, Resp, E]) { sp.noAnswer = f }
}

// call is the generic Call's path: the payload goes out exactly as the
// operator wrote it (schema-checked by the dispatcher); it is decoded only
// for what the answer or its absence does.
func (sp *spec[Req, Resp, E]) call(ctx context.Context, s *Sender, m Meta, payload json.RawMessage, timeout time.Duration) (*Result, error) {
	var req *Req
	if sp.effect != nil || sp.noAnswer != nil {
		if err := s.calls.Check(m.Version, sp.action, payload); err != nil {
			return nil, err
		}
		req = new(Req)
		if err := json.Unmarshal(payload, req); err != nil {
			// Schema-valid but not what the effect can read (a date-time
			// without a zone, say): refused rather than sent unrecorded.
			return nil, &InvalidError{Reason: fmt.Sprintf("%s payload: %v", sp.action, err)}
		}
	}
	res, err := s.calls.Call(ctx, Request{StationID: m.StationID, Version: m.Version, Action: sp.action,
		Payload: payload, RequestedBy: m.RequestedBy, Timeout: timeout})
	if sp.effect == nil && sp.noAnswer == nil {
		return res, err
	}
	if _, _, err := sp.settle(ctx, s, m, req, res, err); err != nil {
		var ue *UnreadableAnswerError
		if res != nil && errors.As(err, &ue) {
			// The generic call passes the answer on as it came; only what
			// it would have changed is lost, and said so.
			s.log.WarnContext(ctx, "answer unreadable: its effects are not recorded", "station", m.StationID,
				"action", sp.action, "command", res.CommandID, "err", ue.Err)
			return res, nil
		}
		return nil, err
	}
	return res, nil
}

// settle turns the dispatcher's outcome into the decoded answer with its
// effect applied, or runs the no-answer hook.
func (sp *spec[Req, Resp, E]) settle(ctx context.Context, s *Sender, m Meta, req *Req, res *Result, err error) (Answer[Req, Resp], E, error) {
	var zero E
	if err != nil {
		if sp.noAnswer != nil {
			if herr := sp.noAnswer(context.WithoutCancel(ctx), m, req, err); herr != nil {
				s.log.ErrorContext(ctx, "could not record that a command got no answer", "station", m.StationID,
					"action", sp.action, "err", herr)
			}
		}
		return Answer[Req, Resp]{}, zero, err
	}
	m.CommandID = res.CommandID
	a := Answer[Req, Resp]{Meta: m, Request: req, Response: new(Resp)}
	if len(res.Payload) > 0 {
		if err := json.Unmarshal(res.Payload, a.Response); err != nil {
			return a, zero, &UnreadableAnswerError{Action: sp.action, CommandID: res.CommandID, Err: err}
		}
	}
	if sp.effect == nil {
		return a, zero, nil
	}
	e, err := sp.effect(context.WithoutCancel(ctx), a)
	if err != nil {
		return a, zero, fmt.Errorf("command: apply the answer to %s %s: %w", sp.action, res.CommandID, err)
	}
	return a, e, nil
}

// Table maps a version's actions to their specs.
type Table struct {
	actions map[string]Spec
	ops     map[reflect.Type]op
	// opAction is the action each operation sends.
	opAction map[reflect.Type]string
}

// NewTable builds a table; it panics on a duplicate action or operation,
// a programming error in a static table.
func NewTable(specs ...Spec) Table {
	t := Table{actions: make(map[string]Spec, len(specs)), ops: map[reflect.Type]op{}, opAction: map[reflect.Type]string{}}
	for _, s := range specs {
		if s.Action == "" || s.call == nil {
			panic("command: incomplete spec")
		}
		if _, dup := t.actions[s.Action]; dup {
			panic("command: duplicate action " + s.Action)
		}
		t.actions[s.Action] = s
		for _, o := range s.ops {
			if _, dup := t.ops[o.in]; dup {
				panic(fmt.Sprintf("command: operation %v bound twice", o.in))
			}
			t.ops[o.in] = o
			t.opAction[o.in] = s.Action
		}
	}
	return t
}

// Actions lists the table's actions.
func (t Table) Actions() []string {
	out := make([]string, 0, len(t.actions))
	for a := range t.actions {
		out = append(out, a)
	}
	return out
}

// Operations maps each typed operation (its request type) to the action
// it sends.
func (t Table) Operations() map[reflect.Type]string {
	out := make(map[reflect.Type]string, len(t.opAction))
	for in, a := range t.opAction {
		out[in] = a
	}
	return out
}

// Has reports whether the table binds action.
func (t Table) Has(action string) bool {
	_, ok := t.actions[action]
	return ok
}
