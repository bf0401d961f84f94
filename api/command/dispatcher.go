package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/redact"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/bus"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	"github.com/chargeplane/chargeplane/pkg/logbound"
	"github.com/chargeplane/chargeplane/pkg/metrics"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
	"github.com/chargeplane/chargeplane/pkg/outcome"
)

// DefaultTimeout is how long a command waits for the charger's answer when
// neither the request nor Deps says otherwise.
const DefaultTimeout = 30 * time.Second

// MaxTimeout bounds a request's own timeout: a caller cannot hold a
// connection's single outstanding CALL slot for longer.
const MaxTimeout = 10 * time.Minute

// recordTimeout bounds writing a command's outcome, which happens also when
// the caller's context is gone.
const recordTimeout = 10 * time.Second

// MessageLog receives copies of the raw frames for the station's message
// log. Log must not block (store.MessageLogger drops under overload).
type MessageLog interface {
	Log(m store.StationMessage)
}

// Store is what the dispatcher needs from the database.
type Store interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
	CreateCommand(ctx context.Context, c *store.Command) error
	FinishCommand(ctx context.Context, id string, o store.CommandOutcome) (bool, error)
	FailStaleCommands(ctx context.Context, olderThan time.Time, reason string) (int64, error)
	CurrentConnections(ctx context.Context, ids []string) (map[string]string, error)
}

// Deps are the dispatcher's collaborators.
type Deps struct {
	Store   Store
	Bus     bus.Bus
	Schemas *schema.Registry
	// CoreID names this core instance's reply queue (bus.ConsumeCore);
	// gateways publish the answers there.
	CoreID string
	// Timeout is the default wait for an answer (COMMAND_TIMEOUT); default
	// DefaultTimeout.
	Timeout time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
	// Messages, when set, gets every CALL sent and every answer received.
	Messages MessageLog
	// Events, when set, gets command.sent and command.answered.
	Events event.Publisher
	// Metrics counts commands by outcome (nil: not counted).
	Metrics *metrics.Core
}

// Dispatcher sends commands and routes the answers to their waiting
// callers. It is safe for concurrent use. Each waiting Call costs a map
// entry and a channel, no goroutine beyond the caller's own.
type Dispatcher struct {
	store   Store
	bus     bus.Bus
	schemas *schema.Registry
	coreID  string
	timeout time.Duration
	now     func() time.Time
	log     *slog.Logger
	msgs    MessageLog
	events  event.Publisher
	metrics *metrics.Core

	mu      sync.Mutex
	waiters map[string]*waiter // by message id
}

type waiter struct {
	station string
	conn    string // the connection the CALL was sent on
	action  string
	version ocppj.Version
	ch      chan *busv1.Envelope // buffered 1: whoever takes the waiter out of the map sends once, never blocking
}

// NewDispatcher returns a dispatcher. Wire HandleReply to bus.ConsumeCore(ctx,
// CoreID, ...) before the first Call.
func NewDispatcher(d Deps) *Dispatcher {
	if d.Timeout <= 0 {
		d.Timeout = DefaultTimeout
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return &Dispatcher{
		store:   d.Store,
		bus:     d.Bus,
		schemas: d.Schemas,
		coreID:  d.CoreID,
		timeout: d.Timeout,
		now:     d.Now,
		log:     logbound.Clipped(d.Logger).With("component", "command"), // answers quote what chargers sent
		msgs:    d.Messages,
		events:  d.Events,
		metrics: d.Metrics,
		waiters: make(map[string]*waiter),
	}
}

// CoreID is the reply queue this dispatcher expects its answers on.
func (d *Dispatcher) CoreID() string { return d.coreID }

// Version returns the protocol version of the station's current (or last)
// connection: ErrStationNotFound, or ErrUnknownVersion if it never connected.
func (d *Dispatcher) Version(ctx context.Context, stationID string) (ocppj.Version, error) {
	st, err := d.station(ctx, stationID)
	if err != nil {
		return 0, err
	}
	return stationVersion(st)
}

func (d *Dispatcher) station(ctx context.Context, id string) (*store.Station, error) {
	st, err := d.store.GetStation(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrStationNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("command: load station %q: %w", id, err)
	}
	return st, nil
}

// Connected returns the protocol version of the station's current
// connection: ErrStationNotFound, or ErrNotConnected when it has none (known
// at once from the connection registry).
func (d *Dispatcher) Connected(ctx context.Context, stationID string) (ocppj.Version, error) {
	st, err := d.station(ctx, stationID)
	if err != nil {
		return 0, err
	}
	return connectedVersion(st)
}

func connectedVersion(st *store.Station) (ocppj.Version, error) {
	if !st.Connected || st.ConnectionID == "" {
		return 0, fmt.Errorf("%w: %q", ErrNotConnected, st.ID)
	}
	return stationVersion(st)
}

func stationVersion(st *store.Station) (ocppj.Version, error) {
	if st.OCPPVersion == 0 {
		return 0, fmt.Errorf("%w: station %q", ErrUnknownVersion, st.ID)
	}
	return st.OCPPVersion, nil
}

// Check refuses (*InvalidError) what OCPP v does not let the CSMS send:
// an action that is not the CSMS's, or a payload its request schema
// rejects.
func (d *Dispatcher) Check(v ocppj.Version, action string, payload json.RawMessage) error {
	if !d.schemas.IsCSMSAction(v, action) {
		return &InvalidError{Reason: fmt.Sprintf("%q is not an action the CSMS sends in OCPP %s", action, v)}
	}
	if err := d.schemas.ValidateRequest(v, action, payload); err != nil {
		var ve *schema.ValidationError
		if errors.As(err, &ve) {
			return &InvalidError{Reason: fmt.Sprintf("%s payload: %s", action, ve.Description)}
		}
		return &InvalidError{Reason: err.Error()}
	}
	return nil
}

// Call sends r to the charger and waits for its answer. Outcomes: *Result
// (the CALLRESULT); ErrStationNotFound; ErrNotConnected (at once when the
// registry says so, or when the connection goes away first); ErrTimeout;
// *ChargerError (the CALLERROR); *InvalidError (nothing sent, nothing
// recorded); ctx's error when the caller gives up (recorded as failed).
//
// A CALLRESULT that violates the action's response schema is still passed
// on, and the violation logged: the charger did what it says it did, and
// hiding its answer would leave the operator blind; the schema check of
// what we send is what keeps chargers safe.
func (d *Dispatcher) Call(ctx context.Context, r Request) (*Result, error) {
	if r.StationID == "" {
		return nil, &InvalidError{Reason: "station id is empty"}
	}
	if r.Action == "" {
		return nil, &InvalidError{Reason: "action is empty"}
	}
	st, err := d.station(ctx, r.StationID)
	if err != nil {
		return nil, err
	}
	v, err := connectedVersion(st)
	if err != nil {
		return nil, err
	}
	if r.Version != 0 && r.Version != v {
		return nil, &InvalidError{Reason: fmt.Sprintf("station %q now speaks OCPP %s, not %s: send it again", r.StationID, v, r.Version)}
	}
	payload, err := marshalPayload(r.Payload)
	if err != nil {
		return nil, &InvalidError{Reason: err.Error()}
	}
	if err := d.Check(v, r.Action, payload); err != nil {
		return nil, err
	}

	timeout := r.Timeout
	if timeout <= 0 {
		timeout = d.timeout
	}
	timeout = min(timeout, MaxTimeout)
	now := d.now()
	expires := now.Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(expires) {
		// The gateway must not send what nobody will wait for.
		expires = dl
	}

	id := uuid.NewString()
	frame, err := ocppj.EncodeCall(id, r.Action, payload)
	if err != nil {
		return nil, &InvalidError{Reason: err.Error()}
	}
	log := d.log.With("station", r.StationID, "action", r.Action, "message_id", id)
	// Secrets (a station password) never reach the history or the log.
	recordedPayload, recordedFrame := redact.Frame(ocppj.Frame{Type: ocppj.Call, ID: id, Action: r.Action, Payload: payload}, frame)

	cmd := &store.Command{
		ID:           id,
		StationID:    r.StationID,
		OCPPVersion:  v,
		Action:       r.Action,
		Payload:      string(recordedPayload),
		RequestedBy:  r.RequestedBy,
		CoreID:       d.coreID,
		ConnectionID: st.ConnectionID,
		CreatedAt:    now,
		ExpiresAt:    expires,
	}
	if err := d.store.CreateCommand(ctx, cmd); err != nil {
		return nil, fmt.Errorf("command: record: %w", err)
	}

	// Registered before publishing: the answer may come back before
	// Publish returns.
	w := &waiter{station: r.StationID, conn: st.ConnectionID, action: r.Action, version: v, ch: make(chan *busv1.Envelope, 1)}
	d.mu.Lock()
	d.waiters[id] = w
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.waiters, id)
		d.mu.Unlock()
	}()

	env := &busv1.Envelope{
		Kind:         busv1.Kind_KIND_FRAME,
		StationId:    r.StationID,
		GatewayId:    st.GatewayID,
		ConnectionId: st.ConnectionID,
		OcppVersion:  bus.EnvelopeVersion(v),
		ReceivedAt:   timestamppb.New(now),
		ReplyTo:      d.coreID,
		ExpiresAt:    timestamppb.New(expires),
		MessageId:    id,
		Frame:        frame,
	}
	// Not cut short by the caller leaving: a message the broker took may
	// reach the charger, and "could not publish" would then be false. A
	// caller who left is seen below, as for any wait.
	if err := d.bus.PublishDownstream(context.WithoutCancel(ctx), env); err != nil {
		if ans := d.abandon(id, w); ans != nil {
			// The broker failed to confirm a message it delivered.
			return d.settle(log, id, w, ans)
		}
		d.finish(log, id, w, store.CommandOutcome{Status: outcome.Failed, ErrorDescription: "could not publish: " + err.Error()})
		return nil, fmt.Errorf("command: publish: %w", err)
	}
	d.logMessage(store.StationMessage{
		StationID: r.StationID, At: now, Direction: store.DirectionOut, MessageType: store.MessageCall,
		MessageID: id, Action: r.Action, ConnectionID: st.ConnectionID, Frame: string(recordedFrame),
	})
	log.Info("command sent", "requested_by", r.RequestedBy, "timeout", expires.Sub(now))
	if d.events != nil {
		// The recorded (redacted) payload: no secret reaches an event.
		d.events.Publish(event.New(event.CommandSent, now, r.StationID, CommandEventPayload{
			CommandID: id, Action: r.Action, Request: json.RawMessage(recordedPayload), RequestedBy: r.RequestedBy,
		}))
	}

	// The timer runs on the real clock: Now may be a test's fixed clock.
	timer := time.NewTimer(expires.Sub(now))
	defer timer.Stop()
	select {
	case ans := <-w.ch:
		return d.settle(log, id, w, ans)
	case <-timer.C:
		if ans := d.abandon(id, w); ans != nil {
			return d.settle(log, id, w, ans)
		}
		d.finish(log, id, w, store.CommandOutcome{Status: outcome.Timeout, ErrorDescription: "no answer in time"})
		return nil, fmt.Errorf("%w: %s to %q", ErrTimeout, r.Action, r.StationID)
	case <-ctx.Done():
		if ans := d.abandon(id, w); ans != nil {
			return d.settle(log, id, w, ans)
		}
		d.finish(log, id, w, store.CommandOutcome{Status: outcome.Failed, ErrorDescription: "caller gave up: " + ctx.Err().Error()})
		return nil, fmt.Errorf("command: waiting for %s: %w", r.Action, ctx.Err())
	}
}

// abandon stops waiting for id's answer. Whoever takes a waiter out of
// the map (HandleReply with the answer, CheckConnections with "gone", or
// abandon) settles the command, so it has exactly one outcome: when an
// answer took it first, abandon returns that answer (it is in w.ch now or
// a moment later), and the caller settles it rather than record a timeout
// over an answered command; otherwise nil, and nothing will be sent to w.
func (d *Dispatcher) abandon(id string, w *waiter) *busv1.Envelope {
	d.mu.Lock()
	_, waiting := d.waiters[id]
	delete(d.waiters, id)
	d.mu.Unlock()
	if waiting {
		return nil
	}
	return <-w.ch
}

// CheckConnections answers every waiting command whose connection is no
// longer its station's current one with ErrNotConnected, at once rather
// than at its timeout: the gateway that held it may have died without a
// word (its lease expired, on this core instance or another), and the
// station may have reconnected elsewhere. One query for all the waiting
// stations.
func (d *Dispatcher) CheckConnections(ctx context.Context) error {
	// Only the commands waiting before the query are judged by it: one
	// sent meanwhile (to a station not queried, or on a connection made
	// after the query read the old one) is not gone.
	d.mu.Lock()
	checked := make(map[string]struct{}, len(d.waiters))
	stations := make(map[string]struct{}, len(d.waiters))
	for id, w := range d.waiters {
		checked[id] = struct{}{}
		stations[w.station] = struct{}{}
	}
	d.mu.Unlock()
	if len(stations) == 0 {
		return nil
	}
	ids := make([]string, 0, len(stations))
	for id := range stations {
		ids = append(ids, id)
	}
	current, err := d.store.CurrentConnections(ctx, ids)
	if err != nil {
		return fmt.Errorf("command: check connections: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id := range checked {
		w, waiting := d.waiters[id]
		if !waiting {
			continue // answered meanwhile
		}
		if conn, ok := current[w.station]; ok && conn == w.conn {
			continue
		}
		// Taken out of the map under the lock, so no answer can reach w
		// as well: one outcome per command.
		delete(d.waiters, id)
		w.ch <- &busv1.Envelope{Kind: busv1.Kind_KIND_CALL_FAILED, StationId: w.station, MessageId: id,
			Reason: string(outcome.ConnectionClosed)}
		d.log.Info("command's connection is gone: answered not connected", "station", w.station, "message_id", id)
	}
	return nil
}

// RunConnectionCheck calls CheckConnections every interval until ctx ends.
func (d *Dispatcher) RunConnectionCheck(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.CheckConnections(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("connection check failed", "err", err)
			}
		}
	}
}

// CommandEventPayload is the payload of command.sent and command.answered.
type CommandEventPayload struct {
	CommandID   string          `json:"commandId"`
	Action      string          `json:"action"`
	Request     json.RawMessage `json:"request,omitempty"`
	RequestedBy string          `json:"requestedBy,omitempty"`
	// Status (command.answered): the outcome, as in the command history.
	Status    string          `json:"status,omitempty"`
	Response  json.RawMessage `json:"response,omitempty"`
	ErrorCode string          `json:"errorCode,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// settle turns the envelope the gateway sent back into the outcome.
func (d *Dispatcher) settle(log *slog.Logger, id string, w *waiter, ans *busv1.Envelope) (*Result, error) {
	if ans.GetKind() == busv1.Kind_KIND_CALL_FAILED {
		reason := outcome.Reason(ans.GetReason())
		st := reason.Status()
		d.finish(log, id, w, store.CommandOutcome{Status: st, ErrorDescription: "gateway: " + string(reason)})
		switch st {
		case outcome.Timeout:
			return nil, fmt.Errorf("%w (gateway: %s)", ErrTimeout, reason)
		case outcome.NotConnected:
			return nil, fmt.Errorf("%w (gateway: %s)", ErrNotConnected, reason)
		}
		return nil, fmt.Errorf("command: gateway could not send it: %s", reason)
	}
	f, err := ocppj.Parse(ans.GetFrame())
	if err != nil {
		// HandleReply only delivers parsed answers; keep the invariant loud.
		d.finish(log, id, w, store.CommandOutcome{Status: outcome.Failed, ErrorDescription: "unreadable answer"})
		return nil, fmt.Errorf("command: unreadable answer: %w", err)
	}
	switch f.Type {
	case ocppj.CallResult:
		payload := f.Payload
		if len(payload) == 0 {
			payload = json.RawMessage("{}")
		}
		if err := d.schemas.ValidateResponse(w.version, w.action, payload); err != nil {
			log.Warn("charger's answer violates the response schema; passed on", "err", err)
		}
		rec, _ := redact.JSON(payload) // the history and events keep no secret
		resp := string(rec)
		d.finish(log, id, w, store.CommandOutcome{Status: outcome.Answered, Response: &resp})
		return &Result{CommandID: id, Payload: payload}, nil
	case ocppj.CallError:
		d.finish(log, id, w, store.CommandOutcome{Status: outcome.ChargerError, ErrorCode: string(f.ErrorCode), ErrorDescription: f.ErrorDescription})
		details := f.ErrorDetails
		if len(details) == 0 {
			details = json.RawMessage("{}")
		}
		return nil, &ChargerError{Code: f.ErrorCode, Description: f.ErrorDescription, Details: details}
	}
	d.finish(log, id, w, store.CommandOutcome{Status: outcome.Failed, ErrorDescription: "unexpected answer"})
	return nil, fmt.Errorf("command: unexpected answer of type %d", f.Type)
}

// finish records the outcome on a context of its own: the caller may have
// gone, the record must still be written.
func (d *Dispatcher) finish(log *slog.Logger, id string, w *waiter, o store.CommandOutcome) {
	if o.At.IsZero() {
		o.At = d.now()
	}
	if d.events != nil {
		p := CommandEventPayload{CommandID: id, Action: w.action, Status: string(o.Status), ErrorCode: o.ErrorCode, Error: o.ErrorDescription}
		if o.Response != nil {
			p.Response = json.RawMessage(*o.Response)
		}
		d.events.Publish(event.New(event.CommandAnswered, o.At, w.station, p))
	}
	d.metrics.Command(string(o.Status))
	answer := string(o.Status)
	switch o.Status {
	case outcome.Answered:
		answer = metrics.OutcomeResult
	case outcome.ChargerError:
		answer = o.ErrorCode
	}
	d.metrics.Message(w.version, w.action, metrics.CSMSToCharger, answer)
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if _, err := d.store.FinishCommand(ctx, id, o); err != nil {
		// The sweeper settles it later; the caller still gets the outcome.
		log.Error("could not record the command's outcome", "status", o.Status, "err", err)
		return
	}
	log.Info("command finished", "status", o.Status, "error_code", o.ErrorCode)
}

// HandleReply is the bus.Handler for ConsumeCore: it hands a charger's
// answer (or a gateway's KIND_CALL_FAILED) to the waiting Call. An answer
// nobody waits for any more (the caller timed out, or this is a restarted
// instance) is recorded if its command is still pending, then dropped.
func (d *Dispatcher) HandleReply(_ context.Context, env *busv1.Envelope) error {
	id := env.GetMessageId()
	var f ocppj.Frame
	switch env.GetKind() {
	case busv1.Kind_KIND_FRAME:
		var err error
		f, err = ocppj.Parse(env.GetFrame())
		if err != nil || (f.Type != ocppj.CallResult && f.Type != ocppj.CallError) {
			d.log.Warn("dropping unreadable or unexpected reply", "station", env.GetStationId(), "err", err)
			return nil
		}
		id = f.ID
	case busv1.Kind_KIND_CALL_FAILED:
	default:
		d.log.Debug("ignoring reply-queue message", "kind", env.GetKind().String())
		return nil
	}

	d.mu.Lock()
	w := d.waiters[id]
	if w != nil {
		// One answer per CALL: a duplicate finds no waiter.
		delete(d.waiters, id)
	}
	d.mu.Unlock()

	if env.GetKind() == busv1.Kind_KIND_FRAME {
		action := ""
		if w != nil {
			action = w.action
		}
		at := d.now()
		if env.GetReceivedAt() != nil {
			at = env.GetReceivedAt().AsTime()
		}
		_, frame := redact.Frame(f, env.GetFrame())
		d.logMessage(store.StationMessage{
			StationID: env.GetStationId(), At: at, Direction: store.DirectionIn, MessageType: messageType(f.Type),
			MessageID: id, Action: action, ConnectionID: env.GetConnectionId(), Frame: string(frame),
		})
	}
	if w != nil {
		w.ch <- env
		return nil
	}
	d.lateAnswer(id, env, f)
	return nil
}

// lateAnswer records an answer that arrived after its caller stopped
// waiting, if the command was not settled meanwhile (normally it was, as
// timeout, and keeps that outcome).
func (d *Dispatcher) lateAnswer(id string, env *busv1.Envelope, f ocppj.Frame) {
	log := d.log.With("station", env.GetStationId(), "message_id", id)
	log.Info("answer for a command nobody waits for", "kind", env.GetKind().String())
	if env.GetKind() != busv1.Kind_KIND_FRAME {
		return
	}
	o := store.CommandOutcome{Status: outcome.ChargerError, ErrorCode: string(f.ErrorCode), ErrorDescription: f.ErrorDescription}
	if f.Type == ocppj.CallResult {
		rec, _ := redact.JSON(f.Payload)
		resp := string(rec)
		o = store.CommandOutcome{Status: outcome.Answered, Response: &resp}
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if _, err := d.store.FinishCommand(ctx, id, o); err != nil {
		log.Warn("could not record a late answer", "err", err)
	}
}

// SweepStale marks failed every command still pending a grace period
// after its caller gave up: its core instance died (or lost its answer)
// and it must not look pending forever.
func (d *Dispatcher) SweepStale(ctx context.Context, grace time.Duration) (int64, error) {
	n, err := d.store.FailStaleCommands(ctx, d.now().Add(-grace), "core restarted or lost the answer")
	if err != nil {
		return 0, fmt.Errorf("command: sweep stale commands: %w", err)
	}
	if n > 0 {
		d.log.Warn("pending commands of a gone core marked failed", "commands", n)
	}
	return n, nil
}

// RunSweeper calls SweepStale every interval until ctx ends. The grace
// period (one interval) leaves a live instance time to record its own
// outcome first.
func (d *Dispatcher) RunSweeper(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := d.SweepStale(ctx, every); err != nil && ctx.Err() == nil {
			d.log.Warn("sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Dispatcher) logMessage(m store.StationMessage) {
	if d.msgs != nil {
		d.msgs.Log(m)
	}
}

func marshalPayload(p any) (json.RawMessage, error) {
	switch v := p.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		if len(v) == 0 {
			return json.RawMessage("{}"), nil
		}
		if !json.Valid(v) {
			return nil, errors.New("payload is not valid JSON")
		}
		return v, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return b, nil
}

func messageType(t ocppj.MessageType) string {
	switch t {
	case ocppj.Call:
		return store.MessageCall
	case ocppj.CallResult:
		return store.MessageCallResult
	case ocppj.CallError:
		return store.MessageCallError
	}
	return fmt.Sprint(int(t))
}
