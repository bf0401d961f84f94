// Package certificates runs the CSMS's side of station certificates: it
// decides a SignCertificate (the CSR checks of api/pki, signing with the
// CSMS CA), records the issued certificate before the station is answered,
// delivers it with CertificateSigned through the command path once the
// answer is out (and again, from any core instance, when an attempt was
// lost), and raises a security event for every rejected CSR and for every
// installed certificate that expires within 30 days.
package certificates

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/api/securityevent"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Certificate types of SignCertificate (2.0.1 CertificateSigningUseEnum).
const (
	TypeChargingStation = "ChargingStationCertificate"
	TypeV2G             = "V2GCertificate"
)

// Reason codes of a rejected SignCertificate (2.0.1 statusInfo.reasonCode,
// at most 20 characters). They say what kind of problem it was, never the
// details, which go to the security event.
const (
	ReasonInvalidCSR      = "InvalidCSR"
	ReasonNoCA            = "NoCAConfigured"
	ReasonUnsupportedType = "UnsupportedCertType"
)

// Security event types the CSMS raises itself.
const (
	EventCSRRejected           = "CSRRejected"
	EventCertificateExpiring   = "CertificateExpiring"
	EventCertificateNotTaken   = "CertificateSignedRejected"
	EventCertificateNotDeliver = "CertificateDeliveryFailed"
)

// Defaults of Config.
const (
	DefaultReplyWindow   = 30 * time.Second
	DefaultAttemptLease  = 2 * time.Minute
	DefaultMaxInFlight   = 16
	DefaultSweepEvery    = 30 * time.Second
	DefaultExpiryWarning = 30 * 24 * time.Hour
	DefaultExpiryEvery   = time.Hour
	// MaxAttempts bounds the CertificateSigned attempts of one issuance.
	MaxAttempts = 8
	// expiryBatch and expiryBatches bound one expiry check.
	expiryBatch   = 100
	expiryBatches = 10
)

// Store is what the service keeps (a *store.Store).
type Store interface {
	PendingIssuance(ctx context.Context, stationID, csrSHA256 string) (*store.IssuedCertificate, error)
	CreateIssuedCertificate(ctx context.Context, c *store.IssuedCertificate) error
	RescheduleDelivery(ctx context.Context, id int64, at time.Time) error
	ClaimDelivery(ctx context.Context, c *store.IssuedCertificate, dueBy, until time.Time) (bool, error)
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]store.IssuedCertificate, error)
	FinishDelivery(ctx context.Context, id int64, attempt int, o store.DeliveryOutcome) (bool, error)
	ExpiringCertificates(ctx context.Context, before time.Time, limit int) ([]store.IssuedCertificate, error)
	MarkExpiryWarned(ctx context.Context, id int64, at time.Time) (bool, error)
}

// Sender sends CertificateSigned with chainPEM to a station through the
// command path (recorded in its command history) and returns the station's
// status, Accepted or Rejected, with its reason if it gave one. Errors are
// those of command.Dispatcher.Call.
type Sender interface {
	SendCertificateSigned(ctx context.Context, stationID, chainPEM string) (Answer, error)
}

// Answer is a station's CertificateSigned answer.
type Answer struct {
	CommandID string
	Status    string // Accepted or Rejected
	Reason    string // 2.0.1 statusInfo reasonCode, if any
}

// Config are the service's collaborators and settings.
type Config struct {
	// CA signs certificates; nil rejects every CSR with NoCA as reason.
	CA *pki.CA
	// NoCA says why there is no CA (logged and recorded with each
	// rejection); used when CA is nil.
	NoCA   string
	Policy pki.CSRPolicy
	Store  Store
	Sender Sender
	// Events, when set, receives rejected CSRs, refused deliveries and
	// expiry warnings (they are logged in any case).
	Events securityevent.Recorder
	Now    func() time.Time
	Logger *slog.Logger

	// ReplyWindow is how long a new issuance is reserved for the instance
	// that answered the station before any instance may deliver it: the
	// answer goes first.
	ReplyWindow time.Duration
	// AttemptLease is how long one delivery attempt is reserved for its
	// instance; longer than the command timeout.
	AttemptLease time.Duration
	// MaxInFlight bounds concurrent deliveries of this instance; more wait
	// for the sweeper.
	MaxInFlight int
	// SweepEvery is how often due deliveries are looked for.
	SweepEvery time.Duration
	// ExpiryWarning is how close to its end an installed certificate
	// raises a security event; ExpiryEvery how often that is checked.
	ExpiryWarning time.Duration
	ExpiryEvery   time.Duration
}

// Service decides SignCertificate and delivers what it issued. It is safe
// for concurrent use.
type Service struct {
	cfg   Config
	log   *slog.Logger
	slots chan struct{}

	mu      sync.Mutex
	runCtx  context.Context // set by Start; nil before, and after its ctx ended
	running sync.WaitGroup  // the loop and the deliveries in flight
}

// New returns the service; Start it to deliver and watch expiry.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReplyWindow <= 0 {
		cfg.ReplyWindow = DefaultReplyWindow
	}
	if cfg.AttemptLease <= 0 {
		cfg.AttemptLease = DefaultAttemptLease
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = DefaultSweepEvery
	}
	if cfg.ExpiryWarning <= 0 {
		cfg.ExpiryWarning = DefaultExpiryWarning
	}
	if cfg.ExpiryEvery <= 0 {
		cfg.ExpiryEvery = DefaultExpiryEvery
	}
	if cfg.CA == nil && cfg.NoCA == "" {
		cfg.NoCA = "no certificate authority configured"
	}
	return &Service{cfg: cfg, log: cfg.Logger.With("component", "certificates"), slots: make(chan struct{}, cfg.MaxInFlight)}
}

// CA is the service's certificate authority, nil when it has none.
func (s *Service) CA() *pki.CA { return s.cfg.CA }

// CSR is a station's SignCertificate.
type CSR struct {
	StationID   string
	OCPPVersion ocppj.Version
	PEM         string
	// CertificateType is 2.0.1's certificateType ("" means both uses,
	// signed as a ChargingStationCertificate).
	CertificateType string
}

// Decision answers a SignCertificate.
type Decision struct {
	Accepted bool
	// ReasonCode says why it was rejected (2.0.1 statusInfo).
	ReasonCode string
	issuance   *store.IssuedCertificate
}

// Sign decides a SignCertificate: a CSR failing a check (or any CSR
// without a CA) is rejected and a security event recorded; an acceptable
// one is signed and recorded as pending delivery, reserved for this
// instance for the reply window. Pass an accepted Decision to Deliver once
// the station has its answer. An error means nothing was decided (the
// station should retry).
func (s *Service) Sign(ctx context.Context, r CSR) (Decision, error) {
	log := s.log.With("station", r.StationID, "ocpp_version", r.OCPPVersion)
	if s.cfg.CA == nil {
		s.reject(ctx, log, r.StationID, "no CA: "+s.cfg.NoCA)
		return Decision{ReasonCode: ReasonNoCA}, nil
	}
	if r.CertificateType == TypeV2G {
		s.reject(ctx, log, r.StationID, "V2GCertificate requested: ISO 15118 certificates come from the V2G PKI, not this CSMS's CA")
		return Decision{ReasonCode: ReasonUnsupportedType}, nil
	}
	req, err := s.cfg.Policy.CheckCSR(r.PEM, r.StationID)
	if err != nil {
		var ce *pki.CSRError
		if !errors.As(err, &ce) {
			return Decision{}, err
		}
		s.reject(ctx, log, r.StationID, ce.Error())
		return Decision{ReasonCode: ReasonInvalidCSR}, nil
	}

	sum := sha256.Sum256(req.Raw)
	csrHash := hex.EncodeToString(sum[:])
	now := s.cfg.Now()
	reserved := now.Add(s.cfg.ReplyWindow)
	if c, err := s.cfg.Store.PendingIssuance(ctx, r.StationID, csrHash); err == nil {
		// The station asked again (our answer or our CertificateSigned
		// got lost): the same certificate, sent again after this answer.
		if err := s.cfg.Store.RescheduleDelivery(ctx, c.ID, reserved); err != nil {
			return Decision{}, fmt.Errorf("certificates: %w", err)
		}
		c.NextAttemptAt = &reserved
		log.Info("CSR already signed, certificate to be sent again", "serial", c.SerialNumber)
		return Decision{Accepted: true, issuance: c}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return Decision{}, fmt.Errorf("certificates: %w", err)
	}

	issued, err := s.cfg.CA.Issue(req, r.StationID)
	if err != nil {
		return Decision{}, fmt.Errorf("certificates: %w", err)
	}
	leaf := issued.Certificate
	c := &store.IssuedCertificate{
		StationID: r.StationID, SerialNumber: pki.SerialHex(leaf.SerialNumber),
		Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(),
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
		CertificateType: TypeChargingStation, OCPPVersion: r.OCPPVersion,
		CSRSHA256: csrHash, ChainPEM: issued.ChainPEM, NextAttemptAt: &reserved,
	}
	if err := s.cfg.Store.CreateIssuedCertificate(ctx, c); err != nil {
		return Decision{}, fmt.Errorf("certificates: %w", err)
	}
	log.Info("station certificate issued", "serial", c.SerialNumber, "not_after", c.NotAfter)
	return Decision{Accepted: true, issuance: c}, nil
}

func (s *Service) reject(ctx context.Context, log *slog.Logger, stationID, why string) {
	log.Warn("SignCertificate rejected", "reason", why)
	s.event(ctx, stationID, EventCSRRejected, why)
}

func (s *Service) event(ctx context.Context, stationID, typ, techInfo string) {
	if s.cfg.Events == nil {
		return
	}
	e := store.SecurityEvent{StationID: stationID, Source: store.SecuritySourceCSMS, Type: typ, TechInfo: techInfo, OccurredAt: s.cfg.Now()}
	if err := s.cfg.Events.RecordSecurityEvent(ctx, e); err != nil {
		s.log.Error("could not record a security event", "station", stationID, "type", typ, "err", err)
	}
}

// Deliver starts sending an accepted decision's certificate, unless this
// instance already runs MaxInFlight deliveries or is not running: then the
// sweeper of any instance sends it once the reply window has passed. It
// never blocks.
func (s *Service) Deliver(d Decision) {
	if !d.Accepted || d.issuance == nil {
		return
	}
	c := *d.issuance
	s.start(c, *c.NextAttemptAt)
}

// start runs one attempt on its own goroutine if a slot is free.
func (s *Service) start(c store.IssuedCertificate, dueBy time.Time) bool {
	s.mu.Lock()
	ctx := s.runCtx
	if ctx == nil || ctx.Err() != nil {
		s.mu.Unlock()
		return false
	}
	select {
	case s.slots <- struct{}{}:
	default:
		s.mu.Unlock()
		s.log.Debug("deliveries busy; left to the sweeper", "station", c.StationID, "serial", c.SerialNumber)
		return false
	}
	s.running.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.running.Done()
		defer func() { <-s.slots }()
		s.attempt(ctx, &c, dueBy)
	}()
	return true
}

// attempt claims and makes one delivery attempt of c.
func (s *Service) attempt(ctx context.Context, c *store.IssuedCertificate, dueBy time.Time) {
	log := s.log.With("station", c.StationID, "serial", c.SerialNumber)
	won, err := s.cfg.Store.ClaimDelivery(ctx, c, dueBy, s.cfg.Now().Add(s.cfg.AttemptLease))
	if err != nil {
		log.Warn("could not claim a certificate delivery", "err", err)
		return
	}
	if !won {
		return // another attempt has it
	}
	ans, err := s.cfg.Sender.SendCertificateSigned(ctx, c.StationID, c.ChainPEM)
	o := s.outcome(c, ans, err)
	o.CommandID = ans.CommandID
	log = log.With("attempt", c.DeliveryAttempts, "command", ans.CommandID)
	switch o.Status {
	case store.DeliveryAccepted:
		log.Info("station installed its certificate")
	case store.DeliveryPending:
		log.Info("certificate not delivered; will retry", "reason", o.Error, "next_attempt", o.NextAttemptAt)
	default:
		log.Warn("certificate delivery ended", "status", o.Status, "reason", o.Error)
	}
	switch o.Status {
	case store.DeliveryRejected:
		s.event(ctx, c.StationID, EventCertificateNotTaken, fmt.Sprintf("certificate %s refused by the station: %s", c.SerialNumber, o.Error))
	case store.DeliveryFailed:
		s.event(ctx, c.StationID, EventCertificateNotDeliver, fmt.Sprintf("certificate %s not delivered: %s", c.SerialNumber, o.Error))
	}
	// The outcome is recorded even when shutdown cancelled ctx.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := s.cfg.Store.FinishDelivery(rctx, c.ID, c.DeliveryAttempts, o); err != nil {
		// The lease runs out and the sweeper tries again.
		log.Error("could not record a certificate delivery", "err", err)
	}
}

// outcome turns a send's result into the delivery's next state: final
// answers end it, a station that was away or silent is tried again with a
// growing delay, up to MaxAttempts.
func (s *Service) outcome(c *store.IssuedCertificate, ans Answer, err error) store.DeliveryOutcome {
	if err == nil {
		if ans.Status == "Accepted" {
			return store.DeliveryOutcome{Status: store.DeliveryAccepted}
		}
		reason := "status " + ans.Status
		if ans.Reason != "" {
			reason += " (" + ans.Reason + ")"
		}
		return store.DeliveryOutcome{Status: store.DeliveryRejected, Error: reason}
	}
	var (
		invalid *command.InvalidError
		charger *command.ChargerError
	)
	switch {
	case errors.As(err, &invalid), errors.Is(err, command.ErrStationNotFound):
		return store.DeliveryOutcome{Status: store.DeliveryFailed, Error: err.Error()}
	case errors.As(err, &charger) && charger.Code != "InternalError":
		return store.DeliveryOutcome{Status: store.DeliveryFailed, Error: fmt.Sprintf("station answered %s: %s", charger.Code, charger.Description)}
	}
	if c.DeliveryAttempts >= MaxAttempts {
		return store.DeliveryOutcome{Status: store.DeliveryFailed, Error: fmt.Sprintf("gave up after %d attempts: %v", c.DeliveryAttempts, err)}
	}
	return store.DeliveryOutcome{Status: store.DeliveryPending, Error: err.Error(), NextAttemptAt: s.cfg.Now().Add(Backoff(c.DeliveryAttempts))}
}

// Backoff is the wait after a failed attempt: a minute, doubling, at most
// an hour (MaxAttempts spread over about two hours).
func Backoff(attempts int) time.Duration {
	d := time.Minute
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Start delivers due certificates and checks expiry in the background
// until ctx ends; deliveries started by Deliver run until then too. Wait
// returns once all of it has stopped.
func (s *Service) Start(ctx context.Context) {
	s.mu.Lock()
	s.runCtx = ctx
	s.running.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.running.Done()
		s.loop(ctx)
		s.mu.Lock()
		s.runCtx = nil
		s.mu.Unlock()
	}()
}

// Wait waits for the background work of Start to stop (after its ctx ended).
func (s *Service) Wait() { s.running.Wait() }

func (s *Service) loop(ctx context.Context) {
	sweep := time.NewTicker(s.cfg.SweepEvery)
	defer sweep.Stop()
	expiry := time.NewTicker(s.cfg.ExpiryEvery)
	defer expiry.Stop()
	s.Sweep(ctx)
	s.CheckExpiry(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			s.Sweep(ctx)
		case <-expiry.C:
			s.CheckExpiry(ctx)
		}
	}
}

// Sweep starts the due deliveries this instance has room for: new ones
// whose reply window passed without their own instance sending them,
// attempts that lost their instance, retries.
func (s *Service) Sweep(ctx context.Context) {
	free := cap(s.slots) - len(s.slots)
	if free <= 0 {
		return
	}
	now := s.cfg.Now()
	due, err := s.cfg.Store.DueDeliveries(ctx, now, free)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("could not look for due certificate deliveries", "err", err)
		}
		return
	}
	for _, c := range due {
		if !s.start(c, now) {
			return
		}
	}
}

// CheckExpiry raises one security event for each installed certificate
// that ends within ExpiryWarning, once per certificate (across instances),
// at most expiryBatch×expiryBatches per call.
func (s *Service) CheckExpiry(ctx context.Context) {
	now := s.cfg.Now()
	for range expiryBatches {
		soon, err := s.cfg.Store.ExpiringCertificates(ctx, now.Add(s.cfg.ExpiryWarning), expiryBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("could not look for expiring certificates", "err", err)
			}
			return
		}
		for _, c := range soon {
			won, err := s.cfg.Store.MarkExpiryWarned(ctx, c.ID, now)
			if err != nil {
				s.log.Warn("could not mark an expiry warning", "station", c.StationID, "err", err)
				return
			}
			if !won {
				continue
			}
			info := fmt.Sprintf("certificate %s (%s) expires %s", c.SerialNumber, c.Subject, c.NotAfter.UTC().Format(time.RFC3339))
			if !c.NotAfter.After(now) {
				info = fmt.Sprintf("certificate %s (%s) expired %s", c.SerialNumber, c.Subject, c.NotAfter.UTC().Format(time.RFC3339))
			}
			s.log.Warn("station certificate expires soon", "station", c.StationID, "serial", c.SerialNumber, "not_after", c.NotAfter)
			s.event(ctx, c.StationID, EventCertificateExpiring, info)
		}
		if len(soon) < expiryBatch {
			return
		}
	}
}
