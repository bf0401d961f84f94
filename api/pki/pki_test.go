package pki_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/api/pki/pkitest"
)

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkCSR(t *testing.T, p pki.CSRPolicy, csr, station string) *x509.CertificateRequest {
	t.Helper()
	req, err := p.CheckCSR(csr, station)
	if err != nil {
		t.Fatalf("CheckCSR: %v", err)
	}
	return req
}

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ca, created, err := pki.LoadOrCreate(dir, "Example CPO", pki.Options{})
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, pki.GeneratedKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	c := ca.Certificate()
	if !c.IsCA || c.Subject.Organization[0] != "Example CPO" || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("generated CA: IsCA=%v subject=%v usage=%v", c.IsCA, c.Subject, c.KeyUsage)
	}

	issued, err := ca.Issue(checkCSR(t, pki.CSRPolicy{}, pkitest.CSR(t, pkitest.Key(t, "p256"), pkix.Name{CommonName: "CP-1"}), "CP-1"), "CP-1")
	if err != nil {
		t.Fatal(err)
	}

	again, created, err := pki.LoadOrCreate(dir, "Example CPO", pki.Options{})
	if err != nil || created {
		t.Fatalf("second LoadOrCreate: created=%v err=%v", created, err)
	}
	if !again.Certificate().Equal(c) {
		t.Error("a second start did not load the same CA")
	}

	// The certificate file lost: recreated from the key, and what the CA
	// issued before still verifies.
	if err := os.Remove(filepath.Join(dir, pki.GeneratedCertFile)); err != nil {
		t.Fatal(err)
	}
	rebuilt, created, err := pki.LoadOrCreate(dir, "Example CPO", pki.Options{})
	if err != nil || created {
		t.Fatalf("LoadOrCreate without cert file: created=%v err=%v", created, err)
	}
	if _, err := rebuilt.VerifyChain(issued.ChainPEM); err != nil {
		t.Errorf("certificate issued before the CA file was recreated: %v", err)
	}

	// The key lost: a new CA, not a certificate without its key.
	if err := os.Remove(filepath.Join(dir, pki.GeneratedKeyFile)); err != nil {
		t.Fatal(err)
	}
	fresh, created, err := pki.LoadOrCreate(dir, "Example CPO", pki.Options{})
	if err != nil || !created {
		t.Fatalf("LoadOrCreate without key: created=%v err=%v", created, err)
	}
	if fresh.Certificate().Equal(c) {
		t.Error("a new key kept the old certificate")
	}
}

func TestLoadOperatorSubCA(t *testing.T) {
	root := pkitest.NewRoot(t, "Operator Root", time.Time{}, time.Time{})
	sub := root.NewSubCA(t, "Operator CSMS Sub-CA")
	dir := t.TempDir()
	// The file holds the sub-CA, then its root, as a chain.
	certFile := writeFile(t, dir, "ca.pem", append(sub.CertPEM(), root.CertPEM()...))
	keyFile := writeFile(t, dir, "ca-key.pem", sub.KeyPEM(t))

	ca, err := pki.Load(certFile, keyFile, pki.Options{Validity: 48 * time.Hour})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	key := pkitest.Key(t, "rsa2048")
	csr := checkCSR(t, pki.CSRPolicy{Organization: "Example CPO"},
		pkitest.CSR(t, key, pkix.Name{CommonName: "CP-7", Organization: []string{"Example CPO"}}), "CP-7")
	issued, err := ca.Issue(csr, "CP-7")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := pki.ParseCertificates([]byte(issued.ChainPEM))
	if err != nil {
		t.Fatal(err)
	}
	// Leaf first, then the sub-CA; the root is the station's to trust.
	if len(chain) != 2 || !chain[1].Equal(sub.Cert) {
		t.Fatalf("chain has %d certificates, want leaf + sub-CA", len(chain))
	}
	leaf := chain[0]
	if leaf.Subject.CommonName != "CP-7" || leaf.Subject.Organization[0] != "Example CPO" {
		t.Errorf("leaf subject = %v", leaf.Subject)
	}
	if leaf.IsCA || len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("leaf IsCA=%v ExtKeyUsage=%v, want a client certificate", leaf.IsCA, leaf.ExtKeyUsage)
	}
	if !leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
		t.Error("leaf does not carry the CSR's key")
	}
	if d := leaf.NotAfter.Sub(time.Now()); d < 47*time.Hour || d > 49*time.Hour {
		t.Errorf("leaf valid for %v more, want the configured 48h", d)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root.Cert)
	inter := x509.NewCertPool()
	inter.AddCert(chain[1])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("chain does not verify against the operator's root: %v", err)
	}
	if _, err := ca.VerifyChain(issued.ChainPEM); err != nil {
		t.Errorf("VerifyChain: %v", err)
	}
	other := pkitest.NewRoot(t, "Other", time.Time{}, time.Time{})
	otherLeaf := other.Leaf(t, pkix.Name{CommonName: "CP-7"}, key.Public(), time.Time{})
	if _, err := ca.VerifyChain(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: otherLeaf.Raw}))); err == nil {
		t.Error("VerifyChain accepted a certificate of another CA")
	}
}

func TestIssueNeverOutlivesTheCA(t *testing.T) {
	root := pkitest.NewRoot(t, "Short", time.Now().Add(-time.Hour), time.Now().Add(10*24*time.Hour))
	ca, err := pki.Parse(root.CertPEM(), root.KeyPEM(t), pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	issued, err := ca.Issue(checkCSR(t, pki.CSRPolicy{}, pkitest.CSR(t, pkitest.Key(t, "p384"), pkix.Name{CommonName: "CP-2"}), "CP-2"), "CP-2")
	if err != nil {
		t.Fatal(err)
	}
	if !issued.Certificate.NotAfter.Equal(root.Cert.NotAfter) {
		t.Errorf("NotAfter = %v, want the CA's %v", issued.Certificate.NotAfter, root.Cert.NotAfter)
	}
}

func TestLoadRefuses(t *testing.T) {
	root := pkitest.NewRoot(t, "Root", time.Time{}, time.Time{})
	other := pkitest.NewRoot(t, "Other", time.Time{}, time.Time{})
	expired := pkitest.NewRoot(t, "Old", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	leafKey := pkitest.Key(t, "p256")
	leaf := root.Leaf(t, pkix.Name{CommonName: "not a CA"}, leafKey.Public(), time.Time{})
	leafPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	leafKeyPEM := pkitest.CA{Cert: leaf, Key: leafKey}.KeyPEM(t)

	for _, tc := range []struct {
		name      string
		cert, key []byte
		want      string
	}{
		{"key of another CA", root.CertPEM(), other.KeyPEM(t), "does not belong"},
		{"not a CA", leafPEM, leafKeyPEM, "not a CA"},
		{"expired", expired.CertPEM(), expired.KeyPEM(t), "not now"},
		{"no certificate", []byte("nothing"), root.KeyPEM(t), "no PEM certificate"},
		{"no key", root.CertPEM(), []byte("nothing"), "no PEM private key"},
		{"key in the certificate file", append(root.CertPEM(), root.KeyPEM(t)...), root.KeyPEM(t), "unexpected PEM block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pki.Parse(tc.cert, tc.key, pki.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse error = %v, want one saying %q", err, tc.want)
			}
		})
	}
	if _, err := pki.Load(filepath.Join(t.TempDir(), "missing.pem"), "x", pki.Options{}); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestCheckCSR(t *testing.T) {
	policy := pki.CSRPolicy{Organization: "Example CPO"}
	good := pkix.Name{CommonName: "CP-1", Organization: []string{"Example CPO"}}
	for _, kind := range []string{"rsa2048", "p256", "p384"} {
		t.Run("accepts/"+kind, func(t *testing.T) {
			req := checkCSR(t, policy, pkitest.CSR(t, pkitest.Key(t, kind), good), "CP-1")
			if req.Subject.CommonName != "CP-1" {
				t.Errorf("CN = %q", req.Subject.CommonName)
			}
		})
	}
	t.Run("accepts base64 DER", func(t *testing.T) {
		block, _ := pem.Decode([]byte(pkitest.CSR(t, pkitest.Key(t, "p256"), good)))
		checkCSR(t, policy, base64.StdEncoding.EncodeToString(block.Bytes), "CP-1")
	})
	t.Run("no organisation required without CSMS_ORGANIZATION", func(t *testing.T) {
		checkCSR(t, pki.CSRPolicy{}, pkitest.CSR(t, pkitest.Key(t, "p256"), pkix.Name{CommonName: "CP-1"}), "CP-1")
	})

	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, csr, check string
	}{
		{"garbage", "not a CSR at all!", pki.CheckMalformed},
		{"certificate instead", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}})), pki.CheckMalformed},
		{"truncated DER", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x82, 0x01}})), pki.CheckMalformed},
		{"bad signature", tamperSignature(t, pkitest.CSR(t, pkitest.Key(t, "p256"), good)), pki.CheckSignature},
		{"another station's CN", pkitest.CSR(t, pkitest.Key(t, "p256"), pkix.Name{CommonName: "CP-2", Organization: []string{"Example CPO"}}), pki.CheckCommonName},
		{"no CN", pkitest.CSR(t, pkitest.Key(t, "p256"), pkix.Name{Organization: []string{"Example CPO"}}), pki.CheckCommonName},
		{"another organisation", pkitest.CSR(t, pkitest.Key(t, "p256"), pkix.Name{CommonName: "CP-1", Organization: []string{"Mallory"}}), pki.CheckOrganization},
		{"no organisation", pkitest.CSR(t, pkitest.Key(t, "p256"), pkix.Name{CommonName: "CP-1"}), pki.CheckOrganization},
		{"two organisations", pkitest.CSR(t, pkitest.Key(t, "p256"), pkix.Name{CommonName: "CP-1", Organization: []string{"Example CPO", "Mallory"}}), pki.CheckOrganization},
		{"RSA 1024", pkitest.CSR(t, pkitest.Key(t, "rsa1024"), good), pki.CheckKey},
		{"ECDSA P-224", pkitest.CSR(t, pkitest.Key(t, "p224"), good), pki.CheckKey},
		{"Ed25519", pkitest.CSR(t, edKey, good), pki.CheckKey},
	} {
		t.Run("rejects/"+tc.name, func(t *testing.T) {
			_, err := policy.CheckCSR(tc.csr, "CP-1")
			var ce *pki.CSRError
			if !errors.As(err, &ce) {
				t.Fatalf("CheckCSR error = %v, want a *CSRError", err)
			}
			if ce.Check != tc.check {
				t.Errorf("failed check %q (%s), want %q", ce.Check, ce.Reason, tc.check)
			}
		})
	}
}

// tamperSignature flips a bit of the CSR's signature.
func tamperSignature(t *testing.T, csr string) string {
	t.Helper()
	block, _ := pem.Decode([]byte(csr))
	der := append([]byte(nil), block.Bytes...)
	der[len(der)-3] ^= 0x01
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatalf("tampered CSR no longer parses: %v", err)
	}
	if _, ok := req.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Fatal("want an ECDSA CSR")
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}
