// Package ocpp is the core's OCPP side: it consumes what gateways publish
// upstream (charger CALLs and connection events), checks each CALL against
// its official schema and the station's registration state, runs the
// version's handler from its route table (api/ocpp/v16, api/ocpp/v201) and
// replies, once the handler's effects are committed, to the gateway that
// holds the charger's socket.
package ocpp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/certificates"
	"github.com/chargeplane/chargeplane/api/datatransfer"
	"github.com/chargeplane/chargeplane/api/displaymessage"
	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/monitoring"
	"github.com/chargeplane/chargeplane/api/ocpp/route"
	v16 "github.com/chargeplane/chargeplane/api/ocpp/v16"
	v201 "github.com/chargeplane/chargeplane/api/ocpp/v201"
	"github.com/chargeplane/chargeplane/api/onboarding"
	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/api/redact"
	"github.com/chargeplane/chargeplane/api/report"
	"github.com/chargeplane/chargeplane/api/securityevent"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/api/tariff"
	"github.com/chargeplane/chargeplane/pkg/bus"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	"github.com/chargeplane/chargeplane/pkg/logbound"
	"github.com/chargeplane/chargeplane/pkg/metrics"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
	"github.com/chargeplane/chargeplane/pkg/tracing"
	"github.com/chargeplane/chargeplane/pkg/truncate"
)

// Deps are the router's collaborators.
type Deps struct {
	Store   *store.Store
	Bus     bus.Bus
	Schemas *schema.Registry
	// Now is the clock (default time.Now).
	Now func() time.Time
	// HeartbeatInterval is returned in BootNotification.
	HeartbeatInterval time.Duration
	Logger            *slog.Logger
	// ValidateResponses checks every reply against its response schema and
	// answers InternalError instead of sending a non-conformant one. Tests
	// must set it; production may, at some CPU cost.
	ValidateResponses bool
	// TouchEvery bounds how often an ordinary message updates the station's
	// last-seen time (default 30s) when it is written through Store;
	// Heartbeat always does.
	TouchEvery time.Duration
	// LastSeen, when set, records last-seen times instead of Store: every
	// message and every Heartbeat touches it, and it writes them in batches
	// off the reply path (a *store.LastSeenWriter, closed after the router
	// stops consuming, before the store).
	LastSeen LastSeenRecorder
	// Meters stores MeterValues; nil writes each message on its own through
	// Store. Production passes a *store.MeterBatcher (group commit) and
	// closes it after the router stops consuming.
	Meters MeterRecorder
	// Statuses stores StatusNotifications; nil writes each through Store.
	// Production passes a *store.StatusBatcher (group commit), closed
	// after the router stops consuming.
	Statuses ConnectorRecorder
	// MessageLog, when set, gets a copy of every CALL read and every reply
	// sent, for the station's message log (a *store.MessageLogger, which
	// never blocks).
	MessageLog MessageLog
	// MessageLogSkip names charger actions whose CALL and answer are kept
	// out of MessageLog (config.ParseChargerActions).
	MessageLogSkip []string
	// StandingTTL is how long a station's registration standing is cached
	// (default 5s; negative disables the cache). A station is handled by
	// one core instance at a time, which drops its entry on every
	// BootNotification and new connection it handles; an operator's
	// deletion or registration change made elsewhere is seen within the TTL.
	StandingTTL time.Duration
	// StandingCacheSize bounds the cache (default 100,000 stations).
	StandingCacheSize int
	// Certificates decides SignCertificate (both versions); nil rejects
	// every CSR.
	Certificates *certificates.Service
	// OCSP answers 2.0.1 GetCertificateStatus; nil answers Failed.
	OCSP *pki.OCSPResponder
	// SecurityEvents keeps the stations' SecurityEventNotifications; nil
	// stores them in Store.
	SecurityEvents securityevent.Recorder
	// AlertSeverity: 2.0.1 events of a known severity ≤ it are alerts
	// (nil = monitoring.DefaultAlertSeverity).
	AlertSeverity *int
	// Alerts receives the alerts as they are stored (nil: logged, and
	// published as station.alert when Events is set).
	Alerts monitoring.Sink
	// Events receives the live events of what chargers do (nil: none).
	Events EventSink
	// VendorExtensions answer incoming DataTransfer (both versions); nil
	// answers every one UnknownVendorId. Every one is stored either way.
	VendorExtensions *datatransfer.Registry
	// EVNeeds computes and sends schedules for 2.0.1 EV charging needs (a
	// *smartcharging.Service); nil answers NotifyEVChargingNeeds Rejected.
	EVNeeds v201.NeedsPlanner
	// FinalCosts sends 1.6 stations the final cost of what they stopped
	// (a *runningcost.Service); nil sends none.
	FinalCosts v16.FinalCostSender
	// Metrics counts messages and handler latency (nil: not counted).
	Metrics *metrics.Core
	// ReportLimits bound the 2.0.1 split reports (zero fields:
	// report.DefaultLimits').
	ReportLimits report.Limits
}

// EventSink takes live events (an *event.Recorder); neither method blocks.
type EventSink interface {
	event.Publisher
	ObserveCall(c event.Call)
}

// MessageLog keeps raw frames for operators; Log must not block.
type MessageLog interface {
	Log(m store.StationMessage)
}

// MeterRecorder stores sampled values.
type MeterRecorder interface {
	RecordMeterValues(ctx context.Context, r store.MeterReport) error
}

// ConnectorRecorder stores a connector's reported status.
type ConnectorRecorder interface {
	UpsertConnector(ctx context.Context, c store.Connector) error
}

// LastSeenRecorder records when a station was heard from.
type LastSeenRecorder interface {
	TouchLastSeen(ctx context.Context, stationID string, at time.Time) error
}

// routerStore is what the router itself needs; handlers declare their own.
type routerStore interface {
	GetStandings(ctx context.Context, ids []string) (map[string]store.Standing, error)
	TouchLastSeen(ctx context.Context, stationID string, at time.Time) error
	MarkConnected(ctx context.Context, ev store.ConnectionEvent) (bool, error)
	MarkDisconnected(ctx context.Context, ev store.ConnectionEvent) (bool, error)
	triggerStore
}

// Router handles upstream envelopes. It is safe for concurrent use.
type Router struct {
	store      routerStore
	bus        bus.Bus
	schemas    *schema.Registry
	now        func() time.Time
	log        *slog.Logger
	validate   bool
	touchEvery time.Duration
	tables     map[ocppj.Version]route.Table
	msgs       MessageLog
	msgsSkip   map[string]bool
	lastSeen   LastSeenRecorder // nil: through store, every touchEvery
	standings  *standingCache
	reads      standingReads // cache misses, read in groups
	triggers   *triggers     // what the CSMS asked Pending stations for
	events     EventSink
	metrics    *metrics.Core
	// frameLogs limits, per connection, the lines a charger's frames
	// cause (its CALLs answered with errors, for one).
	frameLogs *logbound.Limiters
}

// maxFrameLogConnections bounds the per-connection log budgets kept.
const maxFrameLogConnections = 200_000

// NewRouter builds the router and its route tables.
func NewRouter(d Deps) *Router {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.TouchEvery <= 0 {
		d.TouchEvery = 30 * time.Second
	}
	if d.StandingTTL == 0 {
		d.StandingTTL = 5 * time.Second
	}
	if d.StandingCacheSize <= 0 {
		d.StandingCacheSize = 100_000
	}
	// What a charger sent is bounded in every line (the handlers' too).
	r := &Router{
		bus:        d.Bus,
		schemas:    d.Schemas,
		now:        d.Now,
		log:        logbound.Clipped(d.Logger).With("component", "ocpp"),
		validate:   d.ValidateResponses,
		touchEvery: d.TouchEvery,
		msgs:       d.MessageLog,
		msgsSkip:   map[string]bool{},
		lastSeen:   d.LastSeen,
		standings:  newStandingCache(d.StandingTTL, d.StandingCacheSize, d.Now),
		events:     d.Events,
		metrics:    d.Metrics,
		frameLogs:  logbound.NewLimiters(logbound.DefaultLimit, maxFrameLogConnections, d.Now),
	}
	for _, a := range d.MessageLogSkip {
		r.msgsSkip[a] = true
	}
	// A nil *store.Store must stay a nil interface so a missing store fails
	// loudly at the first use rather than behind a non-nil interface.
	if d.Store != nil {
		r.store = d.Store
	}
	// Through r.store at call time, so that a test may wrap it.
	r.reads.read = func(ctx context.Context, ids []string) (map[string]store.Standing, error) {
		return r.store.GetStandings(ctx, ids)
	}
	r.triggers = newTriggers(func() triggerStore { return r.store }, d.Now)
	var meters MeterRecorder = d.Store
	if d.Meters != nil {
		meters = d.Meters
	}
	// Nil pointers stay nil interfaces, so the tables choose their
	// no-CA and no-responder answers.
	var (
		signer v201.CSRSigner
		ocsp   v201.OCSPQuerier
	)
	if d.Certificates != nil {
		signer = d.Certificates
	}
	if d.OCSP != nil {
		ocsp = d.OCSP
	}
	alertLevel := monitoring.DefaultAlertSeverity
	if d.AlertSeverity != nil {
		alertLevel = *d.AlertSeverity
	}
	alerts := d.Alerts
	switch {
	case alerts != nil:
	case d.Events != nil:
		alerts = monitoring.PublishSink{Log: monitoring.LogSink{Logger: r.log}, Events: d.Events}
	default:
		alerts = monitoring.LogSink{Logger: r.log}
	}
	events := d.SecurityEvents
	if events == nil {
		events = securityevent.StoreRecorder{Store: d.Store, Now: d.Now}
	}
	transfers := datatransfer.Receiver{Registry: d.VendorExtensions, Store: d.Store}
	// Every transaction is priced by its station's tariffs, if any.
	costs := tariff.Coster{Store: d.Store, Now: d.Now}
	r.tables = map[ocppj.Version]route.Table{
		ocppj.V16: v16.Routes(v16.Deps{Store: d.Store, Now: d.Now, HeartbeatInterval: d.HeartbeatInterval,
			Sessions: d.Store, Meters: meters, Statuses: d.Statuses, Reports: d.Store, LastSeen: d.LastSeen, Certificates: signer,
			DataTransfers: transfers, SecurityEvents: events, Costs: costs, FinalCosts: d.FinalCosts, Logger: r.log}),
		ocppj.V201: v201.Routes(v201.Deps{Store: d.Store, Now: d.Now, HeartbeatInterval: d.HeartbeatInterval,
			Sessions: d.Store, Meters: meters, Statuses: d.Statuses, Reports: d.Store, DeviceModels: d.Store, LastSeen: d.LastSeen,
			Certificates: signer, OCSP: ocsp, AlertSeverity: alertLevel, Alerts: alerts, DataTransfers: transfers, SecurityEvents: events,
			Charging: d.Store, Planner: d.EVNeeds, Costs: costs, DisplayMessages: displaymessage.Messages{Store: d.Store, Now: d.Now},
			ReportLimits: d.ReportLimits, Logger: r.log}),
	}
	return r
}

// HandleUpstream is the bus.Handler for ConsumeUpstream. It returns an error
// only when the outcome could not be made durable (the reply could not be
// published, or a connection event could not be stored), so that the bus
// redelivers; everything a charger got wrong is answered, not retried.
func (r *Router) HandleUpstream(ctx context.Context, env *busv1.Envelope) error {
	log := r.log.With("station", env.GetStationId(), "gateway", env.GetGatewayId(), "connection", env.GetConnectionId())
	switch env.GetKind() {
	case busv1.Kind_KIND_FRAME:
		return r.handleFrame(ctx, r.frameLogs.Get(env.GetConnectionId()).Logger(log), env)
	case busv1.Kind_KIND_CONNECTED:
		// A new connection starts from the database's standing.
		r.standings.forget(env.GetStationId())
		applied, err := r.store.MarkConnected(ctx, r.connectionEvent(env))
		if err != nil {
			return fmt.Errorf("ocpp: mark %s connected: %w", env.GetStationId(), err)
		}
		log.Debug("station connected", "applied", applied)
		if applied {
			r.publishConnection(event.StationConnected, env)
		}
		return nil
	case busv1.Kind_KIND_DISCONNECTED:
		applied, err := r.store.MarkDisconnected(ctx, r.connectionEvent(env))
		if err != nil {
			return fmt.Errorf("ocpp: mark %s disconnected: %w", env.GetStationId(), err)
		}
		// Not applied: a newer connection already replaced this one.
		log.Debug("station disconnected", "applied", applied, "reason", env.GetReason())
		if n := r.frameLogs.Forget(env.GetConnectionId()); n > 0 {
			log.Info("frame log lines of the connection were suppressed", logbound.SuppressedKey, n)
		}
		if applied {
			r.publishConnection(event.StationDisconnected, env)
		}
		return nil
	default:
		log.Warn("dropping upstream envelope of unexpected kind", "kind", env.GetKind().String())
		return nil
	}
}

// ConnectionPayload is the payload of station.connected and
// station.disconnected.
type ConnectionPayload struct {
	GatewayID    string `json:"gatewayId"`
	ConnectionID string `json:"connectionId"`
	OCPPVersion  string `json:"ocppVersion,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

func (r *Router) publishConnection(t event.Type, env *busv1.Envelope) {
	if r.events == nil {
		return
	}
	ce := r.connectionEvent(env)
	p := ConnectionPayload{GatewayID: ce.GatewayID, ConnectionID: ce.ConnectionID, Reason: env.GetReason()}
	if ce.OCPPVersion != 0 {
		p.OCPPVersion = ce.OCPPVersion.String()
	}
	r.events.Publish(event.New(t, ce.At, ce.StationID, p))
}

func (r *Router) connectionEvent(env *busv1.Envelope) store.ConnectionEvent {
	at := r.now()
	if env.GetReceivedAt() != nil {
		at = env.GetReceivedAt().AsTime()
	}
	v, _ := bus.VersionOf(env)
	return store.ConnectionEvent{
		StationID:    env.GetStationId(),
		GatewayID:    env.GetGatewayId(),
		ConnectionID: env.GetConnectionId(),
		OCPPVersion:  v,
		At:           at,
	}
}

// callError is an answer the router gives instead of a handler's response.
type callError struct {
	code        ocppj.ErrorCode
	description string
}

func (r *Router) handleFrame(ctx context.Context, log *slog.Logger, env *busv1.Envelope) error {
	v, ok := bus.VersionOf(env)
	if !ok {
		// Without a version there is no error vocabulary to answer in; the
		// gateway only forwards frames of negotiated connections.
		log.Error("dropping frame without OCPP version", "ocpp_version", env.GetOcppVersion().String())
		return nil
	}
	f, err := ocppj.Parse(env.GetFrame())
	if err != nil {
		var pe *ocppj.ParseError
		if !errors.As(err, &pe) {
			log.Error("dropping unreadable frame", "err", err)
			return nil
		}
		code, answer := pe.Answer(v)
		log.Warn("bad frame", "err", err, "answered", answer)
		if !answer {
			return nil
		}
		if err := r.reply(ctx, env, pe.ID, "", nil, &callError{code: code, description: pe.Reason}); err != nil {
			return err
		}
		r.metrics.Message(v, metrics.Other, metrics.ChargerToCSMS, string(code))
		return nil
	}
	if f.Type != ocppj.Call {
		// Answers to the core's CALLs go to the core instance's reply
		// queue, never upstream.
		log.Warn("dropping non-CALL frame sent upstream", "type", int(f.Type), "message_id", f.ID)
		return nil
	}
	// The real clock: Now may be a test's fixed one.
	start := time.Now()
	ctx, span := tracing.Tracer().Start(ctx, "ocpp handle "+metrics.ActionLabel(v, f.Action), trace.WithSpanKind(trace.SpanKindConsumer))
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(attribute.String("ocpp.action", truncate.Bytes(f.Action, 64)), attribute.String("ocpp.message_id", f.ID),
			attribute.String("ocpp.station_id", env.GetStationId()), attribute.String("ocpp.version", v.String()))
	}
	log = log.With("action", f.Action, "message_id", f.ID)
	// What is recorded of the CALL (the message log, events and so
	// webhooks) has no secret: e.g. a NotifyReport that shows a password,
	// a DataTransfer whose data holds one.
	recordedReq, recorded := redact.Frame(f, env.GetFrame())
	if !r.msgsSkip[f.Action] {
		r.logMessage(env, store.DirectionIn, store.MessageCall, f.ID, f.Action, recorded)
	}
	var after route.FollowUps
	resp, cerr := r.call(ctx, log, v, env, f, &after)
	if cerr != nil {
		log.InfoContext(ctx, "answering CALL with an error", "code", string(cerr.code), "description", cerr.description)
		span.SetStatus(codes.Error, string(cerr.code))
	}
	if err := r.reply(ctx, env, f.ID, f.Action, resp, cerr); err != nil {
		return err
	}
	r.metrics.Handled(v, f.Action, time.Since(start))
	if cerr == nil {
		r.metrics.Message(v, f.Action, metrics.ChargerToCSMS, metrics.OutcomeResult)
		after.Run()
		if r.events != nil {
			at := r.now()
			if env.GetReceivedAt() != nil {
				at = env.GetReceivedAt().AsTime()
			}
			recordedResp, _ := redact.JSON(resp)
			r.events.ObserveCall(event.Call{StationID: env.GetStationId(), Version: v, Action: f.Action, Request: recordedReq, Response: recordedResp, At: at})
		}
	} else {
		r.metrics.Message(v, f.Action, metrics.ChargerToCSMS, string(cerr.code))
	}
	return nil
}

// call runs one CALL and returns the response payload or the error to answer.
func (r *Router) call(ctx context.Context, log *slog.Logger, v ocppj.Version, env *busv1.Envelope, f ocppj.Frame, after *route.FollowUps) (json.RawMessage, *callError) {
	rt, ok := r.tables[v][f.Action]
	if !ok {
		if r.schemas.IsCSMSAction(v, f.Action) {
			return nil, &callError{ocppj.CodeNotSupported, fmt.Sprintf("%s is sent by the CSMS, not by a charging station", f.Action)}
		}
		return nil, &callError{ocppj.CodeNotImplemented, fmt.Sprintf("unknown action %q in OCPP %s", f.Action, v)}
	}
	if err := r.schemas.ValidateRequest(v, f.Action, f.Payload); err != nil {
		var ve *schema.ValidationError
		switch {
		case errors.As(err, &ve):
			return nil, &callError{ve.Code, ve.Description}
		case errors.Is(err, schema.ErrUnknownAction):
			return nil, &callError{ocppj.CodeNotImplemented, fmt.Sprintf("unknown action %q in OCPP %s", f.Action, v)}
		default:
			log.ErrorContext(ctx, "schema validation failed", "err", err)
			return nil, &callError{ocppj.CodeInternalError, "validation failed"}
		}
	}

	// Only the standing, not the station with its connectors: this runs
	// for every message.
	st, cached := r.standings.get(env.GetStationId())
	if !cached {
		var err error
		st, err = r.reads.get(ctx, env.GetStationId())
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Deleted while connected: it may no longer talk to us.
			return nil, &callError{ocppj.CodeSecurityError, "station is not registered"}
		case err != nil:
			log.ErrorContext(ctx, "load station", "err", err)
			return nil, &callError{ocppj.CodeInternalError, "temporary failure, retry later"}
		}
		r.standings.put(env.GetStationId(), st)
	}
	if st.Blocked {
		// Its connection is being closed; nothing it sends counts.
		return nil, &callError{ocppj.CodeSecurityError, "station is blocked"}
	}
	if f.Action == "BootNotification" {
		// The boot decides a new registration status: the next message
		// must read it, whatever the handler's outcome.
		defer r.standings.forget(env.GetStationId())
	}
	if !onboarding.Processes(st.RegistrationStatus, f.Action) {
		// Only a Pending station's otherwise refused message of an action
		// some trigger asks for reads the history: accepted stations pay
		// nothing, and what the station sends cannot widen what it may.
		if !onboarding.NeedsTrigger(st.RegistrationStatus, f.Action) {
			return nil, &callError{ocppj.CodeSecurityError, "station is not accepted: send BootNotification"}
		}
		ok, err := r.triggers.allows(ctx, env.GetStationId(), f.Action)
		switch {
		case err != nil:
			log.ErrorContext(ctx, "read the station's triggers", "err", err)
			return nil, &callError{ocppj.CodeInternalError, "temporary failure, retry later"}
		case !ok:
			return nil, &callError{ocppj.CodeSecurityError, "station is not accepted: send BootNotification"}
		}
		log.InfoContext(ctx, "processing a Pending station's triggered message")
	}
	now := r.now()
	switch {
	case r.lastSeen != nil:
		// Coalesced in memory, written in batches: cheap enough for every
		// message.
		if err := r.lastSeen.TouchLastSeen(ctx, env.GetStationId(), now); err != nil {
			log.WarnContext(ctx, "touch last seen", "err", err)
		}
	case st.LastSeen == nil || now.Sub(*st.LastSeen) >= r.touchEvery:
		// Liveness is a side effect: failing to record it must not fail
		// the message itself.
		if err := r.store.TouchLastSeen(ctx, env.GetStationId(), now); err != nil {
			log.WarnContext(ctx, "touch last seen", "err", err)
		} else {
			r.standings.touched(env.GetStationId(), now)
		}
	}

	meta := route.Meta{
		StationID:    env.GetStationId(),
		ConnectionID: env.GetConnectionId(),
		GatewayID:    env.GetGatewayId(),
		MessageID:    f.ID,
		FollowUps:    after,
	}
	if env.GetReceivedAt() != nil {
		meta.ReceivedAt = env.GetReceivedAt().AsTime()
	}
	resp, err := rt.Handle(ctx, meta, f.Payload)
	if err != nil {
		var de *route.DecodeError
		if errors.As(err, &de) {
			return nil, &callError{ocppj.FormatViolation(v), truncate.Bytes(de.Err.Error(), 200)}
		}
		// The charger retries an InternalError; a fake success would lose
		// what it told us.
		log.ErrorContext(ctx, "handler failed", "err", err)
		return nil, &callError{ocppj.CodeInternalError, "temporary failure, retry later"}
	}
	payload, err := json.Marshal(resp)
	if err != nil {
		log.ErrorContext(ctx, "encode response", "err", err)
		return nil, &callError{ocppj.CodeInternalError, "could not encode the response"}
	}
	if r.validate {
		if err := r.schemas.ValidateResponse(v, f.Action, payload); err != nil {
			log.ErrorContext(ctx, "response violates its schema", "err", err, "payload", string(payload))
			return nil, &callError{ocppj.CodeInternalError, "could not build a valid response"}
		}
	}
	return payload, nil
}

// reply sends a CALLRESULT (resp) or CALLERROR (cerr) to the gateway that
// holds the charger's connection. It names the CALL's action when the
// version defines it, for the gateway's latency metric.
func (r *Router) reply(ctx context.Context, env *busv1.Envelope, id, action string, resp json.RawMessage, cerr *callError) error {
	var frame []byte
	var err error
	if cerr != nil {
		frame, err = ocppj.EncodeCallError(id, cerr.code, cerr.description, nil)
	} else {
		frame, err = ocppj.EncodeCallResult(id, resp)
	}
	if err != nil {
		// Encoding our own frame cannot fail for a valid id; if it does,
		// redelivery would fail the same way.
		r.log.Error("encode reply", "station", env.GetStationId(), "message_id", id, "err", err)
		return nil
	}
	out := &busv1.Envelope{
		Kind:         busv1.Kind_KIND_FRAME,
		StationId:    env.GetStationId(),
		GatewayId:    env.GetGatewayId(),
		ConnectionId: env.GetConnectionId(),
		OcppVersion:  env.GetOcppVersion(),
		ReceivedAt:   timestamppb.New(r.now()),
		Trace:        env.GetTrace(),
		Frame:        frame,
		MessageId:    id,
	}
	if v, _ := bus.VersionOf(env); ocppj.KnownAction(v, action) {
		out.Action = action
	}
	if err := r.bus.PublishToGateway(ctx, env.GetGatewayId(), out); err != nil {
		return fmt.Errorf("ocpp: reply to %s via gateway %s: %w", env.GetStationId(), env.GetGatewayId(), err)
	}
	typ := store.MessageCallResult
	if cerr != nil {
		typ = store.MessageCallError
	}
	if !r.msgsSkip[action] {
		if cerr == nil {
			// The CSMS's answer may hold a secret too (a vendor
			// handler's DataTransfer data).
			_, frame = redact.Frame(ocppj.Frame{Type: ocppj.CallResult, ID: id, Payload: resp}, frame)
		}
		r.logMessage(out, store.DirectionOut, typ, id, "", frame)
	}
	return nil
}

func (r *Router) logMessage(env *busv1.Envelope, dir, typ, id, action string, frame []byte) {
	if r.msgs == nil {
		return
	}
	at := r.now()
	if dir == store.DirectionIn && env.GetReceivedAt() != nil {
		at = env.GetReceivedAt().AsTime()
	}
	r.msgs.Log(store.StationMessage{
		StationID: env.GetStationId(), At: at, Direction: dir, MessageType: typ,
		MessageID: id, Action: action, ConnectionID: env.GetConnectionId(), Frame: string(frame),
	})
}
