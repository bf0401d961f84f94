package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chargeplane/chargeplane/api/pki/pkitest"
	"github.com/chargeplane/chargeplane/gateway/server"
)

type tlsFixture struct {
	ca       pkitest.CA
	dir      string
	files    server.TLSFiles
	tls      *server.TLS
	caPool   *x509.CertPool
	serverSN string
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// writeServerCert (re)writes the server certificate files with a fresh
// certificate of kind ("rsa2048" or "p256") and returns its serial.
func (f *tlsFixture) writeServerCert(t *testing.T, kind string) string {
	t.Helper()
	key := pkitest.Key(t, kind)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.ca.Cert, key.Public(), f.ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.files.KeyFile, keyPEM(t, key), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.files.CertFile, certPEM(leaf), 0o600); err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber.String()
}

func newTLSFixture(t *testing.T, kind string) *tlsFixture {
	t.Helper()
	f := &tlsFixture{ca: pkitest.NewRoot(t, "Test CSMS CA", time.Time{}, time.Time{}), dir: t.TempDir()}
	f.files = server.TLSFiles{
		CertFile: filepath.Join(f.dir, "server.pem"), KeyFile: filepath.Join(f.dir, "server-key.pem"),
		ClientCAFile: filepath.Join(f.dir, "client-ca.pem"),
	}
	if err := os.WriteFile(f.files.ClientCAFile, f.ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	f.serverSN = f.writeServerCert(t, kind)
	var err error
	if f.tls, err = server.NewTLS(f.files, nil); err != nil {
		t.Fatal(err)
	}
	f.caPool = x509.NewCertPool()
	f.caPool.AddCert(f.ca.Cert)
	return f
}

// clientCert makes a client certificate for cn signed by ca.
func clientCert(t *testing.T, ca pkitest.CA, cn string, notAfter time.Time) tls.Certificate {
	t.Helper()
	key := pkitest.Key(t, "p256")
	leaf := ca.Leaf(t, pkix.Name{CommonName: cn}, key.Public(), notAfter)
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
}

// serveTLS serves h's gateway on a TLS listener and returns its wss:// base.
func serveTLS(t *testing.T, h *harness, tl *server.TLS) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h.gw, ReadHeaderTimeout: wait}
	go func() { _ = srv.Serve(tl.Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "wss://" + ln.Addr().String() + "/ocpp/"
}

func dialTLS(t *testing.T, base, station string, roots *x509.CertPool, cert *tls.Certificate, hdr http.Header) (*websocket.Conn, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, _, err := websocket.Dial(ctx, base+station, &websocket.DialOptions{
		Subprotocols: []string{"ocpp2.0.1"},
		HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}},
		HTTPHeader:   hdr,
	})
	if c != nil {
		t.Cleanup(func() { _ = c.CloseNow() })
	}
	return c, err
}

// The TLS listener tells the core it is TLS and hands it the client
// certificate with the gateway's verdict on its chain, for RSA and ECDSA
// server keys.
func TestTLSListenerPassesTransportToCore(t *testing.T) {
	for _, kind := range []string{"rsa2048", "p256"} {
		t.Run(kind, func(t *testing.T) {
			f := newTLSFixture(t, kind)
			h := newHarness(t, server.Config{TLS: f.tls})
			base := serveTLS(t, h, f.tls)

			good := clientCert(t, f.ca, "CP1", time.Time{})
			if _, err := dialTLS(t, base, "CP1", f.caPool, &good, nil); err != nil {
				t.Fatal(err)
			}
			req := h.core.lastAdmit()
			if !req.GetTls() || !bytes.Equal(req.GetClientCertificate(), good.Leaf.Raw) || req.GetClientCertificateError() != "" {
				t.Fatalf("admission of a good certificate: tls=%v cert=%d bytes err=%q", req.GetTls(), len(req.GetClientCertificate()), req.GetClientCertificateError())
			}

			other := pkitest.NewRoot(t, "Other CA", time.Time{}, time.Time{})
			for name, c := range map[string]tls.Certificate{
				"other CA": clientCert(t, other, "CP2", time.Time{}),
				"expired":  clientCert(t, f.ca, "CP2", time.Now().Add(-time.Minute)),
			} {
				if _, err := dialTLS(t, base, "CP2", f.caPool, &c, nil); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				req := h.core.lastAdmit()
				if !req.GetTls() || !bytes.Equal(req.GetClientCertificate(), c.Leaf.Raw) || req.GetClientCertificateError() == "" {
					t.Fatalf("%s: want the certificate with an error, got err=%q", name, req.GetClientCertificateError())
				}
			}

			if _, err := dialTLS(t, base, "CP2", f.caPool, nil, nil); err != nil {
				t.Fatal(err)
			}
			if req := h.core.lastAdmit(); !req.GetTls() || len(req.GetClientCertificate()) != 0 {
				t.Fatalf("no certificate: %v", req)
			}
			if _, _, err := h.dial("CP2", dialOpts{subprotocols: []string{"ocpp2.0.1"}}); err != nil {
				t.Fatal(err)
			}
			if req := h.core.lastAdmit(); req.GetTls() {
				t.Fatal("plain listener reported as TLS")
			}
		})
	}
}

func xfcc(c *x509.Certificate) http.Header {
	h := http.Header{}
	h.Set(server.HeaderXFCC, `By=spiffe://lb;Hash=abc;Subject="CN=x,O=y";Cert="`+url.QueryEscape(string(certPEM(c)))+`"`)
	h.Set(server.HeaderForwardedProto, "https")
	return h
}

// X-Forwarded-Client-Cert counts only from a trusted proxy.
func TestForwardedClientCert(t *testing.T) {
	f := newTLSFixture(t, "p256")
	good := clientCert(t, f.ca, "CP1", time.Time{})

	t.Run("trusted", func(t *testing.T) { testTrustedProxy(t, f, good) })
	t.Run("untrusted", func(t *testing.T) { testUntrustedProxy(t, f, good) })
}

func testTrustedProxy(t *testing.T, f *tlsFixture, good tls.Certificate) {
	trusted := newHarness(t, server.Config{TLS: f.tls, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if _, _, err := trusted.dialHeader("CP1", xfcc(good.Leaf)); err != nil {
		t.Fatal(err)
	}
	req := trusted.core.lastAdmit()
	if !req.GetTls() || !req.GetClientCertificateForwarded() || !bytes.Equal(req.GetClientCertificate(), good.Leaf.Raw) || req.GetClientCertificateError() != "" {
		t.Fatalf("trusted proxy: %v", req)
	}
	bad := http.Header{}
	bad.Set(server.HeaderXFCC, `Cert="not-a-certificate"`)
	if _, _, err := trusted.dialHeader("CP1", bad); err != nil {
		t.Fatal(err)
	}
	if req := trusted.core.lastAdmit(); len(req.GetClientCertificate()) != 0 || req.GetClientCertificateError() == "" {
		t.Fatalf("unreadable forwarded certificate: %v", req)
	}
}

func testUntrustedProxy(t *testing.T, f *tlsFixture, good tls.Certificate) {
	untrusted := newHarness(t, server.Config{TLS: f.tls, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if _, _, err := untrusted.dialHeader("CP1", xfcc(good.Leaf)); err != nil {
		t.Fatal(err)
	}
	if req := untrusted.core.lastAdmit(); req.GetTls() || len(req.GetClientCertificate()) != 0 || req.GetClientCertificateForwarded() {
		t.Fatalf("untrusted peer's headers believed: %v", req)
	}
}

func (h *harness) dialHeader(station string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, h.url(station), &websocket.DialOptions{Subprotocols: []string{"ocpp2.0.1"}, HTTPHeader: hdr})
	if c != nil {
		h.t.Cleanup(func() { _ = c.CloseNow() })
	}
	return c, resp, err
}

// A renewed server certificate is served to new handshakes while open
// connections stay up.
func TestTLSReloadKeepsConnections(t *testing.T) {
	f := newTLSFixture(t, "p256")
	h := newHarness(t, server.Config{TLS: f.tls})
	base := serveTLS(t, h, f.tls)

	c, err := dialTLS(t, base, "CP1", f.caPool, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.nextUp() // CONNECTED

	newSN := f.writeServerCert(t, "rsa2048")
	if changed, err := f.tls.Reload(); err != nil || !changed {
		t.Fatalf("reload: changed=%v err=%v", changed, err)
	}
	if changed, err := f.tls.Reload(); err != nil || changed {
		t.Fatalf("second reload of the same files: changed=%v err=%v", changed, err)
	}
	// A broken file keeps the previous certificate in service.
	if err := os.WriteFile(f.files.KeyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tls.Reload(); err == nil {
		t.Fatal("a broken key was accepted")
	}

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(`[2,"1","Heartbeat",{}]`)); err != nil {
		t.Fatalf("connection dropped by the reload: %v", err)
	}
	if env := h.nextUp(); string(env.GetFrame()) != `[2,"1","Heartbeat",{}]` {
		t.Fatalf("frame after reload: %s", env.GetFrame())
	}

	conn, err := tls.Dial("tcp", base[len("wss://"):len(base)-len("/ocpp/")], &tls.Config{RootCAs: f.caPool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().PeerCertificates[0].SerialNumber.String(); got != newSN {
		t.Fatalf("new handshake got serial %s, want the renewed %s", got, newSN)
	}
}

// TLS 1.1 and weak suites are refused.
func TestTLSVersionAndSuites(t *testing.T) {
	f := newTLSFixture(t, "rsa2048")
	h := newHarness(t, server.Config{TLS: f.tls})
	base := serveTLS(t, h, f.tls)
	addr := base[len("wss://") : len(base)-len("/ocpp/")]
	if c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: f.caPool, ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 accepted")
	}
	if c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: f.caPool, ServerName: "localhost", MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}}); err == nil {
		c.Close()
		t.Fatal("a CBC suite accepted")
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: f.caPool, ServerName: "localhost", MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}})
	if err != nil {
		t.Fatalf("the whitepaper's TLS_RSA_WITH_AES_128_GCM_SHA256: %v", err)
	}
	c.Close()
}
