// Package route is the shape of a per-version route table: each
// charger-initiated action maps to its typed request and to the handler
// that answers it. The router (api/ocpp) owns the flow around a handler
// (frame, schema, registration state, reply); a handler sees only a decoded
// request and returns a typed response.
package route

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Meta is what a handler may know about the message besides its payload.
type Meta struct {
	StationID    string
	ConnectionID string
	GatewayID    string
	MessageID    string
	// ReceivedAt is when the gateway read the frame (zero if unknown).
	ReceivedAt time.Time
	// FollowUps, set by the router, collects what AfterReply defers.
	FollowUps *FollowUps
}

// AfterReply runs f once the router has handed this CALL's CALLRESULT to
// the bus: OCPP wants some CSMS-initiated CALLs (CertificateSigned after
// SignCertificate) to follow the answer, never to overtake it. f does not
// run when the answer is not sent (the handler failed, or the reply could
// not be published and the CALL will be redelivered), so what f starts
// must also be recoverable from committed state. Without a router (a
// handler called directly) f runs at once. f runs on the station's
// message path: it must hand work off, not block.
func (m Meta) AfterReply(f func()) {
	if m.FollowUps == nil {
		f()
		return
	}
	m.FollowUps.fns = append(m.FollowUps.fns, f)
}

// FollowUps is the work handlers deferred with Meta.AfterReply. It is not
// safe for concurrent use: one CALL is handled by one goroutine.
type FollowUps struct{ fns []func() }

// Run runs the deferred work in the order it was added, once.
func (f *FollowUps) Run() {
	fns := f.fns
	f.fns = nil
	for _, fn := range fns {
		fn()
	}
}

// Handler answers one action. Its effects must be committed when it
// returns: the router replies to the charger right after.
type Handler[Req, Resp any] interface {
	Handle(ctx context.Context, m Meta, req *Req) (*Resp, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc[Req, Resp any] func(ctx context.Context, m Meta, req *Req) (*Resp, error)

func (f HandlerFunc[Req, Resp]) Handle(ctx context.Context, m Meta, req *Req) (*Resp, error) {
	return f(ctx, m, req)
}

// Fixed answers every request of an action with the same response. It is
// for actions that have no behaviour yet but must still get a conformant
// answer rather than an error.
func Fixed[Req, Resp any](resp Resp) Handler[Req, Resp] {
	return HandlerFunc[Req, Resp](func(context.Context, Meta, *Req) (*Resp, error) {
		r := resp
		return &r, nil
	})
}

// DecodeError means a payload passed its schema but does not fit the Go
// type (for example a date-time without a time zone, which the schema's
// format annotation does not reject): the charger sent a malformed payload.
type DecodeError struct {
	Action string
	Err    error
}

func (e *DecodeError) Error() string { return fmt.Sprintf("decode %s: %v", e.Action, e.Err) }
func (e *DecodeError) Unwrap() error { return e.Err }

// Route is one entry of a table.
type Route struct {
	Action string
	handle func(ctx context.Context, m Meta, payload []byte) (any, error)
}

// New binds action to h.
func New[Req, Resp any](action string, h Handler[Req, Resp]) Route {
	return Route{Action: action, handle: func(ctx context.Context, m Meta, payload []byte) (any, error) {
		req := new(Req)
		if err := json.NewDecoder(bytes.NewReader(payload)).Decode(req); err != nil {
			return nil, &DecodeError{Action: action, Err: err}
		}
		resp, err := h.Handle(ctx, m, req)
		if err != nil {
			return nil, err
		}
		if resp == nil {
			return nil, fmt.Errorf("%s: handler returned no response", action)
		}
		return resp, nil
	}}
}

// Handle decodes payload, runs the handler and returns its response, ready
// to be encoded as JSON.
func (r Route) Handle(ctx context.Context, m Meta, payload []byte) (any, error) {
	return r.handle(ctx, m, payload)
}

// Table maps actions to routes.
type Table map[string]Route

// NewTable builds a table; it panics on a duplicate or empty action because
// that is a programming error in a static table.
func NewTable(routes ...Route) Table {
	t := make(Table, len(routes))
	for _, r := range routes {
		if r.Action == "" || r.handle == nil {
			panic("route: incomplete route")
		}
		if _, dup := t[r.Action]; dup {
			panic("route: duplicate action " + r.Action)
		}
		t[r.Action] = r
	}
	return t
}
