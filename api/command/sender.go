package command

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Caller sends one CALL and waits for its outcome; *Dispatcher is one.
type Caller interface {
	Version(ctx context.Context, stationID string) (ocppj.Version, error)
	Connected(ctx context.Context, stationID string) (ocppj.Version, error)
	Check(v ocppj.Version, action string, payload json.RawMessage) error
	Call(ctx context.Context, r Request) (*Result, error)
}

// Sender sends commands through the table of each station's version, so
// that whatever sends a command (a typed operator method, or the generic
// Call) its answer has the same effects. It is safe for concurrent use.
type Sender struct {
	calls  Caller
	tables map[ocppj.Version]Table
	log    *slog.Logger
}

// NewSender returns a sender over calls with one table per version.
func NewSender(calls Caller, tables map[ocppj.Version]Table, logger *slog.Logger) *Sender {
	if logger == nil {
		logger = slog.Default()
	}
	return &Sender{calls: calls, tables: tables, log: logger.With("component", "command")}
}

// Version is the protocol version of the station's current (or last)
// connection (see Dispatcher.Version).
func (s *Sender) Version(ctx context.Context, stationID string) (ocppj.Version, error) {
	return s.calls.Version(ctx, stationID)
}

// Call sends any action of the station's table with the operator's payload
// as written (the generic /call), and applies what its answer changes.
// Outcomes are Dispatcher.Call's.
func (s *Sender) Call(ctx context.Context, r Request) (*Result, error) {
	if r.StationID == "" {
		return nil, &InvalidError{Reason: "station id is empty"}
	}
	// A station that is not connected is refused first, whatever is sent.
	v, err := s.calls.Connected(ctx, r.StationID)
	if err != nil {
		return nil, err
	}
	sp, ok := s.tables[v].actions[r.Action]
	if !ok {
		return nil, &InvalidError{Reason: fmt.Sprintf("%q is not an action the CSMS sends in OCPP %s", r.Action, v)}
	}
	payload, err := marshalPayload(r.Payload)
	if err != nil {
		return nil, &InvalidError{Reason: err.Error()}
	}
	return sp.call(ctx, s, Meta{StationID: r.StationID, Version: v, RequestedBy: r.RequestedBy}, payload, r.Timeout)
}

// Do carries out on the station the typed operation that in's type names,
// through the table of the station's version: the version's action is
// built from in, sent, its answer's effect applied, and the operation's
// result returned. *NotInVersionError when the version has no such
// operation; otherwise the outcomes of Dispatcher.Call and of the
// operation's functions.
func Do[Out any](ctx context.Context, s *Sender, stationID, requestedBy string, in any) (Out, error) {
	var zero Out
	out, err := s.run(ctx, stationID, requestedBy, in, reflect.TypeFor[Out]())
	if err != nil {
		return zero, err
	}
	return out.(Out), nil
}

// Run is Do for a caller that treats every operation alike (a test over
// a whole table): the result is of whatever type the operation returns.
func Run(ctx context.Context, s *Sender, stationID, requestedBy string, in any) (any, error) {
	return s.run(ctx, stationID, requestedBy, in, nil)
}

// run carries out the operation; want, unless nil, is the result type
// the caller expects, checked before anything is sent.
func (s *Sender) run(ctx context.Context, stationID, requestedBy string, in any, want reflect.Type) (any, error) {
	v, err := s.calls.Version(ctx, stationID)
	if err != nil {
		return nil, err
	}
	o, ok := s.tables[v].ops[reflect.TypeOf(in)]
	if !ok {
		return nil, &NotInVersionError{Operation: operationName(in), Version: v}
	}
	if want != nil && o.out != want {
		return nil, fmt.Errorf("command: %s returns %v, not %v", operationName(in), o.out, want)
	}
	return o.do(ctx, s, Meta{StationID: stationID, Version: v, RequestedBy: requestedBy}, in)
}

// operationName names an operation by its request type: an operator's
// GetConfigurationRequest is GetConfiguration.
func operationName(in any) string {
	t := reflect.TypeOf(in)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "<nil>"
	}
	return strings.TrimSuffix(t.Name(), "Request")
}
