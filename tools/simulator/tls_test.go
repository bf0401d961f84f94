package main

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/pki/pkitest"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// The station trusts the CSMS through -ca and shows its client certificate
// over real wss: the one of -cert/-key, or else the one in -cert-dir,
// re-read at each reconnection so that a renewed certificate is used.
func TestStationOverTLS(t *testing.T) {
	ca := pkitest.NewRoot(t, "Sim CSMS CA", time.Time{}, time.Time{})
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	pkitest.WritePEM(t, caFile, ca.Cert)
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(ca.Cert)
	serverCert := ca.ServerLeaf(t, pkitest.Key(t, "rsa2048"), "127.0.0.1")
	// Each subtest has its own CSMS: the fake's failures go to its test.
	newCSMS := func(t *testing.T) *fakeCSMS {
		csms := newTLSFakeCSMS(t, ocppj.V201, &tls.Config{
			Certificates: []tls.Certificate{serverCert},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    clientCAs,
		})
		if !strings.HasPrefix(csms.url(), "wss://") {
			t.Fatalf("fake CSMS URL %s", csms.url())
		}
		return csms
	}
	// writeCert writes a certificate for id and returns its serial.
	writeCert := func(id, certFile, keyFile string) string {
		key := pkitest.Key(t, "p256")
		leaf := ca.Leaf(t, pkix.Name{CommonName: id}, key.Public(), time.Time{})
		pkitest.WritePEM(t, keyFile, key)
		pkitest.WritePEM(t, certFile, leaf)
		return leaf.SerialNumber.String()
	}
	boot := `{"status":"Accepted","currentTime":` + now + `,"interval":300}`
	peer := func(s *session) string {
		if len(s.r.TLS.PeerCertificates) == 0 {
			return "none"
		}
		return s.r.TLS.PeerCertificates[0].Subject.CommonName + "/" + s.r.TLS.PeerCertificates[0].SerialNumber.String()
	}

	t.Run("cert flags", func(t *testing.T) {
		certFile, keyFile := filepath.Join(dir, "cp1.pem"), filepath.Join(dir, "cp1-key.pem")
		serial := writeCert("CP-1", certFile, keyFile)
		csms := newCSMS(t)
		startStation(t, Config{URLs: []string{csms.url()}, ID: "CP-1", Version: ocppj.V201, CAFile: caFile, CertFile: certFile, KeyFile: keyFile})
		ctx := testCtx(t)
		s := csms.accept(ctx)
		if got := peer(s); got != "CP-1/"+serial {
			t.Errorf("client certificate %s, want CP-1/%s", got, serial)
		}
		s.expect(ctx, "BootNotification", boot)
	})

	t.Run("cert dir, renewed", func(t *testing.T) {
		certDir := t.TempDir()
		certFile, keyFile := CertFiles(certDir, "CP-2")
		serial := writeCert("CP-2", certFile, keyFile)
		csms := newCSMS(t)
		startStation(t, Config{URLs: []string{csms.url()}, ID: "CP-2", Version: ocppj.V201, CAFile: caFile, CertDir: certDir})
		ctx := testCtx(t)
		s := csms.accept(ctx)
		if got := peer(s); got != "CP-2/"+serial {
			t.Errorf("client certificate %s, want CP-2/%s", got, serial)
		}
		s.expect(ctx, "BootNotification", boot)
		renewed := writeCert("CP-2", certFile, keyFile)
		_ = s.conn.CloseNow()
		s = csms.accept(ctx)
		if got := peer(s); got != "CP-2/"+renewed {
			t.Errorf("after renewal the client certificate is %s, want CP-2/%s", got, renewed)
		}
	})

	t.Run("no certificate", func(t *testing.T) {
		// An empty -cert-dir means memory only, never the working directory.
		t.Chdir(t.TempDir())
		certFile, keyFile := CertFiles("", "CP-3")
		writeCert("CP-3", certFile, keyFile)
		for _, certDir := range []string{t.TempDir(), ""} {
			csms := newCSMS(t)
			stop := startStation(t, Config{URLs: []string{csms.url()}, ID: "CP-3", Version: ocppj.V201, CAFile: caFile, CertDir: certDir})
			ctx := testCtx(t)
			s := csms.accept(ctx)
			if got := peer(s); got != "none" {
				t.Errorf("a station without a certificate (-cert-dir %q) showed %s", certDir, got)
			}
			s.expect(ctx, "BootNotification", boot)
			stop()
		}
	})

	t.Run("bad files", func(t *testing.T) {
		certFile, keyFile := filepath.Join(dir, "cp1.pem"), filepath.Join(dir, "cp1-key.pem")
		notPEM := filepath.Join(dir, "not.pem")
		if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
			t.Fatal(err)
		}
		otherKey := filepath.Join(dir, "other-key.pem")
		pkitest.WritePEM(t, otherKey, pkitest.Key(t, "p256"))
		for name, cfg := range map[string]Config{
			"missing ca":     {CAFile: filepath.Join(dir, "nope.pem")},
			"ca not PEM":     {CAFile: notPEM},
			"ca is a key":    {CAFile: otherKey},
			"key of another": {CertFile: certFile, KeyFile: otherKey},
			"missing cert":   {CertFile: filepath.Join(dir, "nope.pem"), KeyFile: keyFile},
		} {
			cfg.URLs, cfg.ID = []string{"wss://127.0.0.1:1/ocpp"}, "CP-1"
			if _, err := newStation(cfg, slog.New(slog.DiscardHandler)); err == nil {
				t.Errorf("%s: newStation accepted %+v", name, cfg)
			}
		}
		for _, args := range [][]string{{"-cert", certFile}, {"-key", keyFile}, {"-cert", certFile, "-key", keyFile, "-n", "2"}} {
			if _, _, err := parseFlags(args, io.Discard); err == nil {
				t.Errorf("parseFlags(%q) accepted", args)
			}
		}
		cfg, _, err := parseFlags([]string{"-url", "wss://h/ocpp", "-ca", caFile, "-cert", certFile, "-key", keyFile}, io.Discard)
		if err != nil || cfg.CAFile != caFile || cfg.CertFile != certFile || cfg.KeyFile != keyFile {
			t.Errorf("parseFlags = %+v, %v", cfg, err)
		}
	})
}
