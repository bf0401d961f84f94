// Package server is the Chargeplane gateway: it holds chargers' OCPP-J
// WebSocket connections, asks the core whether to admit them, forwards every
// frame it reads to the core over the bus without looking inside the
// payload, and writes the core's replies and commands back to the right
// socket.
//
// The same library runs as the standalone gateway binary and embedded in the
// api process.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/pkg/bus"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
	"github.com/chargeplane/chargeplane/pkg/logbound"
	"github.com/chargeplane/chargeplane/pkg/metrics"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
	"github.com/chargeplane/chargeplane/pkg/outcome"
	"github.com/chargeplane/chargeplane/pkg/truncate"
)

// PathPrefix is where chargers connect: PathPrefix + percent-encoded identity.
const PathPrefix = "/ocpp/"

const (
	// admitTimeout bounds the admission call: a charger's HTTP handshake
	// should not hang because the core is slow.
	admitTimeout = 10 * time.Second
	// publishTimeout bounds one bus publish. Publishes run on a context that
	// a closing socket or Shutdown does not cancel, so nothing in flight is
	// abandoned half-way.
	publishTimeout = 15 * time.Second
	// writeTimeout bounds one socket write; a charger that does not read for
	// that long is treated as gone.
	writeTimeout = 10 * time.Second
	// disconnectAttempts is how often a DISCONNECTED event is retried when
	// the bus fails, with exponential back-off from disconnectBackoff.
	disconnectAttempts = 5
	disconnectBackoff  = 200 * time.Millisecond
)

// Server is one gateway. Create it with New, call Start, serve it over HTTP,
// and call Shutdown to drain.
type Server struct {
	cfg Config
	bus bus.Bus
	ctl Control
	log *slog.Logger

	mu       sync.Mutex
	conns    map[string]*conn // station id → its current connection on this gateway
	draining bool
	// handlers counts ServeHTTP calls on the OCPP path. Add happens under mu
	// and only while !draining, so Shutdown's Wait never races an Add from 0.
	handlers sync.WaitGroup

	startMu   sync.Mutex
	started   bool
	stopRun   context.CancelFunc
	leaseDone chan struct{}
}

// New returns a gateway publishing on b and asking ctl for admissions.
func New(cfg Config, b bus.Bus, ctl Control) *Server {
	cfg = cfg.withDefaults()
	// Chargers choose much of what is logged (ids, headers, frames): every
	// value is bounded.
	return &Server{
		cfg:   cfg,
		bus:   b,
		ctl:   ctl,
		log:   logbound.Clipped(cfg.Logger).With("gateway", cfg.GatewayID),
		conns: make(map[string]*conn),
	}
}

// GatewayID returns the id this gateway uses on the bus.
func (s *Server) GatewayID() string { return s.cfg.GatewayID }

// Draining reports whether Shutdown has begun; a health check should then
// fail so load balancers stop sending new chargers here.
func (s *Server) Draining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// Start subscribes this gateway's bus queue and starts renewing its lease
// with the core. It returns once the queue is consumed. The subscription and
// the lease live until Shutdown, or until ctx is done.
func (s *Server) Start(ctx context.Context) error {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.started {
		return errors.New("gateway: already started")
	}
	runCtx, cancel := context.WithCancel(ctx)
	if err := s.bus.ConsumeGateway(runCtx, s.cfg.GatewayID, s.handleDownstream); err != nil {
		cancel()
		return fmt.Errorf("gateway: consume queue of %s: %w", s.cfg.GatewayID, err)
	}
	s.started = true
	s.stopRun = cancel
	s.leaseDone = make(chan struct{})
	go s.renewLeases(runCtx)
	return nil
}

// renewLeases keeps the core from declaring this gateway's connections dead.
// Renewing at a third of the TTL survives two lost renewals in a row.
func (s *Server) renewLeases(ctx context.Context) {
	defer close(s.leaseDone)
	every := s.cfg.LeaseTTL / 3
	ttl := int32(math.Ceil(s.cfg.LeaseTTL.Seconds()))
	t := time.NewTicker(every)
	defer t.Stop()
	held := false // a renewal has succeeded before
	for {
		callCtx, cancel := context.WithTimeout(ctx, every)
		resp, err := s.ctl.RenewLease(callCtx, &gatewayv1.RenewLeaseRequest{GatewayId: s.cfg.GatewayID, TtlSeconds: ttl})
		cancel()
		switch {
		case err != nil:
			if ctx.Err() == nil {
				s.log.Warn("lease renewal failed", "err", err)
			}
		case resp.GetNewLease():
			s.leaseLost(held)
		}
		held = held || err == nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// leaseLost handles a renewal that started a new lease. Unless it is the
// gateway's first, the previous lease expired (renewals failed for longer
// than the TTL: the core was down or out of reach, or this process
// starved): the core has marked the stations on this gateway disconnected
// and forgotten their connections, while their sockets are still open and
// nothing would ever mark them connected again. Closing the sockets with
// 1012 (service restart) has the chargers reconnect, and admission records
// them afresh; the core's admission bounds and Retry-After pace the burst.
// Sockets admitted meanwhile may be closed needlessly: one extra reconnect.
// They are closed on a first renewal too: the core cannot tell it from a
// lost lease, and a socket admitted before it is normally none. A draining
// gateway is closing its sockets anyway, gradually.
func (s *Server) leaseLost(held bool) {
	s.mu.Lock()
	draining := s.draining
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if held {
		s.cfg.Metrics.LeaseLost()
		s.log.Warn("lease had expired: the core marked this gateway's stations disconnected; closing their sockets with 1012 so that they reconnect",
			"sockets", len(conns), "draining", draining)
	} else if len(conns) > 0 {
		s.log.Info("first lease: closing the sockets admitted before it with 1012 so that they reconnect", "sockets", len(conns), "draining", draining)
	}
	if draining {
		return
	}
	reason := "gateway lease expired"
	if !held {
		reason = "gateway lease started"
	}
	for _, c := range conns {
		c.closeWith(websocket.StatusServiceRestart, reason)
	}
}

// Shutdown drains the gateway: new handshakes get 503, open sockets are
// closed with 1001 (going away) spread over DrainWindow so chargers reconnect
// elsewhere gradually, their disconnections are published, and in-flight
// publishes finish. Then the bus subscription and the lease stop. If ctx ends
// first, the remaining sockets are closed at once and ctx's error returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	window := s.cfg.DrainWindow
	if dl, ok := ctx.Deadline(); ok {
		// Leave half of the caller's budget for the disconnections to be
		// published after the last close.
		if left := time.Until(dl) / 2; left < window {
			window = max(left, 0)
		}
	}
	s.log.Info("draining", "connections", len(conns), "window", window)

	var err error
	if len(conns) > 0 {
		step := window / time.Duration(len(conns))
		t := time.NewTimer(0)
		<-t.C
	closing:
		for i, c := range conns {
			c.closeWith(websocket.StatusGoingAway, "gateway shutting down")
			if i == len(conns)-1 || step <= 0 {
				continue
			}
			t.Reset(step)
			select {
			case <-t.C:
			case <-ctx.Done():
				for _, rest := range conns[i+1:] {
					rest.closeWith(websocket.StatusGoingAway, "gateway shutting down")
				}
				break closing
			}
		}
		t.Stop()
	}

	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("gateway: drain: %w", ctx.Err())
		s.mu.Lock()
		for _, c := range s.conns {
			c.abort("gateway shutdown deadline")
		}
		s.mu.Unlock()
	}

	s.startMu.Lock()
	if s.started {
		s.stopRun()
		<-s.leaseDone
	}
	s.startMu.Unlock()
	return err
}

// ServeHTTP serves PathPrefix + {stationId}.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	stationID, status, msg := parseStationPath(r.URL)
	if status != 0 {
		http.Error(w, msg, status)
		return
	}
	if !isWebSocketUpgrade(r) {
		// Checked before admission so a plain GET never creates a connection
		// record in the core.
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "expected a WebSocket upgrade", http.StatusUpgradeRequired)
		return
	}

	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		s.cfg.Metrics.Admission(metrics.AdmissionDraining)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "gateway is shutting down", http.StatusServiceUnavailable)
		return
	}
	s.handlers.Add(1)
	s.mu.Unlock()

	if !s.serveStation(w, r, stationID) {
		s.handlers.Done()
	}
}

// serveStation admits and upgrades the connection. It reports whether it
// handed the connection to a goroutine of its own, which then owns the
// s.handlers count.
func (s *Server) serveStation(w http.ResponseWriter, r *http.Request, stationID string) (handedOff bool) {
	log := s.log.With("station", stationID)
	offered, version := chooseSubprotocol(r.Header)

	req := &gatewayv1.AdmitConnectionRequest{
		GatewayId:   s.cfg.GatewayID,
		StationId:   stationID,
		Subprotocol: version.Subprotocol(),
		RemoteAddr:  r.RemoteAddr,
	}
	if user, pass, ok := r.BasicAuth(); ok {
		req.HasBasicAuth, req.Username, req.Password = true, user, pass
	}
	tr := s.transportOf(r)
	tr.fill(req)
	if len(tr.ignored) > 0 {
		log.Warn("proxy headers from an untrusted address ignored", "headers", tr.ignored, "remote", r.RemoteAddr)
	}
	admitCtx, cancel := context.WithTimeout(r.Context(), admitTimeout)
	resp, err := s.ctl.AdmitConnection(admitCtx, req)
	cancel()
	if err != nil {
		log.Error("admission failed", "err", err)
		s.cfg.Metrics.Admission(metrics.AdmissionCoreError)
		http.Error(w, "central system unavailable", http.StatusServiceUnavailable)
		return false
	}
	switch resp.GetDecision() {
	case gatewayv1.Decision_DECISION_ACCEPTED:
		if resp.GetConnectionId() == "" {
			log.Error("core accepted a connection without a connection id")
			s.cfg.Metrics.Admission(metrics.AdmissionCoreError)
			http.Error(w, "central system unavailable", http.StatusServiceUnavailable)
			return false
		}
	case gatewayv1.Decision_DECISION_UNKNOWN_STATION:
		log.Info("unknown station refused", "reason", resp.GetReason(), "remote", r.RemoteAddr)
		s.cfg.Metrics.Admission(metrics.AdmissionUnknownStation)
		http.Error(w, "unknown charging station", http.StatusNotFound)
		return false
	case gatewayv1.Decision_DECISION_UNAUTHORIZED:
		log.Warn("station refused", append([]any{"reason", resp.GetReason(), "remote", r.RemoteAddr, "tls", tr.tls}, certSubject(tr.cert)...)...)
		s.cfg.Metrics.Admission(metrics.AdmissionUnauthorized)
		w.Header().Set("WWW-Authenticate", `Basic realm="chargeplane", charset="UTF-8"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return false
	case gatewayv1.Decision_DECISION_TRY_LATER:
		log.Warn("station told to come back later", "reason", resp.GetReason(), "remote", r.RemoteAddr)
		s.cfg.Metrics.Admission(metrics.AdmissionTryLater)
		w.Header().Set("Retry-After", strconv.Itoa(int(max(resp.GetRetryAfterSeconds(), 1))))
		http.Error(w, "try again later", http.StatusServiceUnavailable)
		return false
	default:
		log.Error("core gave no admission decision", "decision", resp.GetDecision(), "reason", resp.GetReason())
		s.cfg.Metrics.Admission(metrics.AdmissionCoreError)
		http.Error(w, "central system unavailable", http.StatusServiceUnavailable)
		return false
	}
	connID := resp.GetConnectionId()
	log = log.With("connection", connID)

	opts := &websocket.AcceptOptions{
		// Chargers are not browsers; origin checks protect cookies we do not use.
		InsecureSkipVerify: true,
		// OCPP 2.0.1 requires permessage-deflate. Without context takeover
		// an idle connection holds no compression state at all.
		CompressionMode: websocket.CompressionNoContextTakeover,
	}
	if offered != "" {
		// coder/websocket picks in the server's order; passing only the
		// charger's own first choice makes the charger's order win.
		opts.Subprotocols = []string{offered}
	}
	ws, err := websocket.Accept(smallBuffers{w}, r, opts)
	if err != nil {
		log.Warn("websocket handshake failed", "err", err)
		s.cfg.Metrics.Admission(metrics.AdmissionHandshake)
		s.publishDisconnected(log, stationID, connID, version, "handshake failed")
		return false
	}

	if version == 0 {
		// OCPP-J: finish the handshake without a subprotocol, then close.
		log.Warn("no supported OCPP subprotocol offered", "offered", r.Header.Values("Sec-WebSocket-Protocol"))
		s.cfg.Metrics.Admission(metrics.AdmissionNoSubprotocol)
		_ = ws.Close(websocket.StatusProtocolError, "no supported OCPP subprotocol")
		s.publishDisconnected(log, stationID, connID, version, "no supported subprotocol")
		return false
	}
	ws.SetReadLimit(s.cfg.MaxMessageBytes)
	s.cfg.Metrics.Admission(metrics.AdmissionAccepted)

	c := newConn(s, ws, stationID, connID, version, log)
	// Not on net/http's goroutine: returning from ServeHTTP after the
	// hijack lets net/http drop the request, response and buffers it keeps
	// for the goroutine's life; the connection needs none of them.
	go func() {
		defer s.handlers.Done()
		c.run()
	}()
	return true
}

// register makes c the station's connection on this gateway and returns the
// connection it replaced, if any. It refuses while draining.
func (s *Server) register(c *conn) (old *conn, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return nil, false
	}
	old = s.conns[c.station]
	s.conns[c.station] = c
	s.cfg.Metrics.Connected(c.version, 1)
	if old != nil {
		s.cfg.Metrics.Connected(old.version, -1)
	}
	return old, true
}

// unregister forgets c unless a newer connection already took its place.
func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	if s.conns[c.station] == c {
		delete(s.conns, c.station)
		s.cfg.Metrics.Connected(c.version, -1)
	}
	s.mu.Unlock()
}

func (s *Server) lookup(station string) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[station]
}

// handleDownstream handles this gateway's queue: replies to charger CALLs,
// core-initiated CALLs (fanout to every gateway) and close requests. It
// never returns an error: a message for a connection that is not here is
// not ours, and redelivering it would not change that.
func (s *Server) handleDownstream(ctx context.Context, env *busv1.Envelope) error {
	switch env.GetKind() {
	case busv1.Kind_KIND_FRAME:
		c := s.lookup(env.GetStationId())
		if c == nil {
			if f, err := ocppj.Parse(env.GetFrame()); err == nil && f.Type == ocppj.Call {
				s.refuseCall(ctx, env, f.ID)
			}
			return nil
		}
		f, err := ocppj.Parse(env.GetFrame())
		if err != nil {
			s.log.Error("unreadable frame from core dropped", "station", env.GetStationId(), "err", err)
			return nil
		}
		switch f.Type {
		case ocppj.Call:
			// The core names the connection it believes current; when it
			// does and that is not ours, another gateway holds the station.
			if id := env.GetConnectionId(); id != "" && id != c.id {
				s.refuseCall(ctx, env, f.ID)
				return nil
			}
			c.enqueueCall(ctx, f.ID, f.Action, env)
		case ocppj.CallResult, ocppj.CallError:
			if env.GetConnectionId() != c.id {
				// The answer belongs to a CALL read on an older socket; the
				// charger will retry it on this one.
				c.log.Info("reply for another connection dropped", "message_id", f.ID, "reply_connection", env.GetConnectionId())
				return nil
			}
			c.answered(ctx, f.ID, env.GetAction(), env.GetFrame())
		default:
			s.log.Warn("frame of unexpected type from core dropped", "station", env.GetStationId(), "type", f.Type)
		}
	case busv1.Kind_KIND_CLOSE_CONNECTION:
		c := s.lookup(env.GetStationId())
		if c == nil || c.id != env.GetConnectionId() {
			return nil
		}
		reason := env.GetReason()
		if reason == "" {
			reason = "replaced by a newer connection"
		}
		c.log.Info("core asked to close the connection", "reason", reason)
		c.closeWith(websocket.StatusPolicyViolation, truncate.Bytes(reason, 120))
	default:
		s.log.Debug("ignored downstream message", "kind", env.GetKind())
	}
	return nil
}

// refuseCall answers a core CALL for a connection this gateway does not
// hold. Every gateway sees every CALL (fanout), so only the gateway the core
// believes holds the connection answers: the socket is gone, and without
// this the caller would wait for its timeout.
func (s *Server) refuseCall(ctx context.Context, env *busv1.Envelope, id string) {
	if env.GetGatewayId() != s.cfg.GatewayID || env.GetReplyTo() == "" {
		return
	}
	v, _ := bus.VersionOf(env)
	s.publishCallFailed(ctx, s.log.With("station", env.GetStationId()), env.GetStationId(), env.GetConnectionId(), v, id, env.GetReplyTo(), outcome.ConnectionClosed)
}

// publishCallFailed tells core instance replyTo that its CALL id will get
// no answer. Best effort: if it is lost, the caller's own timeout still
// ends the wait.
func (s *Server) publishCallFailed(ctx context.Context, log *slog.Logger, station, connID string, v ocppj.Version, id, replyTo string, reason outcome.Reason) {
	if replyTo == "" {
		return
	}
	env := &busv1.Envelope{
		Kind:         busv1.Kind_KIND_CALL_FAILED,
		StationId:    station,
		GatewayId:    s.cfg.GatewayID,
		ConnectionId: connID,
		OcppVersion:  bus.EnvelopeVersion(v),
		ReceivedAt:   timestamppb.New(s.cfg.Now()),
		MessageId:    id,
		Reason:       string(reason),
	}
	ctx, cancel := publishCtxFrom(ctx)
	defer cancel()
	if err := s.bus.PublishToCore(ctx, replyTo, env); err != nil {
		log.Warn("could not report a failed core CALL", "message_id", id, "reason", reason, "core", replyTo, "err", err)
		return
	}
	log.Info("core CALL failed", "message_id", id, "reason", reason)
}

// publishCtx returns a context for a bus publish that outlives the socket
// and Shutdown's context: a message read from a charger is either handed to
// the broker or answered with an error, never abandoned.
func publishCtx() (context.Context, context.CancelFunc) {
	return publishCtxFrom(context.Background())
}

// publishCtxFrom is publishCtx keeping parent's values (its span) but not
// its deadline or cancellation.
func publishCtxFrom(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(parent), publishTimeout)
}

func (s *Server) publishDisconnected(log *slog.Logger, station, connID string, v ocppj.Version, reason string) {
	env := &busv1.Envelope{
		Kind:         busv1.Kind_KIND_DISCONNECTED,
		StationId:    station,
		GatewayId:    s.cfg.GatewayID,
		ConnectionId: connID,
		OcppVersion:  bus.EnvelopeVersion(v),
		ReceivedAt:   timestamppb.New(s.cfg.Now()),
		Reason:       reason,
	}
	backoff := disconnectBackoff
	for attempt := 1; ; attempt++ {
		ctx, cancel := publishCtx()
		err := s.bus.PublishUpstream(ctx, env)
		cancel()
		if err == nil {
			return
		}
		if attempt == disconnectAttempts || errors.Is(err, bus.ErrClosed) || errors.Is(err, bus.ErrInvalid) {
			// The core's lease sweep will still mark the station gone if this
			// gateway dies; if it lives, the next connection supersedes this one.
			log.Error("could not publish disconnection", "err", err, "attempts", attempt)
			return
		}
		log.Warn("publish disconnection failed, retrying", "err", err, "attempt", attempt)
		time.Sleep(backoff)
		backoff *= 2
	}
}

// parseStationPath extracts the percent-decoded identity from the URL; a
// non-zero status says why it is refused. An id the core would refuse
// (ocppj.ValidateIdentity) is answered 400 here, before any core call.
func parseStationPath(u *url.URL) (id string, status int, msg string) {
	p := u.EscapedPath()
	if !strings.HasPrefix(p, PathPrefix) {
		return "", http.StatusNotFound, "not found"
	}
	raw := p[len(PathPrefix):]
	if raw == "" || strings.Contains(raw, "/") {
		return "", http.StatusBadRequest, "expected " + PathPrefix + "{stationId}"
	}
	id, err := url.PathUnescape(raw)
	if err != nil {
		return "", http.StatusBadRequest, "station id is not validly percent-encoded"
	}
	if err := ocppj.ValidateIdentity(id); err != nil {
		return "", http.StatusBadRequest, err.Error()
	}
	return id, 0, ""
}

func isWebSocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// chooseSubprotocol returns the first subprotocol in the charger's list that
// this gateway speaks, exactly as the charger spelled it, and its version.
func chooseSubprotocol(h http.Header) (string, ocppj.Version) {
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			if v, ok := ocppj.ParseSubprotocol(strings.ToLower(t)); ok {
				return t, v
			}
		}
	}
	return "", 0
}
