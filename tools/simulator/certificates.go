package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/pkg/chargepoint"
)

// certStore is the station's certificate store: the key of its last CSR,
// the certificate the CSMS signed for it (written to CertDir as the TLS
// client certificate of security profile 3), and the root certificates
// the CSMS installed.
type certStore struct {
	id, org, dir string

	mu        sync.Mutex
	key       *ecdsa.PrivateKey // of the CSR awaiting its certificate
	installed []installedCert
}

type installedCert struct {
	typ  string
	cert *x509.Certificate
}

// CertFiles are where a station keeps its key and its certificate chain.
func CertFiles(dir, id string) (certFile, keyFile string) {
	return filepath.Join(dir, id+".pem"), filepath.Join(dir, id+".key.pem")
}

// csr makes a new key pair and a CSR for it: CN = station id, O = the
// configured organisation, as the CSMS checks.
func (c *certStore) csr() (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	subject := pkix.Name{CommonName: c.id}
	if c.org != "" {
		subject.Organization = []string{c.org}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.key = key
	c.mu.Unlock()
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

// signed takes the chain of CertificateSigned: it must be for the key of
// the CSR sent and for this station; it is written to dir with its key.
func (c *certStore) signed(chainPEM string) error {
	chain, err := pki.ParseCertificates([]byte(chainPEM))
	if err != nil {
		return err
	}
	c.mu.Lock()
	key := c.key
	c.mu.Unlock()
	leaf := chain[0]
	switch {
	case key == nil:
		return errors.New("no CSR is waiting for a certificate")
	case !key.PublicKey.Equal(leaf.PublicKey):
		return errors.New("the certificate is not for the key of the CSR sent")
	case leaf.Subject.CommonName != c.id:
		return fmt.Errorf("the certificate is for %q", leaf.Subject.CommonName)
	}
	if c.dir == "" {
		return nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	certFile, keyFile := CertFiles(c.dir, c.id)
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, []byte(chainPEM), 0o644)
}

// install keeps a root certificate of the given type.
func (c *certStore) install(typ, certPEM string) error {
	certs, err := pki.ParseCertificates([]byte(certPEM))
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.installed = append(c.installed, installedCert{typ: typ, cert: certs[0]})
	return nil
}

// list returns the hash data of the installed certificates of the given
// types (all when none), with their types.
func (c *certStore) list(types ...string) ([]string, []pki.HashData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var typs []string
	var out []pki.HashData
	for _, ic := range c.installed {
		if len(types) > 0 && !slices.Contains(types, ic.typ) {
			continue
		}
		h, err := pki.CertificateHashData(ic.cert, ic.cert, "SHA256")
		if err != nil {
			continue
		}
		typs, out = append(typs, ic.typ), append(out, h)
	}
	return typs, out
}

// remove deletes the installed certificate with hash data h; false when
// there is none.
func (c *certStore) remove(h pki.HashData) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	want := h.Normalize()
	for i, ic := range c.installed {
		got, err := pki.CertificateHashData(ic.cert, ic.cert, want.HashAlgorithm)
		if err == nil && got.Normalize() == want {
			c.installed = append(c.installed[:i], c.installed[i+1:]...)
			return true
		}
	}
	return false
}

// signCertificate is the work a CSR trigger (or -sign-certificate at boot)
// queues: a new key, a CSR, SignCertificate.
func (s *Station) signCertificate(certificateType string) func(context.Context, *chargepoint.Client) error {
	return func(ctx context.Context, c *chargepoint.Client) error {
		csr, err := s.certs.csr()
		if err != nil {
			return fmt.Errorf("make CSR: %w", err)
		}
		req := map[string]any{"csr": csr}
		if certificateType != "" {
			req["certificateType"] = certificateType
		}
		var resp struct {
			Status string `json:"status"`
		}
		if err := c.Call(ctx, "SignCertificate", req, &resp); err != nil {
			if isCallError(err) {
				s.log.Warn("SignCertificate refused", "err", err)
				return nil
			}
			return fmt.Errorf("SignCertificate: %w", err)
		}
		s.log.Info("SignCertificate answered", "status", resp.Status)
		return nil
	}
}

// certificateSigned answers CertificateSigned.
func (s *Station) certificateSigned(chain string) string {
	if err := s.certs.signed(chain); err != nil {
		s.log.Warn("CertificateSigned refused", "err", err)
		return "Rejected"
	}
	certFile, keyFile := CertFiles(s.certs.dir, s.cfg.ID)
	if s.certs.dir == "" {
		certFile, keyFile = "(not written: no -cert-dir)", ""
	}
	s.log.Info("station certificate installed", "cert_file", certFile, "key_file", keyFile)
	return "Accepted"
}

// wantsCertificate reports, once, whether -sign-certificate asks for a
// certificate now: CertDir has none yet.
func (s *Station) wantsCertificate() bool {
	if !s.cfg.SignCertificate {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.asked {
		return false
	}
	s.asked = true
	if s.cfg.CertDir != "" {
		certFile, _ := CertFiles(s.cfg.CertDir, s.cfg.ID)
		if _, err := os.Stat(certFile); err == nil {
			return false
		}
	}
	return true
}
