package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// CipherSuites are the TLS 1.2 suites of OCPP 2.0.1 Part 2 A00 and the 1.6
// security whitepaper: ECDHE with AES-GCM for ECDSA and RSA server keys,
// and the two RSA key-exchange suites the whitepaper still lists for
// chargers that have nothing better. TLS 1.3 suites are not configurable
// in crypto/tls (all of them are AEAD) and stay enabled.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
}

// TLSFiles names the PEM files of the OCPP TLS listener.
type TLSFiles struct {
	// CertFile holds the server certificate, leaf first, then its chain.
	CertFile string
	KeyFile  string
	// ClientCAFile is the bundle charger client certificates must chain to
	// (security profile 3); empty = ExtraClientCAs only.
	ClientCAFile string
	// ExtraClientCAs are trusted besides ClientCAFile's: the embedded
	// gateway passes the CSMS CA when no ClientCAFile is set, so certificates
	// the core signs work on the first run.
	ExtraClientCAs []*x509.Certificate
}

// TLS serves the OCPP TLS listener's certificate and client CAs from files
// and swaps them when the files change, without touching open connections:
// every handshake takes the current snapshot (GetConfigForClient), so a
// renewal never drops a charger.
type TLS struct {
	files TLSFiles
	log   *slog.Logger

	mu   sync.Mutex // serializes reloads
	last [3][]byte  // contents of the files at the last successful load
	cur  atomic.Pointer[tlsSnapshot]
}

type tlsSnapshot struct {
	config    *tls.Config
	clientCAs *x509.CertPool // nil when no client CA is configured
}

// NewTLS loads the files; an error names the file at fault.
func NewTLS(files TLSFiles, log *slog.Logger) (*TLS, error) {
	if log == nil {
		log = slog.Default()
	}
	t := &TLS{files: files, log: log.With("component", "tls")}
	if _, err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Config is the tls.Config to serve with; each handshake picks up the
// latest loaded certificate and client CAs.
func (t *TLS) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.cur.Load().config, nil
		},
	}
}

// ClientCAs is the current pool client certificates must chain to; nil
// when none is configured (then no client certificate is accepted).
func (t *TLS) ClientCAs() *x509.CertPool { return t.cur.Load().clientCAs }

// Reload reads the files again and, when they changed and are valid,
// serves them from the next handshake on. It reports whether anything
// changed. A broken file (half-written during a renewal, a key that does
// not match) keeps the previous certificate in service.
func (t *TLS) Reload() (changed bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var now [3][]byte
	for i, name := range []string{t.files.CertFile, t.files.KeyFile, t.files.ClientCAFile} {
		if name == "" {
			continue
		}
		if now[i], err = os.ReadFile(name); err != nil {
			return false, fmt.Errorf("tls: read %s: %w", name, err)
		}
	}
	if t.cur.Load() != nil && bytes.Equal(now[0], t.last[0]) && bytes.Equal(now[1], t.last[1]) && bytes.Equal(now[2], t.last[2]) {
		return false, nil
	}
	cert, err := tls.X509KeyPair(now[0], now[1])
	if err != nil {
		return false, fmt.Errorf("tls: %s and %s: %w", t.files.CertFile, t.files.KeyFile, err)
	}
	var pool *x509.CertPool
	if now[2] != nil || len(t.files.ExtraClientCAs) > 0 {
		pool = x509.NewCertPool()
		if now[2] != nil && !pool.AppendCertsFromPEM(now[2]) {
			return false, fmt.Errorf("tls: %s holds no PEM certificate", t.files.ClientCAFile)
		}
		for _, c := range t.files.ExtraClientCAs {
			pool.AddCert(c)
		}
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: CipherSuites,
		Certificates: []tls.Certificate{cert},
		// A certificate is asked for on every handshake but required by
		// none: profiles 1 and 2 have none, and the core, not the TLS
		// layer, decides per station whether one was needed. It is
		// verified after the handshake (VerifyClient) rather than during
		// it, so that a bad one is answered with HTTP 401 and its subject
		// and issuer logged, instead of a bare TLS alert.
		ClientAuth: tls.RequestClientCert,
		NextProtos: []string{"http/1.1"},
	}
	t.cur.Store(&tlsSnapshot{config: cfg, clientCAs: pool})
	t.last = now
	leaf := cert.Leaf
	t.log.Info("TLS certificate loaded", "cert_file", t.files.CertFile, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter,
		"client_ca_file", t.files.ClientCAFile, "client_cas", len(t.files.ExtraClientCAs)+countPEM(now[2]))
	return true, nil
}

// Watch reloads every interval (0: never) and whenever a value arrives on
// hup (SIGHUP), until ctx ends. A failed reload is logged and the previous
// certificate kept.
func (t *TLS) Watch(ctx context.Context, interval time.Duration, hup <-chan os.Signal) {
	var tick <-chan time.Time
	if interval > 0 {
		tk := time.NewTicker(interval)
		defer tk.Stop()
		tick = tk.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-hup:
			t.log.Info("SIGHUP: reloading the TLS files")
		}
		if _, err := t.Reload(); err != nil {
			t.log.Error("TLS reload failed: the previous certificate stays in service", "err", err)
		}
	}
}

// VerifyClient checks a client certificate chain (leaf first) against the
// current client CAs for client authentication, at the wall clock like a
// TLS handshake.
func (t *TLS) VerifyClient(chain []*x509.Certificate) error {
	pool := t.ClientCAs()
	if pool == nil {
		return errors.New("no client CA configured (TLS_CLIENT_CA_FILE)")
	}
	if len(chain) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots: pool, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err
}

func countPEM(b []byte) int {
	if b == nil {
		return 0
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(b)
	return len(p.Subjects()) //nolint:staticcheck // a count, not a match against system roots
}

// Listener serves t's certificates on ln. Give it to the same http.Server
// as the plain listener: the handler tells them apart by Request.TLS.
func (t *TLS) Listener(ln net.Listener) net.Listener { return tls.NewListener(ln, t.Config()) }

// NotifyReload returns a channel that receives SIGHUP, for Watch, and the
// function that stops it.
func NotifyReload() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}
