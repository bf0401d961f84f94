// Package pki is the CSMS's certificate authority: it loads the CA the
// operator gives (CA_CERT_FILE, CA_KEY_FILE) or the one generated in
// DATA_DIR, checks charging stations' certificate signing requests against
// the OCPP rules (CheckCSR), issues their certificates (CA.Issue), computes
// the OCPP certificate hash data and asks an OCSP responder about a
// certificate. It knows nothing of the database or the protocol versions:
// api/certificates and the route handlers build on it.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Files of the CA generated in DATA_DIR.
const (
	GeneratedCertFile = "ca.pem"
	GeneratedKeyFile  = "ca-key.pem"
)

// generatedCAValidity is how long a generated CA certificate is valid. It
// is recreated from its key when its file is removed (see LoadOrCreate).
const generatedCAValidity = 10 * 365 * 24 * time.Hour

// generatedCAName is the common name of a generated CA; fixed, so that a
// certificate recreated from the same key still issues the same name.
const generatedCAName = "Chargeplane CSMS CA"

// DefaultValidity is how long an issued station certificate is valid.
const DefaultValidity = 365 * 24 * time.Hour

// clockSkew backdates an issued certificate's NotBefore so that a station
// whose clock is a little behind accepts it at once.
const clockSkew = 5 * time.Minute

// CA signs charging station certificates. It is safe for concurrent use.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
	// intermediates follow an issued leaf in the chain a station gets: the
	// CA certificate itself and the further sub-CAs of CA_CERT_FILE, without
	// self-signed roots (a station must already trust its root).
	intermediates []*x509.Certificate
	// bundle is every certificate of the CA file, for verifying issued
	// chains.
	bundle   []*x509.Certificate
	validity time.Duration
	now      func() time.Time
}

// Options tune a CA; the zero value is usable.
type Options struct {
	// Validity of issued certificates (default DefaultValidity), never
	// beyond the CA certificate's own NotAfter.
	Validity time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Load reads a CA from PEM files: certFile holds the CA certificate first,
// optionally followed by the sub-CAs above it (leaf first, as a chain);
// keyFile holds its private key (PKCS#8, PKCS#1 or SEC 1). The key must
// match the certificate, the certificate must be a CA allowed to sign
// certificates and must be valid now.
func Load(certFile, keyFile string, o Options) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("pki: read CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: read CA key: %w", err)
	}
	ca, err := Parse(certPEM, keyPEM, o)
	if err != nil {
		return nil, fmt.Errorf("pki: %s, %s: %w", certFile, keyFile, err)
	}
	return ca, nil
}

// Parse is Load from PEM bytes.
func Parse(certPEM, keyPEM []byte, o Options) (*CA, error) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	ca := &CA{cert: certs[0], key: key, bundle: certs, validity: o.Validity, now: o.Now}
	if ca.validity <= 0 {
		ca.validity = DefaultValidity
	}
	if ca.now == nil {
		ca.now = time.Now
	}
	if !publicKeysEqual(ca.cert.PublicKey, key.Public()) {
		return nil, errors.New("the key does not belong to the CA certificate (the first certificate of the file)")
	}
	if !ca.cert.BasicConstraintsValid || !ca.cert.IsCA {
		return nil, fmt.Errorf("certificate %q is not a CA (basic constraints)", ca.cert.Subject)
	}
	if ca.cert.KeyUsage != 0 && ca.cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("certificate %q may not sign certificates (key usage)", ca.cert.Subject)
	}
	if now := ca.now(); now.Before(ca.cert.NotBefore) || !now.Before(ca.cert.NotAfter) {
		return nil, fmt.Errorf("CA certificate %q is valid from %s to %s, not now",
			ca.cert.Subject, ca.cert.NotBefore.UTC().Format(time.RFC3339), ca.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	for _, c := range certs {
		if !isSelfSigned(c) {
			ca.intermediates = append(ca.intermediates, c)
		}
	}
	return ca, nil
}

// LoadOrCreate loads the CA kept in dir (GeneratedCertFile and
// GeneratedKeyFile), creating it on first use: an ECDSA P-256 key written
// 0600, and a self-signed CA certificate whose organisation is org (or
// "Chargeplane"). A missing certificate is recreated from the key, so
// certificates issued before stay valid; a missing key is a new CA.
// created reports whether a new key was made.
func LoadOrCreate(dir, org string, o Options) (ca *CA, created bool, err error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("pki: create %s: %w", dir, err)
	}
	keyPath, certPath := filepath.Join(dir, GeneratedKeyFile), filepath.Join(dir, GeneratedCertFile)

	keyPEM, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		if keyPEM, created, err = createKeyFile(keyPath); err != nil {
			return nil, false, err
		}
	} else if err != nil {
		return nil, false, fmt.Errorf("pki: read %s: %w", keyPath, err)
	}
	if created {
		// A certificate left from a key that is gone belongs to nobody.
		if err := os.Remove(certPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, false, fmt.Errorf("pki: remove stale %s: %w", certPath, err)
		}
	}
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := parseKey(keyPEM)
		if err != nil {
			return nil, false, fmt.Errorf("pki: %s: %w", keyPath, err)
		}
		if certPEM, err = selfSignedCA(key, org, o.Now()); err != nil {
			return nil, false, err
		}
		if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
			return nil, false, err
		}
	} else if err != nil {
		return nil, false, fmt.Errorf("pki: read %s: %w", certPath, err)
	}
	ca, err = Parse(certPEM, keyPEM, o)
	if err != nil {
		return nil, false, fmt.Errorf("pki: %s: %w", dir, err)
	}
	return ca, created, nil
}

// createKeyFile writes a new P-256 key with O_EXCL; when another process
// made one meanwhile, its key is used instead (made false), so both run
// one CA.
func createKeyFile(path string) (keyPEM []byte, made bool, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("pki: generate CA key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, false, fmt.Errorf("pki: encode CA key: %w", err)
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, false, fmt.Errorf("pki: read %s: %w", path, err)
		}
		return b, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("pki: create %s: %w", path, err)
	}
	if _, err := f.Write(keyPEM); err != nil {
		f.Close()
		os.Remove(path)
		return nil, false, fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, false, fmt.Errorf("pki: write %s: %w", path, err)
	}
	return keyPEM, true, nil
}

func selfSignedCA(key crypto.Signer, org string, now time.Time) ([]byte, error) {
	if org == "" {
		org = "Chargeplane"
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: generatedCAName, Organization: []string{org}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(generatedCAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// It signs station certificates only, never another CA.
		MaxPathLen:     0,
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return nil
}

// Certificate is the CA certificate that signs station certificates.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Roots is a pool of the CA file's self-signed certificates, or of the CA
// certificate itself when the file holds no root: what a verifier of an
// issued chain trusts.
func (ca *CA) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range ca.bundle {
		if isSelfSigned(c) {
			p.AddCert(c)
		}
	}
	if len(ca.intermediates) == len(ca.bundle) {
		p.AddCert(ca.cert)
	}
	return p
}

// CertificatePEM is the CA certificate in PEM, e.g. for a TLS listener's
// client CA bundle or for InstallCertificate.
func (ca *CA) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// Issued is a certificate the CA made for a station.
type Issued struct {
	Certificate *x509.Certificate
	// ChainPEM is the leaf followed by the CA's intermediates, PEM
	// (CertificateSigned's certificateChain).
	ChainPEM string
}

// Issue signs a station certificate for csr, which must have passed
// CheckCSR for stationID: subject CN = stationID and the CSR's other
// subject fields, the CSR's key, usable as a TLS client certificate
// (security profile 3). The CSR's requested extensions are ignored.
func (ca *CA) Issue(csr *x509.CertificateRequest, stationID string) (*Issued, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := ca.now()
	notAfter := now.Add(ca.validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	subject := csr.Subject
	subject.ExtraNames = nil
	subject.CommonName = stationID
	usage := x509.KeyUsageDigitalSignature
	if _, ok := csr.PublicKey.(*rsa.PublicKey); ok {
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: sign certificate for %q: %w", stationID, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse issued certificate: %w", err)
	}
	var chain bytes.Buffer
	_ = pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	for _, c := range ca.intermediates {
		_ = pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return &Issued{Certificate: leaf, ChainPEM: chain.String()}, nil
}

// VerifyChain checks that chainPEM (leaf first) chains to the CA and is
// valid as a client certificate at the CA's current time; it returns the
// leaf.
func (ca *CA) VerifyChain(chainPEM string) (*x509.Certificate, error) {
	certs, err := ParseCertificates([]byte(chainPEM))
	if err != nil {
		return nil, err
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	for _, c := range ca.bundle {
		if !isSelfSigned(c) {
			inter.AddCert(c)
		}
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{
		Roots: ca.Roots(), Intermediates: inter, CurrentTime: ca.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, fmt.Errorf("pki: verify chain: %w", err)
	}
	return certs[0], nil
}

// ParseCertificates reads every CERTIFICATE block of a PEM bundle, in
// order; other blocks are an error, and so is a bundle without any.
func ParseCertificates(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q in a certificate file", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	if len(bytes.TrimSpace(b)) != 0 {
		return nil, errors.New("trailing data after the last PEM certificate")
	}
	return out, nil
}

func parseKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM private key found")
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported private key PEM block %q (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY; an encrypted key must be decrypted first)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported CA key type %T (want RSA or ECDSA)", k)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// newSerial is a random positive serial of 127 bits: unique without
// coordination between core instances, within RFC 5280's 20 octets.
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}
