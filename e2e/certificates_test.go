package e2e

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/api/pki/pkitest"
)

// e2eOrganization is CSMS_ORGANIZATION in these tests: CSRs must carry it.
const e2eOrganization = "E2E CPO"

// TestCertificates drives the station certificate flows over real sockets
// in both deployments and versions: a strict charger's CSR is signed and
// comes back in CertificateSigned after the answer, chaining to the CA;
// CSRs failing a check are rejected; GetCertificateStatus is answered from
// a real OCSP responder. The embedded core generates its CA in DATA_DIR;
// the scale-out core is given an operator's sub-CA.
func TestCertificates(t *testing.T) {
	responder := newOCSPResponder(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			var operatorRoot *pkitest.CA
			sys := m.start(t, func(env map[string]string) {
				env["CSMS_ORGANIZATION"] = e2eOrganization
				env["OCSP_RESPONDER_URL"] = responder.url
				if m.name == "scaleout" {
					root := pkitest.NewRoot(t, "E2E Operator Root", time.Time{}, time.Time{})
					sub := root.NewSubCA(t, "E2E CSMS Sub-CA")
					dir := t.TempDir()
					env["CA_CERT_FILE"] = writeTestFile(t, dir, "ca.pem", append(sub.CertPEM(), root.CertPEM()...))
					env["CA_KEY_FILE"] = writeTestFile(t, dir, "ca-key.pem", sub.KeyPEM(t))
					operatorRoot = &root
				}
			})
			roots := caRoots(testCtx(t), t, sys, operatorRoot)
			for _, v := range versions {
				t.Run("SignCertificate/"+v.name, func(t *testing.T) { testSignCertificate(t, sys, v, roots) })
				t.Run("AnswerFirst/"+v.name, func(t *testing.T) { testCertificateSignedFollowsAnswer(t, sys, v) })
			}
			t.Run("GetCertificateStatus", func(t *testing.T) { testGetCertificateStatus(t, sys, responder) })
		})
	}
}

func writeTestFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// caRoots is what a station trusts for the certificates the CSMS issues:
// the operator's root, or the generated CA the API serves (embedded).
func caRoots(ctx context.Context, t *testing.T, sys *system, operatorRoot *pkitest.CA) *x509.CertPool {
	t.Helper()
	code, _, body, err := sys.rest.do(ctx, http.MethodGet, "/api/v1/certificate-authority", nil, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/v1/certificate-authority: %d %s %v", code, body, err)
	}
	var ca struct {
		Enabled     bool   `json:"enabled"`
		Certificate string `json:"certificate"`
	}
	if err := decodeAPI(body, &ca); err != nil || !ca.Enabled {
		t.Fatalf("certificate authority %s: %v", body, err)
	}
	certs, err := pki.ParseCertificates([]byte(ca.Certificate))
	if err != nil {
		t.Fatalf("CA certificate from the API: %v", err)
	}
	pool := x509.NewCertPool()
	if operatorRoot != nil {
		if certs[0].Subject.CommonName != "E2E CSMS Sub-CA" {
			t.Errorf("API serves CA %v, want the operator's sub-CA", certs[0].Subject)
		}
		pool.AddCert(operatorRoot.Cert)
		return pool
	}
	if certs[0].Subject.Organization[0] != e2eOrganization {
		t.Errorf("generated CA subject %v, want O=%s", certs[0].Subject, e2eOrganization)
	}
	pool.AddCert(certs[0])
	return pool
}

func newCSR(t *testing.T, kind, cn, org string) (crypto.Signer, string) {
	key := pkitest.Key(t, kind)
	subject := pkix.Name{CommonName: cn}
	if org != "" {
		subject.Organization = []string{org}
	}
	return key, pkitest.CSR(t, key, subject)
}

type signAnswer struct {
	Status     string `json:"status"`
	StatusInfo *struct {
		ReasonCode string `json:"reasonCode"`
	} `json:"statusInfo"`
}

func signCertificate(ctx context.Context, t *testing.T, c *opsCharger, csr string) signAnswer {
	t.Helper()
	req := map[string]any{"csr": csr}
	if c.v.name == "2.0.1" {
		req["certificateType"] = "ChargingStationCertificate"
	}
	var ans signAnswer
	if err := call(ctx, c.Client, "SignCertificate", req, &ans); err != nil {
		t.Fatalf("SignCertificate: %v", err)
	}
	return ans
}

type apiIssued struct {
	SerialNumber     string `json:"serialNumber"`
	Subject          string `json:"subject"`
	DeliveryStatus   string `json:"deliveryStatus"`
	CommandID        string `json:"commandId"`
	CertificateChain string `json:"certificateChain"`
	OCPPVersion      string `json:"ocppVersion"`
}

func listIssued(ctx context.Context, t *testing.T, sys *system, station string) []apiIssued {
	t.Helper()
	path := "/api/v1/stations/" + station + "/certificates/issued"
	code, _, body, err := sys.rest.do(ctx, http.MethodGet, path, nil, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", path, code, body, err)
	}
	var out struct {
		Certificates []apiIssued `json:"certificates"`
	}
	if err := decodeAPI(body, &out); err != nil {
		t.Fatalf("issued certificates %s: %v", body, err)
	}
	return out.Certificates
}

func testSignCertificate(t *testing.T, sys *system, v ocppVersion, roots *x509.CertPool) {
	ctx := testCtx(t)
	c := dialOpsCharger(ctx, t, sys, v, "cert")
	c.answer("CertificateSigned", map[string]any{"status": "Accepted"})

	// Every check, each refused with nothing issued or sent.
	for _, bad := range []struct{ name, kind, cn, org string }{
		{"another station's CN", "p256", "someone-else", e2eOrganization},
		{"another organisation", "p256", c.id, "Mallory Charging"},
		{"no organisation", "p256", c.id, ""},
		{"RSA 1024", "rsa1024", c.id, e2eOrganization},
	} {
		_, csr := newCSR(t, bad.kind, bad.cn, bad.org)
		ans := signCertificate(ctx, t, c, csr)
		if ans.Status != "Rejected" {
			t.Errorf("%s: SignCertificate %s, want Rejected", bad.name, ans.Status)
		}
		if v.name == "2.0.1" && (ans.StatusInfo == nil || ans.StatusInfo.ReasonCode != "InvalidCSR") {
			t.Errorf("%s: statusInfo %+v, want reasonCode InvalidCSR", bad.name, ans.StatusInfo)
		}
	}
	garbage := signCertificate(ctx, t, c, "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n")
	if garbage.Status != "Rejected" {
		t.Errorf("malformed CSR: %s, want Rejected", garbage.Status)
	}

	key, csr := newCSR(t, "p256", c.id, e2eOrganization)
	if ans := signCertificate(ctx, t, c, csr); ans.Status != "Accepted" {
		t.Fatalf("good CSR: %+v, want Accepted", ans)
	}
	// The first CALL the charger gets is the certificate of its good CSR:
	// the rejected ones sent nothing.
	got := c.next(ctx, t, "CertificateSigned")
	if v.name == "2.0.1" && got["certificateType"] != "ChargingStationCertificate" {
		t.Errorf("2.0.1 CertificateSigned certificateType = %v", got["certificateType"])
	}
	if _, ok := got["certificateType"]; v.name == "1.6" && ok {
		t.Errorf("1.6 CertificateSigned carries certificateType: %v", got)
	}
	chainPEM, _ := got["certificateChain"].(string)
	leaf := verifyStationChain(t, chainPEM, roots, c.id)
	if !leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
		t.Error("the certificate is not for the CSR's key")
	}
	if leaf.Subject.Organization[0] != e2eOrganization {
		t.Errorf("leaf O = %v", leaf.Subject.Organization)
	}

	// Stored and listed, with its delivery.
	eventually(t, "issued certificate accepted", func() (bool, string) {
		list := listIssued(ctx, t, sys, c.id)
		if len(list) != 1 {
			return false, fmt.Sprintf("%d issued certificates, want 1: %+v", len(list), list)
		}
		i := list[0]
		return i.SerialNumber == leaf.SerialNumber.Text(16) && i.DeliveryStatus == "accepted" && i.CommandID != "" &&
				i.CertificateChain == chainPEM && i.OCPPVersion == v.name,
			fmt.Sprintf("%+v", i)
	})
	for path, want := range map[string]int{
		"/api/v1/stations/no-such-station/certificates/issued":              http.StatusNotFound,
		"/api/v1/stations/" + c.id + "/certificates/issued?pageToken=bogus": http.StatusBadRequest,
	} {
		if code, _, body, _ := sys.rest.do(ctx, http.MethodGet, path, nil, true); code != want {
			t.Errorf("GET %s: %d %s, want %d", path, code, body, want)
		}
	}
	cmds := listCommands(ctx, t, sys.rest, c.id)
	if len(cmds) != 1 || cmds[0].Action != "CertificateSigned" || cmds[0].Status != "answered" {
		t.Errorf("command history %+v, want the CertificateSigned", cmds)
	}
	c.nothingSent(t)
}

// verifyStationChain checks a CertificateSigned chain as a station does:
// leaf first, verifying to roots, a client certificate for station.
func verifyStationChain(t *testing.T, chainPEM string, roots *x509.CertPool, station string) *x509.Certificate {
	t.Helper()
	chain, err := pki.ParseCertificates([]byte(chainPEM))
	if err != nil {
		t.Fatalf("certificateChain: %v\n%s", err, chainPEM)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	leaf := chain[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("chain does not verify against the CA: %v", err)
	}
	if leaf.IsCA || leaf.Subject.CommonName != station {
		t.Errorf("leaf IsCA=%v CN=%q, want a station certificate for %s", leaf.IsCA, leaf.Subject.CommonName, station)
	}
	return leaf
}

// The charger sees the SignCertificate answer before the CertificateSigned
// CALL, frame by frame on the wire.
func testCertificateSignedFollowsAnswer(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	id := newStationID("certraw")
	sys.rest.createStation(ctx, t, id, "")
	r, _, err := dialRaw(ctx, t, sys.gateway(v.index)+id, v.subprotocol, "", "")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	boot, _ := json.Marshal(v.boot("SN-" + id))
	r.call(ctx, t, "b1", "BootNotification", string(boot))

	_, csr := newCSR(t, "p384", id, e2eOrganization)
	payload, _ := json.Marshal(map[string]string{"csr": csr})
	r.send(ctx, t, fmt.Sprintf(`[2,"s1","SignCertificate",%s]`, payload))
	first := r.read(ctx, t)
	if len(first) != 3 || string(first[0]) != "3" || str(first[1]) != "s1" || !strings.Contains(string(first[2]), "Accepted") {
		t.Fatalf("first frame after SignCertificate: %s, want its CALLRESULT Accepted", joinFrame(first))
	}
	second := r.read(ctx, t)
	if len(second) != 4 || string(second[0]) != "2" || str(second[2]) != "CertificateSigned" {
		t.Fatalf("second frame: %s, want the CertificateSigned CALL", joinFrame(second))
	}
	if err := sys.schemas.ValidateRequest(versionOf(v), "CertificateSigned", second[3]); err != nil {
		t.Errorf("CertificateSigned payload violates its schema: %v", err)
	}
	r.send(ctx, t, fmt.Sprintf(`[3,%s,{"status":"Accepted"}]`, second[1]))
	eventually(t, "delivery accepted", func() (bool, string) {
		list := listIssued(ctx, t, sys, id)
		return len(list) == 1 && list[0].DeliveryStatus == "accepted", fmt.Sprintf("%+v", list)
	})
}

// ocspResponder is a real OCSP responder over HTTP for certificates of its
// own CA, one of which it reports revoked.
type ocspResponder struct {
	url           string
	ca            pkitest.CA
	good, revoked *x509.Certificate
}

func newOCSPResponder(t *testing.T) *ocspResponder {
	t.Helper()
	r := &ocspResponder{ca: pkitest.NewRoot(t, "E2E OCSP CA", time.Time{}, time.Time{})}
	r.good = r.ca.Leaf(t, pkix.Name{CommonName: "good"}, pkitest.Key(t, "p256").Public(), time.Time{})
	r.revoked = r.ca.Leaf(t, pkix.Name{CommonName: "revoked"}, pkitest.Key(t, "p256").Public(), time.Time{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 4096))
		oreq, err := ocsp.ParseRequest(body)
		if err != nil {
			w.Write(ocsp.MalformedRequestErrorResponse)
			return
		}
		tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: oreq.SerialNumber, ThisUpdate: time.Now().Add(-time.Minute),
			NextUpdate: time.Now().Add(time.Hour)}
		switch oreq.SerialNumber.Cmp(r.revoked.SerialNumber) {
		case 0:
			tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, time.Now().Add(-time.Hour), ocsp.KeyCompromise
		default:
			if oreq.SerialNumber.Cmp(r.good.SerialNumber) != 0 {
				tmpl.Status = ocsp.Unknown
			}
		}
		der, err := ocsp.CreateResponse(r.ca.Cert, r.ca.Cert, tmpl, r.ca.Key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(der)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func testGetCertificateStatus(t *testing.T, sys *system, r *ocspResponder) {
	ctx := testCtx(t)
	c := dialOpsCharger(ctx, t, sys, v201, "ocsp")
	for _, tc := range []struct {
		cert *x509.Certificate
		want int
	}{{r.good, ocsp.Good}, {r.revoked, ocsp.Revoked}} {
		h, err := pki.CertificateHashData(tc.cert, r.ca.Cert, "SHA256")
		if err != nil {
			t.Fatal(err)
		}
		var ans struct {
			Status     string `json:"status"`
			OcspResult string `json:"ocspResult"`
		}
		err = call(ctx, c.Client, "GetCertificateStatus", map[string]any{"ocspRequestData": map[string]any{
			"hashAlgorithm": h.HashAlgorithm, "issuerNameHash": h.IssuerNameHash, "issuerKeyHash": h.IssuerKeyHash,
			"serialNumber": h.SerialNumber,
			// Never dialled: only OCSP_RESPONDER_URL is.
			"responderURL": "http://169.254.169.254/latest",
		}}, &ans)
		if err != nil {
			t.Fatalf("GetCertificateStatus: %v", err)
		}
		if ans.Status != "Accepted" {
			t.Fatalf("GetCertificateStatus %s: %+v", tc.cert.Subject.CommonName, ans)
		}
		der, err := base64.StdEncoding.DecodeString(ans.OcspResult)
		if err != nil {
			t.Fatalf("ocspResult is not base64: %v", err)
		}
		resp, err := ocsp.ParseResponseForCert(der, tc.cert, r.ca.Cert)
		if err != nil {
			t.Fatalf("ocspResult does not verify: %v", err)
		}
		if resp.Status != tc.want {
			t.Errorf("%s: OCSP status %d, want %d", tc.cert.Subject.CommonName, resp.Status, tc.want)
		}
	}
	// Hash data the responder cannot parse into a request: Failed, not a
	// made-up answer.
	var ans struct {
		Status     string `json:"status"`
		OcspResult string `json:"ocspResult"`
	}
	if err := call(ctx, c.Client, "GetCertificateStatus", map[string]any{"ocspRequestData": map[string]any{
		"hashAlgorithm": "SHA256", "issuerNameHash": "zz", "issuerKeyHash": "zz", "serialNumber": new(big.Int).SetInt64(7).Text(16),
		"responderURL": r.url,
	}}, &ans); err != nil {
		t.Fatal(err)
	}
	if ans.Status != "Failed" || ans.OcspResult != "" {
		t.Errorf("bad hash data: %+v, want Failed without a result", ans)
	}
}
