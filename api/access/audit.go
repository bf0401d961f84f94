package access

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/chargeplane/chargeplane/api/audit"
	"github.com/chargeplane/chargeplane/api/auth"
)

// AuditLog is where the guard writes the records no transaction wrote
// (*store.Store is one).
type AuditLog interface {
	InsertAudit(ctx context.Context, r *audit.Record) error
	SetAuditOutcome(ctx context.Context, seq int64, o audit.Outcome, code, msg string) error
}

// auditWriteTimeout bounds the guard's own audit writes, made also when
// the caller has gone.
const auditWriteTimeout = 5 * time.Second

// newRecord describes a call of p to method with req.
func (g *Guard) newRecord(ctx context.Context, method string, p *auth.Principal, req any) audit.Record {
	name := methodName(method)
	msg, _ := req.(proto.Message)
	typ, id, station := audit.Target(name, msg)
	r := audit.Record{
		At:         g.now(),
		Actor:      p.Name,
		ActorKind:  string(p.Kind),
		ActorID:    p.ID,
		Addr:       ClientAddr(ctx),
		Method:     name,
		TargetType: typ,
		TargetID:   id,
		StationID:  station,
		Request:    "{}",
	}
	if msg != nil {
		r.Request = audit.Request(msg)
	}
	return r
}

// begin puts the pending record of a mutating call in its context, for
// the call's first store transaction to write with its change.
func (g *Guard) begin(ctx context.Context, method string, pol Policy, p *auth.Principal, req any) (context.Context, *audit.Pending) {
	if g.audit == nil || !pol.Mutates {
		return ctx, nil
	}
	pending := audit.NewPending(g.newRecord(ctx, method, p, req))
	return audit.WithPending(ctx, pending), pending
}

// end settles the record once the handler returned err: it sets the
// outcome of a record a transaction wrote if the call then failed, and
// writes the record itself if no transaction did (the call failed before
// changing anything, or changed nothing in the database).
func (g *Guard) end(ctx context.Context, pending *audit.Pending, err error) {
	if pending == nil {
		return
	}
	outcome, code, msg := audit.OutcomeOK, "", ""
	if err != nil {
		outcome, code, msg = audit.OutcomeError, status.Code(err).String(), bounded(status.Convert(err).Message())
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditWriteTimeout)
	defer cancel()
	if seq, ok := pending.Written(); ok {
		if err == nil {
			return
		}
		if werr := g.audit.SetAuditOutcome(ctx, seq, outcome, code, msg); werr != nil {
			g.log.ErrorContext(ctx, "could not record the outcome of an audited call", "seq", seq, "err", werr)
		}
		return
	}
	r := pending.Record()
	r.Outcome, r.Code, r.Error = outcome, code, msg
	g.insert(ctx, &r)
}

// denied records a call refused for the caller's role. Only
// authenticated callers reach here: strangers cannot fill the trail.
func (g *Guard) denied(ctx context.Context, method string, p *auth.Principal, req any, err error) {
	if g.audit == nil {
		return
	}
	r := g.newRecord(ctx, method, p, req)
	r.Outcome, r.Code, r.Error = audit.OutcomeDenied, codes.PermissionDenied.String(), bounded(status.Convert(err).Message())
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditWriteTimeout)
	defer cancel()
	g.insert(ctx, &r)
}

func (g *Guard) insert(ctx context.Context, r *audit.Record) {
	if err := g.audit.InsertAudit(ctx, r); err != nil {
		g.log.ErrorContext(ctx, "could not write an audit record", "method", r.Method, "actor", r.Actor,
			"station", r.StationID, "outcome", r.Outcome, "err", err)
	}
}

func bounded(s string) string {
	if len(s) > audit.MaxErrorLen {
		return s[:audit.MaxErrorLen]
	}
	return s
}
