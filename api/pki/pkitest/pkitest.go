// Package pkitest makes what tests of certificate flows need: CAs, CSRs
// and certificates made on the spot with crypto/x509.
package pkitest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"testing"
	"time"
)

// Key makes a key: "rsa2048", "rsa1024", "p256", "p384", "p224" or
// "ed25519" are what tests use.
func Key(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch kind {
	case "rsa1024":
		k, err = rsa.GenerateKey(rand.Reader, 1024)
	case "rsa2048":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "p224":
		k, err = ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	case "p256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		t.Fatalf("pkitest: unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatalf("pkitest: generate %s key: %v", kind, err)
	}
	return k
}

// CSR is a PEM certificate signing request for subject, signed by key.
func CSR(t testing.TB, key crypto.Signer, subject pkix.Name) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
	if err != nil {
		t.Fatalf("pkitest: create CSR: %v", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// CA is a certificate authority made for a test.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// CertPEM is the CA certificate in PEM.
func (c CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// KeyPEM is the CA key in PKCS#8 PEM.
func (c CA) KeyPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		t.Fatalf("pkitest: marshal key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// NewRoot makes a self-signed root CA valid from notBefore to notAfter
// (zero: an hour ago to a year ahead).
func NewRoot(t testing.TB, cn string, notBefore, notAfter time.Time) CA {
	t.Helper()
	key := Key(t, "p256")
	tmpl := caTemplate(cn, notBefore, notAfter)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("pkitest: create root: %v", err)
	}
	return CA{Cert: parse(t, der), Key: key}
}

// NewSubCA makes a CA signed by parent.
func (c CA) NewSubCA(t testing.TB, cn string) CA {
	t.Helper()
	key := Key(t, "p256")
	tmpl := caTemplate(cn, time.Time{}, time.Time{})
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, key.Public(), c.Key)
	if err != nil {
		t.Fatalf("pkitest: create sub-CA: %v", err)
	}
	return CA{Cert: parse(t, der), Key: key}
}

// Leaf makes a certificate for key signed by c (not a CA, client and
// server auth), valid from an hour ago to notAfter (zero: a day ahead).
func (c CA) Leaf(t testing.TB, subject pkix.Name, pub crypto.PublicKey, notAfter time.Time) *x509.Certificate {
	t.Helper()
	if notAfter.IsZero() {
		notAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               subject,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, pub, c.Key)
	if err != nil {
		t.Fatalf("pkitest: create leaf: %v", err)
	}
	return parse(t, der)
}

// ServerLeaf makes a TLS server certificate for key, for hosts (IP
// addresses or DNS names), signed by c, valid from an hour ago for a day.
func (c CA) ServerLeaf(t testing.TB, key crypto.Signer, hosts ...string) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, key.Public(), c.Key)
	if err != nil {
		t.Fatalf("pkitest: create server certificate: %v", err)
	}
	leaf := parse(t, der)
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
}

// WritePEM writes a certificate (leaf first) or a key to path in PEM, as
// the files a TLS listener or a charger is given.
func WritePEM(t testing.TB, path string, v any) {
	t.Helper()
	var out []byte
	switch v := v.(type) {
	case *x509.Certificate:
		out = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: v.Raw})
	case tls.Certificate:
		for _, der := range v.Certificate {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		}
	case crypto.Signer:
		der, err := x509.MarshalPKCS8PrivateKey(v)
		if err != nil {
			t.Fatalf("pkitest: marshal key: %v", err)
		}
		out = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	default:
		t.Fatalf("pkitest: cannot write %T", v)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatalf("pkitest: %v", err)
	}
}

func caTemplate(cn string, notBefore, notAfter time.Time) *x509.Certificate {
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-time.Hour)
	}
	if notAfter.IsZero() {
		notAfter = time.Now().Add(365 * 24 * time.Hour)
	}
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	return &x509.Certificate{
		SerialNumber:          n.Add(n, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Test PKI"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	if err != nil {
		t.Fatalf("pkitest: serial: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}

func parse(t testing.TB, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("pkitest: parse: %v", err)
	}
	return c
}
