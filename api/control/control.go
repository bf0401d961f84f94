// Package control is the core's side of the gateway control plane: it
// decides who may connect (AdmitConnection), keeps gateways' leases, and
// treats the connections of a gateway whose lease ran out as closed.
package control

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/admission"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/onboarding"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/bus"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
	"github.com/chargeplane/chargeplane/pkg/metrics"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Deps are the service's collaborators.
type Deps struct {
	Store  *store.Store
	Bus    bus.Bus
	Now    func() time.Time
	Logger *slog.Logger
	// Metrics counts stations of expired leases (nil: not counted).
	Metrics *metrics.Core
	// CacheSize bounds the verified-credentials cache (default 10000).
	CacheSize int
	// Passwords checks station passwords (default: an
	// auth.PasswordChecker running DefaultPasswordChecks at once).
	Passwords PasswordVerifier
	// Limits are the brute-force limits (zero fields: DefaultLimits).
	Limits Limits
	// Policy is the core's side of admission (MIN_SECURITY_PROFILE,
	// CSMS_ORGANIZATION).
	Policy admission.Policy
	// Events hears of every refused admission (default: logged only).
	Events admission.SecurityEvents
	// UnknownStations is what happens to an id that is not registered
	// (default onboarding.RejectUnknown).
	UnknownStations onboarding.Mode
	// PendingLimit bounds the pending stations PendingUnknown creates
	// (default 1000).
	PendingLimit int
	// MaxAdmissions bounds the admissions being decided at once (default
	// DefaultMaxAdmissions); more are answered "try later" at once.
	MaxAdmissions int
}

// DefaultMaxAdmissions: well above what the database's connections serve
// at once (an admission is one or two short statements), so that only a
// storm the core cannot keep up with meets the bound.
const DefaultMaxAdmissions = 128

// A station refused because the core is busy admitting others is told to
// come back in busyRetryMin to busyRetryMin+busyRetrySpread seconds:
// spread, so that the refused do not come back together.
const busyRetryMin, busyRetrySpread = 2, 4

// registry is what the service needs from the store.
type registry interface {
	GetStationForAdmission(ctx context.Context, id string) (*store.Station, error)
	RecordAdmission(ctx context.Context, ev store.ConnectionEvent) (store.ConnectionEvent, error)
	RenewLease(ctx context.Context, gatewayID string, until time.Time) (newLease bool, err error)
	ExpireLeases(ctx context.Context, now time.Time) ([]string, error)
	Ping(ctx context.Context) error
	PasswordUsed(ctx context.Context, id, usedHash string) (bool, error)
	CreatePendingStation(ctx context.Context, id string, profile, limit int) (*store.Station, error)
}

// defaultLeaseGrace is the grace after a database outage while no gateway
// has said which TTL it uses (the gateways' default lease).
const defaultLeaseGrace = 15 * time.Second

// Service implements gatewayv1.GatewayControlServiceServer.
type Service struct {
	gatewayv1.UnimplementedGatewayControlServiceServer

	store registry
	bus   bus.Bus
	now   func() time.Time
	log   *slog.Logger
	cache *credCache
	// passwords runs Argon2id checks; brute counts wrong passwords.
	passwords PasswordVerifier
	brute     *bruteForce
	metrics   *metrics.Core
	policy    admission.Policy
	events    admission.SecurityEvents

	flaps        *flapGuard
	unknown      onboarding.Mode
	pendingLimit int
	// admitting holds a slot per admission being decided (MaxAdmissions);
	// the gateways count the refusals (chargeplane_gateway_admissions_total
	// with outcome try_later).
	admitting chan struct{}

	// While the database is down, live gateways cannot renew their leases
	// either, so once it is back every lease may look expired. After a
	// failure, sweeps wait until the database has answered for a whole
	// lease TTL (every live gateway has renewed by then) before expiring.
	healthMu sync.Mutex
	degraded bool          // a store call failed; not yet recovered for long enough
	okSince  time.Time     // when the store answered again after the failure
	maxTTL   time.Duration // longest lease a gateway asked for
}

var _ gatewayv1.GatewayControlServiceServer = (*Service)(nil)

// New returns the service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.CacheSize <= 0 {
		d.CacheSize = 10000
	}
	if d.Events == nil {
		d.Events = admission.LogEvents{Log: d.Logger}
	}
	if d.UnknownStations == "" {
		d.UnknownStations = onboarding.RejectUnknown
	}
	if d.PendingLimit <= 0 {
		d.PendingLimit = 1000
	}
	if d.Passwords == nil {
		d.Passwords = auth.NewPasswordChecker(DefaultPasswordChecks)
	}
	if d.MaxAdmissions <= 0 {
		d.MaxAdmissions = DefaultMaxAdmissions
	}
	s := &Service{bus: d.Bus, now: d.Now, log: d.Logger.With("component", "control"), cache: newCredCache(d.CacheSize),
		passwords: d.Passwords, brute: newBruteForce(d.Limits.withDefaults(), d.Now),
		policy: d.Policy, events: d.Events, metrics: d.Metrics,
		unknown: d.UnknownStations, pendingLimit: d.PendingLimit, flaps: newFlapGuard(),
		admitting: make(chan struct{}, d.MaxAdmissions)}
	if d.Store != nil {
		s.store = d.Store
	}
	return s
}

// AdmitConnection decides, before the WebSocket upgrade, whether a station
// may connect, and makes the new connection the station's current one.
func (s *Service) AdmitConnection(ctx context.Context, req *gatewayv1.AdmitConnectionRequest) (*gatewayv1.AdmitConnectionResponse, error) {
	id := req.GetStationId()
	log := s.log.With("station", id, "gateway", req.GetGatewayId(), "remote", req.GetRemoteAddr())
	if req.GetGatewayId() == "" {
		return nil, status.Error(codes.InvalidArgument, "gateway_id is required")
	}
	if err := ocppj.ValidateIdentity(id); err != nil {
		// The gateway refuses these before asking (HTTP 400); a station
		// registered before the rule cannot connect until it is renamed.
		return s.unknownStation(ctx, req, err.Error()), nil
	}
	if until, ok := s.flaps.refusedUntil(id, s.now()); ok {
		return &gatewayv1.AdmitConnectionResponse{Decision: gatewayv1.Decision_DECISION_TRY_LATER, Reason: "station id is flapping between clients",
			RetryAfterSeconds: int32(until.Sub(s.now()).Round(time.Second) / time.Second)}, nil
	}
	// In a storm the database's connections, not the core, set the pace:
	// an admission that would only queue for one is refused now, cheaply,
	// rather than after the gateway has given up on it (work the station's
	// retry then repeats).
	release := func() {}
	select {
	case s.admitting <- struct{}{}:
		held := true
		release = func() {
			if held {
				held = false
				<-s.admitting
			}
		}
		defer func() { release() }()
	default:
		return &gatewayv1.AdmitConnectionResponse{Decision: gatewayv1.Decision_DECISION_TRY_LATER, Reason: "the core is busy admitting other stations",
			RetryAfterSeconds: int32(busyRetryMin + rand.IntN(busyRetrySpread+1))}, nil
	}
	attempt, cert := attemptOf(req)
	st, err := s.store.GetStationForAdmission(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		if st, err = s.admitUnknown(ctx, log, id, attempt); st == nil && err == nil {
			return s.unknownStation(ctx, req, "unknown station"), nil
		}
	}
	if err != nil {
		log.Error("admission: load station", "err", err)
		return nil, status.Error(codes.Unavailable, "cannot check the station now")
	}
	if why := onboarding.Refusal(onboarding.State(st.Onboarding), st.Blocked); why != "" {
		// A blocked or rejected station still trying is worth the
		// operator's attention: a security event, like any refusal.
		check := admission.CheckRejected
		if st.Blocked {
			check = admission.CheckBlocked
		}
		s.events.AdmissionRefused(ctx, admission.Refusal{StationID: id, GatewayID: req.GetGatewayId(), RemoteAddr: req.GetRemoteAddr(),
			TLS: req.GetTls(), Check: check, Reason: why, At: s.now()})
		return &gatewayv1.AdmitConnectionResponse{Decision: gatewayv1.Decision_DECISION_UNAUTHORIZED, Reason: why}, nil
	}
	ast := admission.Station{ID: st.ID, Profile: st.SecurityProfile, HasPassword: st.PasswordHash != ""}
	res := admission.Decide(s.policy, ast, attempt, s.now())
	var usedHash string
	if res.NeedPassword {
		if usedHash, err = s.checkPassword(ctx, st, req, &res); err != nil {
			log.Warn("admission: password not checked", "err", err)
			return nil, status.Error(codes.Unavailable, "cannot check the password now")
		}
	}
	if res.Failed == CheckThrottled {
		// Not a security event each: the wrong password that started the
		// throttle was one, and a flood must not become database writes.
		// The delay is waited out without the admission's slot, or a small
		// flood of throttled attempts would hold every slot and keep all
		// other stations out.
		release()
		s.brute.wait(ctx)
		log.Debug("refused station", "check", string(res.Failed), "reason", res.Reason)
		return &gatewayv1.AdmitConnectionResponse{Decision: gatewayv1.Decision_DECISION_UNAUTHORIZED, Reason: string(res.Failed) + ": " + res.Reason}, nil
	}
	if res.Failed != "" {
		r := admission.Refusal{StationID: id, GatewayID: req.GetGatewayId(), RemoteAddr: req.GetRemoteAddr(), TLS: req.GetTls(),
			Check: res.Failed, Reason: res.Reason, CertForwarded: req.GetClientCertificateForwarded(), At: s.now()}
		if cert != nil {
			r.CertSubject, r.CertIssuer = cert.Subject.String(), cert.Issuer.String()
		}
		s.events.AdmissionRefused(ctx, r)
		return &gatewayv1.AdmitConnectionResponse{Decision: gatewayv1.Decision_DECISION_UNAUTHORIZED, Reason: string(res.Failed) + ": " + res.Reason}, nil
	}

	connID := uuid.NewString()
	v, _ := ocppj.ParseSubprotocol(req.GetSubprotocol())
	proved := admission.Strength(s.policy, ast, attempt, usedHash != "", s.now())
	ev := store.ConnectionEvent{StationID: id, GatewayID: req.GetGatewayId(), ConnectionID: connID, OCPPVersion: v, At: s.now(), Profile: proved}
	prev, err := s.store.RecordAdmission(ctx, ev)
	if errors.Is(err, store.ErrNotFound) { // deleted meanwhile
		return &gatewayv1.AdmitConnectionResponse{Decision: gatewayv1.Decision_DECISION_UNKNOWN_STATION, Reason: "unknown station"}, nil
	}
	if errors.Is(err, store.ErrWrongState) { // profile raised meanwhile: the attempt is now too weak
		log.Warn("refused station: its security profile was raised during admission", "proved_profile", proved, "err", err)
		return &gatewayv1.AdmitConnectionResponse{Decision: gatewayv1.Decision_DECISION_UNAUTHORIZED, Reason: "security profile raised during admission"}, nil
	}
	if err != nil {
		log.Error("admission: record connection", "err", err)
		return nil, status.Error(codes.Unavailable, "cannot record the connection now")
	}
	if prev.ConnectionID != "" && prev.ConnectionID != connID {
		s.closeConnection(ctx, log, prev)
		if s.flaps.replaced(id, s.now()) {
			log.Warn("station id flapping between clients: refusing its admissions for a while",
				"replacements", FlapLimit+1, "window", FlapWindow, "backoff", FlapBackoff)
			s.events.AdmissionRefused(ctx, admission.Refusal{StationID: id, GatewayID: req.GetGatewayId(), RemoteAddr: req.GetRemoteAddr(),
				TLS: req.GetTls(), Check: CheckFlapping, At: s.now(),
				Reason: fmt.Sprintf("replaced more than %d times within %v: admissions refused for %v", FlapLimit, FlapWindow, FlapBackoff)})
		}
	}
	if st.PendingPasswordHash != "" || st.PreviousPasswordHash != "" {
		// A password rotation is settled by the password the station uses.
		if changed, err := s.store.PasswordUsed(ctx, id, usedHash); err != nil {
			log.Error("admission: settle password rotation", "err", err)
		} else if changed {
			log.Info("password rotation settled by the station's connection")
		}
	}
	log.Info("admitted station", "connection", connID, "subprotocol", req.GetSubprotocol(), "security_profile", st.SecurityProfile, "proved_profile", proved)
	return &gatewayv1.AdmitConnectionResponse{Decision: gatewayv1.Decision_DECISION_ACCEPTED, ConnectionId: connID}, nil
}

// admitUnknown creates the unknown station id as Pending when the core is
// set to (UNKNOWN_STATIONS=pending), and returns it; nil (and no error)
// when the id is refused. A pending station has no password: with a
// verified client certificate it gets security profile 3 (the certificate
// proves the id, checked as for any profile-3 station), otherwise profile
// 0, and anyone may connect under its id until an operator accepts it
// with a password (the BootNotification is all it may send meanwhile). A
// connection that would not pass MIN_SECURITY_PROFILE creates nothing.
func (s *Service) admitUnknown(ctx context.Context, log *slog.Logger, id string, a admission.Attempt) (*store.Station, error) {
	if s.unknown != onboarding.PendingUnknown {
		log.Info("refused unknown station")
		return nil, nil
	}
	profile := admission.ProfileNone
	if a.TLS && a.Cert != nil && a.CertError == "" {
		profile = admission.ProfileClientCert
	}
	if res := admission.Decide(s.policy, admission.Station{ID: id, Profile: profile}, a, s.now()); res.Failed != "" {
		log.Warn("refused unknown station", "check", string(res.Failed), "reason", res.Reason)
		return nil, nil
	}
	st, err := s.store.CreatePendingStation(ctx, id, profile, s.pendingLimit)
	switch {
	case errors.Is(err, store.ErrAlreadyExists): // another admission created it
		return s.store.GetStationForAdmission(ctx, id)
	case errors.Is(err, store.ErrTooManyPending):
		log.Warn("refused unknown station: too many stations are pending", "limit", s.pendingLimit)
		return nil, nil
	case err != nil:
		return nil, err
	}
	log.Info("unknown station admitted as pending")
	return st, nil
}

// unknownStation refuses an id no station has (HTTP 404) and reports it
// like any refused admission.
func (s *Service) unknownStation(ctx context.Context, req *gatewayv1.AdmitConnectionRequest, reason string) *gatewayv1.AdmitConnectionResponse {
	s.events.AdmissionRefused(ctx, admission.Refusal{StationID: req.GetStationId(), GatewayID: req.GetGatewayId(),
		RemoteAddr: req.GetRemoteAddr(), TLS: req.GetTls(), Check: admission.CheckUnknownStation, Reason: reason,
		Unregistered: true, At: s.now()})
	return &gatewayv1.AdmitConnectionResponse{Decision: gatewayv1.Decision_DECISION_UNKNOWN_STATION, Reason: reason}
}

// closeConnection asks prev's gateway to close the socket a newer
// connection replaced. The registry is already fenced against it, so a lost
// close only leaves an idle socket until its pings fail; it does not
// justify refusing the new connection.
func (s *Service) closeConnection(ctx context.Context, log *slog.Logger, prev store.ConnectionEvent) {
	env := &busv1.Envelope{
		Kind:         busv1.Kind_KIND_CLOSE_CONNECTION,
		StationId:    prev.StationID,
		GatewayId:    prev.GatewayID,
		ConnectionId: prev.ConnectionID,
		ReceivedAt:   timestamppb.New(s.now()),
		Reason:       "replaced by a newer connection",
	}
	if err := s.bus.PublishDownstream(ctx, env); err != nil {
		log.Error("could not ask the gateway to close the replaced connection",
			"old_gateway", prev.GatewayID, "old_connection", prev.ConnectionID, "err", err)
		return
	}
	log.Info("closing replaced connection", "old_gateway", prev.GatewayID, "old_connection", prev.ConnectionID)
}

// attemptOf reads how the charger came from the gateway's request. The
// gateway verified the certificate against its client CAs; an unreadable
// DER counts as an unverified certificate.
func attemptOf(req *gatewayv1.AdmitConnectionRequest) (admission.Attempt, *x509.Certificate) {
	a := admission.Attempt{TLS: req.GetTls(), BasicAuth: req.GetHasBasicAuth(), Username: req.GetUsername(), CertError: req.GetClientCertificateError()}
	if der := req.GetClientCertificate(); len(der) > 0 {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			a.CertError = "client certificate unreadable: " + err.Error()
			return a, nil
		}
		a.Cert = c
	}
	return a, a.Cert
}

// checkPassword is the password check of an admission within the
// brute-force limits: an attempt past a limit is refused unchecked (the
// caller waits the limits' Delay), a wrong password is counted, a right one clears the
// station's count. It returns the hash that matched, or "" with res's
// failure set; an error only when ctx ended while waiting for a check.
func (s *Service) checkPassword(ctx context.Context, st *store.Station, req *gatewayv1.AdmitConnectionRequest, res *admission.Result) (string, error) {
	remote := req.GetRemoteAddr()
	if limit, wait := s.brute.throttled(st.ID, remote); limit != "" {
		s.metrics.AdmissionThrottled(limit)
		res.Failed, res.Reason = CheckThrottled, s.brute.reason(limit, wait)
		return "", nil
	}
	usedHash, err := s.authenticate(ctx, st, req)
	switch {
	case err != nil:
		return "", err
	case usedHash != "":
		s.brute.succeeded(st.ID)
		return usedHash, nil
	}
	res.Failed, res.Reason = admission.CheckPassword, "wrong password"
	if limit, wait := s.brute.failed(st.ID, remote); limit != "" {
		res.Reason += "; " + s.brute.reason(limit, wait)
	}
	return "", nil
}

// authenticate checks the HTTP Basic password (security profiles 1 and 2;
// admission.Decide has checked the username): it must match the station's
// hash or, while a password rotation runs, the pending or the previous
// one. It returns the hash that matched, or "" (and an error only when
// ctx ended while waiting for an Argon2id slot).
func (s *Service) authenticate(ctx context.Context, st *store.Station, req *gatewayv1.AdmitConnectionRequest) (usedHash string, err error) {
	digest := sha256.Sum256([]byte(req.GetPassword()))
	for _, hash := range []string{st.PasswordHash, st.PendingPasswordHash, st.PreviousPasswordHash} {
		if hash == "" {
			continue
		}
		if s.cache.verified(st.ID, hash, digest) {
			return hash, nil
		}
		switch err := s.passwords.Verify(ctx, hash, req.GetPassword()); {
		case err == nil:
			s.cache.add(st.ID, hash, digest)
			return hash, nil
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			return "", err
		case !errors.Is(err, auth.ErrMismatch):
			s.log.Error("stored password hash unusable", "station", st.ID, "err", err)
		}
	}
	return "", nil
}

// CloseStationConnection asks st's gateway to close its current
// connection (when its security profile was raised above what the
// connection proved, or it was blocked).
func (s *Service) CloseStationConnection(ctx context.Context, st *store.Station, reason string) error {
	if st.ConnectionID == "" {
		return nil
	}
	env := &busv1.Envelope{
		Kind:         busv1.Kind_KIND_CLOSE_CONNECTION,
		StationId:    st.ID,
		GatewayId:    st.GatewayID,
		ConnectionId: st.ConnectionID,
		ReceivedAt:   timestamppb.New(s.now()),
		Reason:       reason,
	}
	if err := s.bus.PublishDownstream(ctx, env); err != nil {
		return fmt.Errorf("control: close connection of %s: %w", st.ID, err)
	}
	s.log.Info("closing the station's connection", "station", st.ID, "connection", st.ConnectionID, "reason", reason)
	return nil
}

// RenewLease extends the calling gateway's lease by its TTL.
func (s *Service) RenewLease(ctx context.Context, req *gatewayv1.RenewLeaseRequest) (*gatewayv1.RenewLeaseResponse, error) {
	if req.GetGatewayId() == "" {
		return nil, status.Error(codes.InvalidArgument, "gateway_id is required")
	}
	if req.GetTtlSeconds() <= 0 {
		return nil, status.Error(codes.InvalidArgument, "ttl_seconds must be positive")
	}
	ttl := time.Duration(req.GetTtlSeconds()) * time.Second
	s.healthMu.Lock()
	s.maxTTL = max(s.maxTTL, ttl)
	s.healthMu.Unlock()
	until := s.now().Add(ttl)
	newLease, err := s.store.RenewLease(ctx, req.GetGatewayId(), until)
	if err != nil {
		s.storeFailed(ctx)
		s.log.Error("renew lease", "gateway", req.GetGatewayId(), "err", err)
		return nil, status.Error(codes.Unavailable, "cannot renew the lease now")
	}
	if newLease {
		// Once per gateway start; more often, the gateway lost its lease
		// and will now have its chargers reconnect.
		s.log.Info("gateway lease started (first renewal, or the previous lease had expired)", "gateway", req.GetGatewayId(), "ttl", ttl)
	}
	return &gatewayv1.RenewLeaseResponse{NewLease: newLease}, nil
}

// SweepLeases marks the connections of every gateway whose lease expired as
// closed and returns the affected stations.
//
// After a database failure it expires nothing (and returns no error) until
// the database has answered for the longest lease TTL gateways use: their
// renewals failed meanwhile through no fault of theirs.
func (s *Service) SweepLeases(ctx context.Context) ([]string, error) {
	if wait, err := s.leaseGrace(ctx); err != nil || wait {
		return nil, err
	}
	stations, err := s.store.ExpireLeases(ctx, s.now())
	if err != nil {
		s.storeFailed(ctx)
		return nil, fmt.Errorf("control: expire leases: %w", err)
	}
	s.metrics.LeaseExpired(len(stations))
	for _, id := range stations {
		s.log.Warn("station disconnected: its gateway's lease expired", "station", id)
	}
	return stations, nil
}

// storeFailed notes a store failure, unless it was only ctx ending.
func (s *Service) storeFailed(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	if !s.degraded {
		s.log.Warn("database failing: lease expiry suspended until it has been back for a lease TTL")
	}
	s.degraded, s.okSince = true, time.Time{}
}

// leaseGrace reports whether sweeps must still wait after a store failure.
func (s *Service) leaseGrace(ctx context.Context) (wait bool, err error) {
	s.healthMu.Lock()
	degraded, okSince, grace := s.degraded, s.okSince, s.maxTTL
	s.healthMu.Unlock()
	if !degraded {
		return false, nil
	}
	if grace <= 0 {
		grace = defaultLeaseGrace
	}
	if okSince.IsZero() {
		if err := s.store.Ping(ctx); err != nil {
			return true, fmt.Errorf("control: database still failing: %w", err)
		}
		s.healthMu.Lock()
		if s.degraded && s.okSince.IsZero() {
			s.okSince = s.now()
		}
		s.healthMu.Unlock()
		return true, nil
	}
	if s.now().Sub(okSince) < grace {
		return true, nil
	}
	s.healthMu.Lock()
	s.degraded = false
	s.healthMu.Unlock()
	s.log.Info("database back for a lease TTL: lease expiry resumed")
	return false, nil
}

// RunLeaseSweeper sweeps expired leases every interval until ctx is done.
func (s *Service) RunLeaseSweeper(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.SweepLeases(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("lease sweep failed", "err", err)
			}
		}
	}
}

// credCache remembers passwords that recently verified, so that a reconnect
// storm after a gateway failure costs a hash lookup per station instead of
// an Argon2id run (tens of milliseconds and 19 MiB each). An entry is valid
// only for the stored hash it was verified against, so changing a
// station's password invalidates it. Only the password's SHA-256 is kept.
type credCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]credEntry
}

type credEntry struct {
	hash   string
	digest [sha256.Size]byte
}

func newCredCache(max int) *credCache {
	return &credCache{max: max, entries: make(map[string]credEntry)}
}

func (c *credCache) verified(station, hash string, digest [sha256.Size]byte) bool {
	c.mu.Lock()
	e, ok := c.entries[station]
	c.mu.Unlock()
	return ok && e.hash == hash && subtle.ConstantTimeCompare(e.digest[:], digest[:]) == 1
}

func (c *credCache) add(station, hash string, digest [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[station]; !ok && len(c.entries) >= c.max {
		// Evict an arbitrary entry: map order is random, which is as good
		// as LRU for a cache whose misses only cost CPU.
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[station] = credEntry{hash: hash, digest: digest}
}

func (c *credCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
