package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/pkg/bus"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	"github.com/chargeplane/chargeplane/pkg/logbound"
	"github.com/chargeplane/chargeplane/pkg/metrics"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
	"github.com/chargeplane/chargeplane/pkg/outcome"
	"github.com/chargeplane/chargeplane/pkg/tracing"
	"github.com/chargeplane/chargeplane/pkg/truncate"
)

const (
	// maxOutbound bounds frames waiting to be written to one socket. Only a
	// charger that stopped reading fills it; it is then closed rather than
	// allowed to grow the gateway's memory.
	maxOutbound = 256
	// maxQueuedCalls bounds core→charger CALLs waiting behind the outstanding
	// one; more are refused with KIND_CALL_FAILED "queue full".
	maxQueuedCalls = 64
	// maxTimedCalls bounds the charger CALLs timed for the latency metric
	// and traced at once. OCPP allows one; a charger that sends more without
	// waiting gets the rest answered, just not timed.
	maxTimedCalls = 8
)

// conn is one charger's socket. To keep an idle connection cheap it owns a
// single long-lived goroutine (run, the HTTP handler's, which reads). Writes,
// pings and CALL timeouts run on short-lived goroutines and timers that exist
// only while there is work.
type conn struct {
	s       *Server
	ws      *websocket.Conn
	station string
	id      string
	version ocppj.Version
	log     *slog.Logger
	// frameLog is log for the lines the charger's frames cause, limited
	// per connection so that a flood of bad frames writes a few lines.
	frameLog *slog.Logger
	logLimit *logbound.Limiter

	// lastRead is the monotonic time (relative to born) of the last message
	// read: any message proves the charger alive, so pings are only sent
	// after PingInterval of silence.
	born     time.Time
	lastRead atomic.Int64

	// readCtx bounds the reader's Read; cancelling it drops the socket at
	// once, even while a close handshake is waiting for the peer.
	readCtx    context.Context
	cancelRead context.CancelFunc

	mu sync.Mutex
	// dead is set once the read loop ended; after that nothing new starts.
	dead    bool
	closing bool
	reason  string
	// wg counts the short-lived goroutines; Add only under mu while !dead,
	// so the final Wait in run never races an Add.
	wg sync.WaitGroup

	out     []outFrame // frames waiting for the writer
	writing bool       // a writer goroutine is draining out

	queue       []*coreCall // core CALLs waiting for the outstanding one
	outstanding *coreCall
	callTimer   *time.Timer
	pingTimer   *time.Timer

	// timed holds when each charger CALL waiting for the core's answer was
	// read, and its span, by message id.
	timed map[string]timedCall
}

// timedCall is a charger CALL waiting for the core's answer.
type timedCall struct {
	at   time.Time
	span trace.Span // "ocpp receive", ended once the answer is written
}

// outFrame is a frame for the socket and the spans that end once it is
// written (or dropped).
type outFrame struct {
	data  []byte
	spans []trace.Span
}

// endSpans ends the spans of frames that will never be written.
func endSpans(frames []outFrame) {
	for _, f := range frames {
		for _, sp := range f.spans {
			sp.SetStatus(codes.Error, "not written")
			sp.End()
		}
	}
}

// coreCall is a core-initiated CALL queued on a connection.
type coreCall struct {
	id      string
	frame   []byte
	replyTo string
	expires time.Time  // zero: CallTimeout after sending
	span    trace.Span // "ocpp call", from the core's publish to the charger's answer
}

func newConn(s *Server, ws *websocket.Conn, station, id string, v ocppj.Version, log *slog.Logger) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	lim := logbound.NewLimiter(logbound.DefaultLimit, s.cfg.Now)
	return &conn{s: s, ws: ws, station: station, id: id, version: v, log: log, frameLog: lim.Logger(log), logLimit: lim,
		born: time.Now(), readCtx: ctx, cancelRead: cancel}
}

func (c *conn) envelope(kind busv1.Kind, at time.Time) *busv1.Envelope {
	return &busv1.Envelope{
		Kind:         kind,
		StationId:    c.station,
		GatewayId:    c.s.cfg.GatewayID,
		ConnectionId: c.id,
		OcppVersion:  bus.EnvelopeVersion(c.version),
		ReceivedAt:   timestamppb.New(at),
	}
}

// run owns the connection from the upgrade until it is closed and its
// disconnection published.
func (c *conn) run() {
	// Registered before CONNECTED is published: once the core hears of the
	// connection it may at once send a CALL or a close request for it.
	old, ok := c.s.register(c)
	if !ok {
		_ = c.ws.Close(websocket.StatusGoingAway, "gateway shutting down")
		c.s.publishDisconnected(c.log, c.station, c.id, c.version, "gateway shutting down")
		return
	}
	if old != nil {
		old.log.Info("replaced by a newer connection on this gateway", "new_connection", c.id)
		old.closeWith(websocket.StatusPolicyViolation, "replaced by a newer connection")
	}
	// CONNECTED goes on the station's upstream partition before any frame
	// of this socket, so the core sees them in order.
	ctx, cancel := publishCtx()
	err := c.s.bus.PublishUpstream(ctx, c.envelope(busv1.Kind_KIND_CONNECTED, c.s.cfg.Now()))
	cancel()
	if err != nil {
		c.log.Error("could not publish connection; closing so the station retries", "err", err)
		c.closeWith(websocket.StatusTryAgainLater, "central system unavailable")
	} else {
		c.log.Info("station connected", "version", c.version.String())
	}

	c.touch()
	c.armPing(c.s.cfg.PingInterval)
	c.readLoop()

	c.s.unregister(c)
	c.mu.Lock()
	c.dead = true
	// Their callers learn at once that no answer will come.
	unanswered := c.queue
	if c.outstanding != nil {
		c.log.Info("core CALL unanswered at disconnect", "message_id", c.outstanding.id)
		unanswered = append([]*coreCall{c.outstanding}, unanswered...)
		c.outstanding = nil
	}
	endSpans(c.out)
	for _, tc := range c.timed {
		tc.span.SetStatus(codes.Error, "connection closed before the answer")
		tc.span.End()
	}
	c.out, c.queue, c.timed = nil, nil, nil
	if c.callTimer != nil {
		c.callTimer.Stop()
	}
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
	reason := c.reason
	c.mu.Unlock()
	_ = c.ws.CloseNow()
	c.wg.Wait()
	c.failCalls(unanswered, outcome.ConnectionClosed)

	args := []any{"reason", reason}
	if n := c.logLimit.Suppressed(); n > 0 {
		args = append(args, logbound.SuppressedKey, n) // dropped since the last frame line
	}
	c.log.Info("station disconnected", args...)
	c.s.publishDisconnected(c.log, c.station, c.id, c.version, reason)
}

func (c *conn) readLoop() {
	defer c.cancelRead()
	violated := false
	for {
		typ, data, err := c.ws.Read(c.readCtx)
		if err != nil {
			switch {
			case errors.Is(err, websocket.ErrMessageTooBig):
				c.setReason("message too big")
			case websocket.CloseStatus(err) != -1:
				c.setReason("closed by station: " + websocket.CloseStatus(err).String())
			default:
				c.setReason("connection lost")
			}
			return
		}
		if violated {
			// Closing: what it sends until its close frame is not
			// processed, but is read so that the handshake completes.
			continue
		}
		c.touch()
		if typ == websocket.MessageText && !utf8.Valid(data) {
			// RFC 6455 section 8.1: fail the connection with 1007. The
			// payload is not logged: it is not text.
			violated = true
			c.frameLog.Warn("text frame is not valid UTF-8: closing with 1007", "bytes", len(data))
			c.s.cfg.Metrics.Violation(metrics.ViolationInvalidUTF8)
			c.closeWith(websocket.StatusInvalidFramePayloadData, "text frame is not valid UTF-8")
			continue
		}
		c.handleFrame(data)
	}
}

func (c *conn) handleFrame(data []byte) {
	at := c.s.cfg.Now()
	f, err := ocppj.Parse(data)
	if err != nil {
		var pe *ocppj.ParseError
		if !errors.As(err, &pe) {
			c.frameLog.Error("frame parser failed", "err", err)
			return
		}
		code, answer := pe.Answer(c.version)
		c.frameLog.Warn("malformed frame", "err", err, "answered", answer)
		if answer {
			c.sendError(pe.ID, code, pe.Reason)
		}
		return
	}

	switch f.Type {
	case ocppj.Call:
		env := c.envelope(busv1.Kind_KIND_FRAME, at)
		env.MessageId = f.ID
		env.Action = f.Action // the bus picks the message's durability by it
		env.Frame = data
		// The root of the CALL's trace, ended when its answer is written.
		ctx, span := tracing.Tracer().Start(context.Background(), "ocpp receive "+metrics.ActionLabel(c.version, f.Action), trace.WithSpanKind(trace.SpanKindServer))
		if span.IsRecording() {
			span.SetAttributes(attribute.String("ocpp.action", truncate.Bytes(f.Action, 64)), attribute.String("ocpp.message_id", f.ID),
				attribute.String("ocpp.station_id", c.station), attribute.String("ocpp.version", c.version.String()),
				attribute.String("gateway.id", c.s.cfg.GatewayID))
		}
		if !c.time(f.ID, span) {
			span.End() // not kept: ends now, without the answer
		}
		ctx, cancel := publishCtxFrom(ctx)
		err := c.s.bus.PublishUpstream(ctx, env)
		cancel()
		if err != nil {
			if sp := c.untime(f.ID); sp != nil {
				sp.SetStatus(codes.Error, "not forwarded")
				sp.End()
			}
			// The charger retries a CALL answered with an error; silence
			// would leave it waiting for its own timeout.
			c.frameLog.ErrorContext(ctx, "could not forward CALL", "action", f.Action, "message_id", f.ID, "err", err)
			c.sendError(f.ID, ocppj.CodeInternalError, "central system temporarily unavailable; retry later")
		}
	case ocppj.CallResult, ocppj.CallError:
		cc := c.takeOutstanding(f.ID)
		if cc == nil {
			c.frameLog.Info("unmatched answer dropped", "message_id", f.ID, "type", f.Type)
			return
		}
		env := c.envelope(busv1.Kind_KIND_FRAME, at)
		env.MessageId = f.ID
		env.Frame = data
		ctx, cancel := publishCtxFrom(trace.ContextWithSpan(context.Background(), cc.span))
		err := c.s.bus.PublishToCore(ctx, cc.replyTo, env)
		cancel()
		if err != nil {
			c.frameLog.ErrorContext(ctx, "could not forward answer to core", "message_id", f.ID, "core", cc.replyTo, "err", err)
			cc.span.SetStatus(codes.Error, "answer not forwarded")
		} else if f.Type == ocppj.CallError {
			cc.span.SetStatus(codes.Error, "CALLERROR")
		}
		cc.span.End()
	default:
		c.frameLog.Info("frame type not handled, dropped", "type", f.Type, "message_id", f.ID)
	}
}

// time keeps when the charger CALL id was read (the real clock: Now may be
// a test's fixed one) and its span, for the latency metric and the trace.
// It reports whether it kept them.
func (c *conn) time(id string, span trace.Span) bool {
	if c.s.cfg.Metrics == nil && !span.IsRecording() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timed == nil {
		c.timed = make(map[string]timedCall)
	}
	now := time.Now()
	if len(c.timed) >= maxTimedCalls {
		// Answers that never came (a redelivery answered on another
		// socket) must not stop the timing for good.
		for k, tc := range c.timed {
			if now.Sub(tc.at) > c.s.cfg.CallTimeout {
				tc.span.SetStatus(codes.Error, "no answer")
				tc.span.End()
				delete(c.timed, k)
			}
		}
	}
	if len(c.timed) >= maxTimedCalls {
		return false
	}
	c.timed[id] = timedCall{at: now, span: span}
	return true
}

// untime forgets the charger CALL id and returns its span, if kept.
func (c *conn) untime(id string) trace.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	tc, ok := c.timed[id]
	if !ok {
		return nil
	}
	delete(c.timed, id)
	return tc.span
}

// answered queues the core's answer frame to the charger CALL id, whose
// action the core names, observes the round trip and traces the send as a
// child of the answer's trace context in ctx.
func (c *conn) answered(ctx context.Context, id, action string, frame []byte) {
	c.mu.Lock()
	tc, ok := c.timed[id]
	delete(c.timed, id)
	c.mu.Unlock()
	if ok && c.s.cfg.Metrics != nil {
		c.s.cfg.Metrics.Answered(c.version, action, time.Since(tc.at))
	}
	_, span := tracing.Tracer().Start(ctx, "ocpp send", trace.WithSpanKind(trace.SpanKindProducer))
	if span.IsRecording() {
		span.SetAttributes(attribute.String("ocpp.message_id", id), attribute.String("ocpp.station_id", c.station))
	}
	if ok {
		c.send(frame, span, tc.span)
		return
	}
	c.send(frame, span)
}

func (c *conn) sendError(id string, code ocppj.ErrorCode, desc string) {
	b, err := ocppj.EncodeCallError(id, code, desc, nil)
	if err != nil {
		c.log.Error("could not encode CALLERROR", "err", err)
		return
	}
	c.send(b)
}

func (c *conn) touch() {
	c.lastRead.Store(int64(time.Since(c.born)))
}

func (c *conn) setReason(r string) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = r
	}
	c.mu.Unlock()
}

// goLocked starts f on a tracked goroutine unless the connection is dead.
// c.mu must be held.
func (c *conn) goLocked(f func()) bool {
	if c.dead {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// send queues a frame for the socket; it never blocks on the network.
// spans end once the frame is written or dropped.
func (c *conn) send(frame []byte, spans ...trace.Span) {
	c.mu.Lock()
	c.sendLocked(frame, spans...)
	c.mu.Unlock()
}

func (c *conn) sendLocked(frame []byte, spans ...trace.Span) {
	if c.dead {
		endSpans([]outFrame{{spans: spans}})
		return
	}
	if len(c.out) >= maxOutbound {
		if c.reason == "" {
			c.reason = "station not reading"
		}
		c.log.Warn("station is not reading its socket; closing")
		endSpans(c.out)
		endSpans([]outFrame{{spans: spans}})
		c.out = nil
		c.cancelRead()
		return
	}
	c.out = append(c.out, outFrame{data: frame, spans: spans})
	if !c.writing {
		c.writing = c.goLocked(c.writeOut)
	}
}

// writeOut writes queued frames in order and exits when the queue is empty,
// so an idle connection has no writer goroutine.
func (c *conn) writeOut() {
	for {
		c.mu.Lock()
		if c.dead || len(c.out) == 0 {
			c.writing = false
			endSpans(c.out)
			c.out = nil
			c.mu.Unlock()
			return
		}
		frame := c.out[0]
		c.out[0] = outFrame{}
		c.out = c.out[1:]
		c.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		err := c.ws.Write(ctx, websocket.MessageText, frame.data)
		cancel()
		if err != nil {
			endSpans([]outFrame{frame})
			c.log.Info("write failed; closing", "err", err)
			c.abort("write failed")
			c.mu.Lock()
			c.writing = false
			endSpans(c.out)
			c.out = nil
			c.mu.Unlock()
			return
		}
		for _, sp := range frame.spans {
			sp.End()
		}
	}
}

// closeWith closes the socket with a close handshake, without blocking the
// caller (the handshake waits for the peer).
func (c *conn) closeWith(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead || c.closing {
		return
	}
	c.closing = true
	if c.reason == "" {
		c.reason = reason
	}
	c.goLocked(func() { _ = c.ws.Close(code, reason) })
}

// abort drops the socket without a handshake, also one already closing.
func (c *conn) abort(reason string) {
	c.setReason(reason)
	c.cancelRead()
}

// armPing schedules the next liveness check. A timer costs no goroutine
// while it waits, which matters with tens of thousands of idle sockets.
func (c *conn) armPing(d time.Duration) {
	if c.s.cfg.PingInterval <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return
	}
	if c.pingTimer == nil {
		c.pingTimer = time.AfterFunc(d, c.pingTick)
		return
	}
	c.pingTimer.Reset(d)
}

func (c *conn) pingTick() {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()

	interval := c.s.cfg.PingInterval
	idle := time.Since(c.born) - time.Duration(c.lastRead.Load())
	if idle < interval {
		c.armPing(interval - idle)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.s.cfg.PingTimeout)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		c.log.Info("no pong in time; closing", "err", err)
		c.abort("no pong")
		return
	}
	c.armPing(interval)
}

// enqueueCall queues a core-initiated CALL; OCPP allows one outstanding
// CALL per direction, so it is sent once the previous one is settled.
func (c *conn) enqueueCall(ctx context.Context, id, action string, env *busv1.Envelope) {
	_, span := tracing.Tracer().Start(ctx, "ocpp call "+metrics.ActionLabel(c.version, action), trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(attribute.String("ocpp.action", truncate.Bytes(action, 64)), attribute.String("ocpp.message_id", id),
			attribute.String("ocpp.station_id", c.station), attribute.String("gateway.id", c.s.cfg.GatewayID))
	}
	cc := &coreCall{id: id, frame: env.GetFrame(), replyTo: env.GetReplyTo(), span: span}
	if env.GetExpiresAt() != nil {
		cc.expires = env.GetExpiresAt().AsTime()
	}
	c.mu.Lock()
	switch {
	case c.dead:
		c.mu.Unlock()
		c.failCalls([]*coreCall{cc}, outcome.ConnectionClosed)
		return
	case len(c.queue) >= maxQueuedCalls:
		c.mu.Unlock()
		c.log.Warn("core CALL queue full; CALL refused", "message_id", id)
		c.failCalls([]*coreCall{cc}, outcome.QueueFull)
		return
	}
	c.queue = append(c.queue, cc)
	expired := c.sendNextLocked()
	c.mu.Unlock()
	c.failCalls(expired, outcome.Expired)
}

// sendNextLocked sends the next queued CALL unless one is outstanding. It
// returns the CALLs it skipped because their callers had given up; the
// caller reports them (failCalls) once it released c.mu.
func (c *conn) sendNextLocked() (expired []*coreCall) {
	for c.outstanding == nil && len(c.queue) > 0 && !c.dead {
		cc := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		if len(c.queue) == 0 {
			c.queue = nil
		}
		timeout := c.s.cfg.CallTimeout
		if !cc.expires.IsZero() {
			timeout = cc.expires.Sub(c.s.cfg.Now())
			if timeout <= 0 {
				// Its caller gave up already: sending it would act on a
				// command nobody waits for.
				c.log.Info("expired core CALL not sent", "message_id", cc.id)
				expired = append(expired, cc)
				continue
			}
		}
		c.outstanding = cc
		c.callTimer = time.AfterFunc(timeout, func() { c.callTimedOut(cc) })
		c.sendLocked(cc.frame)
	}
	return expired
}

func (c *conn) callTimedOut(cc *coreCall) {
	c.mu.Lock()
	if c.outstanding != cc {
		c.mu.Unlock()
		return
	}
	c.log.Warn("core CALL not answered in time", "message_id", cc.id)
	c.outstanding = nil
	expired := c.sendNextLocked()
	c.mu.Unlock()
	c.failCalls([]*coreCall{cc}, outcome.NoAnswer)
	c.failCalls(expired, outcome.Expired)
}

// takeOutstanding settles the outstanding core CALL if id is its id.
func (c *conn) takeOutstanding(id string) *coreCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	cc := c.outstanding
	if cc == nil || cc.id != id {
		return nil
	}
	c.outstanding = nil
	c.callTimer.Stop()
	expired := c.sendNextLocked()
	if len(expired) > 0 {
		// Rare (a CALL waited past its caller's patience): report without
		// holding c.mu, on a tracked goroutine so the reader is not held up.
		c.goLocked(func() { c.failCalls(expired, outcome.Expired) })
	}
	return cc
}

// failCalls tells the waiting core instance of each CALL that it will get
// no answer, so its caller learns at once instead of by its own timeout.
// Never call it with c.mu held: it publishes.
func (c *conn) failCalls(calls []*coreCall, reason outcome.Reason) {
	for _, cc := range calls {
		cc.span.SetStatus(codes.Error, string(reason))
		c.s.publishCallFailed(trace.ContextWithSpan(context.Background(), cc.span), c.log, c.station, c.id, c.version, cc.id, cc.replyTo, reason)
		cc.span.End()
	}
}
