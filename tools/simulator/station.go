package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/chargeplane/chargeplane/pkg/chargepoint"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Config describes the simulated station.
type Config struct {
	// URLs are the CSMS endpoints without the station id, tried in turn:
	// the station moves to the next one when a connection fails or drops.
	URLs       []string
	ID         string
	Version    ocppj.Version
	Password   string
	Connectors int
	// Heartbeat overrides the interval from BootNotification when > 0.
	Heartbeat time.Duration
	Strict    bool
	Schemas   *schema.Registry // set when Strict
	Compress  bool
	Vendor    string
	Model     string
	// MinBackoff and MaxBackoff bound the wait between reconnections (and
	// between BootNotifications the CSMS asked to repeat without an interval).
	MinBackoff, MaxBackoff time.Duration
	// CertDir receives the key and certificate the CSMS signs for the
	// station (CertFiles); empty keeps them in memory only.
	CertDir string
	// Organization is the subject O of the station's CSRs.
	Organization string
	// SignCertificate asks for a certificate after the first boot when
	// CertDir holds none.
	SignCertificate bool
	// CAFile is the PEM bundle the CSMS's server certificate must chain to
	// on wss:// URLs (empty: the system's roots).
	CAFile string
	// CertFile and KeyFile are the client certificate (chain, leaf first)
	// and key shown on wss:// URLs (security profile 3). Empty: the
	// certificate in CertDir, if the CSMS signed one.
	CertFile, KeyFile string

	// Tag, when set, is plugged in and authorized on connector 1 after the
	// first boot; it is also the tag of a "start" typed without one.
	Tag string
	// PowerKW is the charger's maximum power, BatteryKWh the capacity of
	// the car that plugs in (0: a car that never fills up), EnergyKWh the
	// energy after which a session stops (0: until full or told).
	PowerKW, BatteryKWh, EnergyKWh float64
	// MeterInterval is the time between meter values while charging.
	MeterInterval time.Duration
	// Faults are connectors reported Faulted (with their error code) at boot.
	Faults map[int]string
	// Commands are lines typed in (see command); nil when there are none.
	Commands <-chan string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// errReset ends a session so that the station "reboots": reconnects at
// once and sends a new BootNotification.
var errReset = errors.New("reset requested by the CSMS")

// Station is one simulated charging station. Its state survives
// reconnections, as a real station's does.
type Station struct {
	cfg   Config
	log   *slog.Logger
	proto protocol

	certs *certStore
	tls   *tls.Config // nil: default TLS settings

	// connectors is fixed at start; each one's fields are guarded by mu.
	connectors []*connector

	mu       sync.Mutex
	urlIdx   int           // the entry of cfg.URLs in use
	online   bool          // connected and booted
	started  bool          // -tag's session was started
	refusal  string        // why the CSMS last refused the connection
	asked    bool          // SignCertificate sent for -sign-certificate
	password string        // changed by AuthorizationKey / BasicAuthPassword
	interval time.Duration // heartbeat interval in force
	booted   bool          // BootNotification accepted since the last (re)boot
}

func newStation(cfg Config, logger *slog.Logger) (*Station, error) {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.Vendor == "" {
		cfg.Vendor = "Chargeplane"
	}
	if cfg.Model == "" {
		cfg.Model = "Simulator"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MeterInterval <= 0 {
		cfg.MeterInterval = 10 * time.Second
	}
	if cfg.PowerKW <= 0 {
		cfg.PowerKW = 11
	}
	tc, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	s := &Station{cfg: cfg, log: logger.With("station", cfg.ID), password: cfg.Password, interval: 5 * time.Minute,
		certs: &certStore{id: cfg.ID, org: cfg.Organization, dir: cfg.CertDir}, tls: tc}
	if cfg.Version == ocppj.V201 {
		s.proto = v201Protocol{}
	} else {
		s.proto = v16Protocol{}
	}
	for n := 1; n <= cfg.Connectors; n++ {
		c := &connector{n: n}
		if code, ok := cfg.Faults[n]; ok {
			c.state, c.fault = stateFaulted, code
		}
		s.connectors = append(s.connectors, c)
	}
	return s, nil
}

// Run keeps the station connected until ctx ends, then returns nil.
func (s *Station) Run(ctx context.Context) error {
	backoff := s.cfg.MinBackoff
	for {
		connected, err := s.session(ctx)
		if ctx.Err() != nil {
			s.log.Info("stopped")
			return nil
		}
		if connected {
			backoff = s.cfg.MinBackoff
		}
		if errors.Is(err, errReset) {
			s.log.Info("rebooting")
			continue
		}
		// Jitter keeps a fleet that lost its gateway from reconnecting in step.
		wait := time.Duration(float64(backoff) * (0.5 + rand.Float64()))
		failed := s.url()
		var (
			he  *chargepoint.HandshakeError
			cve *tls.CertificateVerificationError
		)
		switch {
		case errors.As(err, &cve):
			s.log.Error("the CSMS's server certificate is not trusted: -ca must name the CA it chains to, and the -url host must be one it is for",
				"url", failed, "err", cve.Err, "retry_in", wait)
		case errors.As(err, &he):
			why := s.refused(he.StatusCode)
			s.mu.Lock()
			s.refusal = why
			s.mu.Unlock()
			s.log.Error("CSMS refused the connection: "+why, "url", failed, "http_status", he.StatusCode, "retry_in", wait)
		default:
			s.log.Warn("connection lost", "url", failed, "err", err, "retry_in", wait)
		}
		// The next attempt goes to the next gateway; only a whole round of
		// failures slows the station down.
		s.mu.Lock()
		s.urlIdx = (s.urlIdx + 1) % len(s.cfg.URLs)
		round := s.urlIdx == 0
		s.mu.Unlock()
		if !round && !connected {
			continue
		}
		if !sleep(ctx, wait) {
			s.log.Info("stopped")
			return nil
		}
		if round {
			backoff = min(backoff*2, s.cfg.MaxBackoff)
		}
	}
}

// refused says why the CSMS answered the handshake with status, and what to do.
func (s *Station) refused(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return fmt.Sprintf("wrong password for station %s: -password must be the one registered for it (or the one the CSMS set since); "+
			"security profile 2 also needs a wss:// -url, profile 3 a wss:// -url and a client certificate for CN %s that the CSMS trusts (-cert/-key or -cert-dir)", s.cfg.ID, s.cfg.ID)
	case http.StatusNotFound:
		return fmt.Sprintf("the CSMS does not know station %s: register it first (POST /api/v1/stations {\"id\":%q,...})", s.cfg.ID, s.cfg.ID)
	case http.StatusServiceUnavailable:
		return "the CSMS is unavailable (its core cannot be reached)"
	}
	return fmt.Sprintf("HTTP %d", status)
}

func (s *Station) url() string {
	s.mu.Lock()
	base := s.cfg.URLs[s.urlIdx]
	s.mu.Unlock()
	return strings.TrimSuffix(base, "/") + "/" + url.PathEscape(s.cfg.ID)
}

// session is one connection's life. connected reports whether the
// WebSocket was established, which resets the back-off.
func (s *Station) session(ctx context.Context) (connected bool, err error) {
	// Work the CSMS asks for (TriggerMessage, Reset) is done here, queued
	// once the answer to its CALL has gone out, as the specifications order it.
	work := make(chan func(context.Context, *chargepoint.Client) error, 8)
	s.mu.Lock()
	password := s.password
	s.mu.Unlock()
	c, err := chargepoint.Dial(ctx, s.url(), chargepoint.Options{
		Subprotocols: []string{s.cfg.Version.Subprotocol()},
		Password:     password,
		Schemas:      s.cfg.Schemas,
		Compress:     s.cfg.Compress,
		TLS:          s.tls,
		Logger:       s.log,
		OnCall: func(ctx context.Context, action string, payload json.RawMessage) (any, error) {
			s.log.Info("CSMS call", "action", action, "payload", string(payload))
			res, later, err := s.proto.answer(s, action, payload)
			if err != nil || later == nil {
				return res, err
			}
			return chargepoint.Reply{Payload: res, After: func() {
				select {
				case work <- later:
				default:
					s.log.Warn("too much triggered work queued, dropping", "action", action)
				}
			}}, nil
		},
	})
	if err != nil {
		return false, err
	}
	defer func() {
		s.mu.Lock()
		s.online = false
		s.mu.Unlock()
		if cerr := c.Close(); cerr != nil {
			s.log.Debug("close", "err", cerr)
		}
	}()
	s.mu.Lock()
	s.refusal = ""
	s.mu.Unlock()
	s.log.Info("connected", "url", s.url(), "version", c.Version().String(), "compressed", c.Compressed())

	if err := s.boot(ctx, c); err != nil {
		return true, err
	}
	if err := s.reportConnectors(ctx, c); err != nil {
		return true, err
	}
	if s.wantsCertificate() {
		if err := s.signCertificate(s.proto.certificateType())(ctx, c); err != nil {
			return true, err
		}
	}
	s.mu.Lock()
	s.online = true
	autoStart := s.cfg.Tag != "" && !s.started && s.cfg.Connectors > 0
	s.started = s.started || autoStart
	s.mu.Unlock()
	if autoStart {
		if n := s.plugIn(1, &transaction{tag: s.cfg.Tag, tagType: "ISO14443"}); n != 0 {
			if err := s.startCharging(n)(ctx, c); err != nil {
				return true, err
			}
		}
	}
	meterTick := time.NewTicker(s.cfg.MeterInterval)
	defer meterTick.Stop()
	for {
		timer := time.NewTimer(s.heartbeatInterval())
		select {
		case <-ctx.Done():
			timer.Stop()
			return true, nil
		case <-c.Done():
			timer.Stop()
			return true, c.Err()
		case f := <-work:
			timer.Stop()
			if err := f(ctx, c); err != nil {
				return true, err
			}
		case line := <-s.cfg.Commands:
			timer.Stop()
			f, err := s.command(line)
			if err != nil {
				s.log.Warn(err.Error())
			}
			if f != nil {
				if err := f(ctx, c); err != nil {
					return true, err
				}
			}
		case <-meterTick.C:
			timer.Stop()
			if err := s.meter(ctx, c); err != nil {
				return true, err
			}
		case <-timer.C:
			if err := s.heartbeat(ctx, c); err != nil {
				return true, err
			}
		}
	}
}

// progress is what the -n progress line counts of one station.
type progress struct {
	online, charging bool
	energyWh         float64 // delivered by the sessions going on and ended
	refusal          string
}

func (s *Station) progress() progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := progress{online: s.online, refusal: s.refusal}
	for _, c := range s.connectors {
		p.energyWh += c.register
		p.charging = p.charging || c.state == stateCharging
	}
	return p
}

// boot sends BootNotification until it is accepted, unless it already was:
// a reconnect is not a reboot.
func (s *Station) boot(ctx context.Context, c *chargepoint.Client) error {
	for {
		s.mu.Lock()
		booted := s.booted
		s.mu.Unlock()
		if booted {
			return nil
		}
		status, interval, err := s.proto.boot(ctx, s, c)
		if err != nil {
			return fmt.Errorf("BootNotification: %w", err)
		}
		if s.bootAnswered(status, interval) {
			return nil
		}
		// Pending or Rejected: interval is the wait before trying again.
		if interval <= 0 {
			interval = s.cfg.MinBackoff
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.Done():
			return c.Err()
		case <-time.After(interval):
		}
	}
}

// bootAnswered applies a BootNotification answer and reports whether the
// station is now accepted.
func (s *Station) bootAnswered(status string, interval time.Duration) bool {
	s.log.Info("BootNotification answered", "status", status, "interval", interval)
	if status != "Accepted" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.booted = true
	if interval > 0 {
		s.interval = interval
	}
	return true
}

// reportConnectors reports every connector as it is: a reconnection or a
// reboot does not unplug a car.
func (s *Station) reportConnectors(ctx context.Context, c *chargepoint.Client) error {
	for _, conn := range s.connectors {
		s.mu.Lock()
		st, code := conn.state, conn.fault
		s.mu.Unlock()
		if err := s.sendStatus(ctx, c, conn.n, st, code); err != nil {
			return err
		}
		s.log.Info("connector reported", "connector", conn.n, "status", st.String())
	}
	return nil
}

func (s *Station) heartbeat(ctx context.Context, c *chargepoint.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	at, err := s.proto.heartbeat(ctx, c)
	if err != nil {
		if isCallError(err) {
			s.log.Warn("Heartbeat refused", "err", err)
			return nil
		}
		return fmt.Errorf("Heartbeat: %w", err)
	}
	s.log.Debug("heartbeat", "csms_time", at)
	return nil
}

func (s *Station) heartbeatInterval() time.Duration {
	if s.cfg.Heartbeat > 0 {
		return s.cfg.Heartbeat
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.interval
}

func (s *Station) setHeartbeatInterval(d time.Duration) {
	s.mu.Lock()
	s.interval = d
	s.mu.Unlock()
	s.log.Info("heartbeat interval changed", "interval", d)
}

func (s *Station) setPassword(p string) {
	s.mu.Lock()
	s.password = p
	s.mu.Unlock()
	s.log.Info("Basic-auth password changed; used from the next connection")
}

// reboot is the deferred half of an accepted Reset.
func (s *Station) reboot(context.Context, *chargepoint.Client) error {
	s.mu.Lock()
	s.booted = false
	s.mu.Unlock()
	return errReset
}

// isCallError tells a CALLERROR (the CSMS answered; carry on) from a broken
// connection or a protocol violation.
func isCallError(err error) bool {
	var ce *chargepoint.CallError
	return errors.As(err, &ce) && !errors.Is(err, chargepoint.ErrViolation)
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// protocol is what differs between OCPP versions.
type protocol interface {
	boot(ctx context.Context, s *Station, c *chargepoint.Client) (status string, interval time.Duration, err error)
	status(ctx context.Context, c *chargepoint.Client, connector int, st connState, errorCode string) error
	// defaultFault is the error code of a fault typed in without one;
	// faultCode checks one typed in.
	defaultFault() string
	faultCode(code string) error
	authorize(ctx context.Context, c *chargepoint.Client, tag string) (accepted bool, err error)
	// startTx starts tx on connector n with the reading sm and records the
	// transaction's id in tx; accepted is false when the CSMS refused the tag.
	startTx(ctx context.Context, c *chargepoint.Client, n int, tx *transaction, sm sample) (accepted bool, err error)
	meter(ctx context.Context, c *chargepoint.Client, n int, tx *transaction, sm sample) error
	stopTx(ctx context.Context, c *chargepoint.Client, n int, tx *transaction, sm sample, why stopReason) error
	heartbeat(ctx context.Context, c *chargepoint.Client) (time.Time, error)
	// answer answers a CSMS CALL; later, if not nil, runs after the answer
	// has been sent.
	answer(s *Station, action string, payload json.RawMessage) (res any, later func(context.Context, *chargepoint.Client) error, err error)
	// certificateType is what SignCertificate asks for ("" in 1.6).
	certificateType() string
}

func notSupported(action string) error {
	return &chargepoint.CallError{Code: ocppj.CodeNotSupported, Description: "the simulator does not support " + action}
}

func badPayload(v ocppj.Version, err error) error {
	return &chargepoint.CallError{Code: ocppj.FormatViolation(v), Description: err.Error()}
}
