package main

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/api/pki/pkitest"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// The station asks for a certificate when triggered (and at boot with
// -sign-certificate), keeps the one signed for its CSR's key in -cert-dir,
// refuses one for another key, and manages the roots the CSMS installs.
func TestStationCertificates(t *testing.T) {
	for _, v := range []ocppj.Version{ocppj.V16, ocppj.V201} {
		t.Run(v.String(), func(t *testing.T) {
			ca := pkitest.NewRoot(t, "Sim CA", time.Time{}, time.Time{})
			dir := t.TempDir()
			csms := newFakeCSMS(t, v)
			startStation(t, Config{URLs: []string{csms.url()}, ID: "CP-7", Version: v, Connectors: 0,
				CertDir: dir, Organization: "Sim CPO", SignCertificate: true})
			ctx := testCtx(t)
			s := csms.accept(ctx)
			s.expect(ctx, "BootNotification", `{"status":"Accepted","currentTime":`+now+`,"interval":300}`)

			// -sign-certificate: a CSR right after the boot.
			signCSR := func() *x509.CertificateRequest {
				t.Helper()
				p := s.expect(ctx, "SignCertificate", `{"status":"Accepted"}`)
				var req struct {
					CSR             string `json:"csr"`
					CertificateType string `json:"certificateType"`
				}
				_ = json.Unmarshal(p, &req)
				if v == ocppj.V201 && req.CertificateType != "ChargingStationCertificate" {
					t.Errorf("certificateType %q", req.CertificateType)
				}
				csr, err := pki.CSRPolicy{Organization: "Sim CPO"}.CheckCSR(req.CSR, "CP-7")
				if err != nil {
					t.Fatalf("the station's CSR fails the CSMS's checks: %v", err)
				}
				return csr
			}
			csr := signCSR()

			chain := func(pub any) string {
				leaf := ca.Leaf(t, pkix.Name{CommonName: "CP-7", Organization: []string{"Sim CPO"}}, pub, time.Time{})
				return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})) + string(ca.CertPEM())
			}
			payload := func(chainPEM string) string {
				b, _ := json.Marshal(map[string]string{"certificateChain": chainPEM})
				return string(b)
			}
			other := pkitest.Key(t, "p256")
			if a := s.call(ctx, "CertificateSigned", payload(chain(other.Public()))); !strings.Contains(string(a.Payload), "Rejected") {
				t.Errorf("a certificate for another key: %s, want Rejected", a.Payload)
			}
			good := chain(csr.PublicKey)
			if a := s.call(ctx, "CertificateSigned", payload(good)); !strings.Contains(string(a.Payload), "Accepted") {
				t.Fatalf("CertificateSigned: %s", a.Payload)
			}
			certFile, keyFile := CertFiles(dir, "CP-7")
			if b, err := os.ReadFile(certFile); err != nil || string(b) != good {
				t.Errorf("certificate file: %v", err)
			}
			if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("key file: %v %v", fi, err)
			}
			if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
				t.Errorf("key and certificate do not make a TLS pair: %v", err)
			}

			// Renewal on demand.
			trigger, msg := "TriggerMessage", "SignChargingStationCertificate"
			if v == ocppj.V16 {
				trigger, msg = "ExtendedTriggerMessage", "SignChargePointCertificate"
			}
			if a := s.call(ctx, trigger, `{"requestedMessage":"`+msg+`"}`); !strings.Contains(string(a.Payload), "Accepted") {
				t.Fatalf("%s: %s", trigger, a.Payload)
			}
			if renewed := signCSR(); renewed.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(csr.PublicKey) {
				t.Error("a renewal reused the old key")
			}

			// Roots: install, list, delete.
			typ := "CSMSRootCertificate"
			if v == ocppj.V16 {
				typ = "CentralSystemRootCertificate"
			}
			b, _ := json.Marshal(map[string]string{"certificateType": typ, "certificate": string(ca.CertPEM())})
			if a := s.call(ctx, "InstallCertificate", string(b)); !strings.Contains(string(a.Payload), "Accepted") {
				t.Fatalf("InstallCertificate: %s", a.Payload)
			}
			query := `{"certificateType":"` + typ + `"}`
			if v == ocppj.V201 {
				query = `{"certificateType":["` + typ + `"]}`
			}
			a := s.call(ctx, "GetInstalledCertificateIds", query)
			h, _ := pki.CertificateHashData(ca.Cert, ca.Cert, "SHA256")
			if !strings.Contains(string(a.Payload), h.SerialNumber) || !strings.Contains(string(a.Payload), "Accepted") {
				t.Errorf("GetInstalledCertificateIds: %s, want the root's serial %s", a.Payload, h.SerialNumber)
			}
			hd, _ := json.Marshal(map[string]any{"certificateHashData": h})
			if a := s.call(ctx, "DeleteCertificate", string(hd)); !strings.Contains(string(a.Payload), "Accepted") {
				t.Errorf("DeleteCertificate: %s", a.Payload)
			}
			if a := s.call(ctx, "DeleteCertificate", string(hd)); !strings.Contains(string(a.Payload), "NotFound") {
				t.Errorf("DeleteCertificate again: %s", a.Payload)
			}
			if a := s.call(ctx, "GetInstalledCertificateIds", query); !strings.Contains(string(a.Payload), "NotFound") {
				t.Errorf("GetInstalledCertificateIds after delete: %s", a.Payload)
			}
		})
	}
}
