package pki_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/api/pki/pkitest"
)

func TestCertificateHashDataMatchesOCSP(t *testing.T) {
	root := pkitest.NewRoot(t, "Root", time.Time{}, time.Time{})
	leaf := root.Leaf(t, pkix.Name{CommonName: "CP-1"}, pkitest.Key(t, "p256").Public(), time.Time{})
	for alg, h := range pki.HashAlgorithms {
		got, err := pki.CertificateHashData(leaf, root.Cert, alg)
		if err != nil {
			t.Fatal(err)
		}
		// golang.org/x/crypto/ocsp computes the same CertID independently.
		der, err := ocsp.CreateRequest(leaf, root.Cert, &ocsp.RequestOptions{Hash: h})
		if err != nil {
			t.Fatal(err)
		}
		want, err := ocsp.ParseRequest(der)
		if err != nil {
			t.Fatal(err)
		}
		if got.IssuerNameHash != hex.EncodeToString(want.IssuerNameHash) || got.IssuerKeyHash != hex.EncodeToString(want.IssuerKeyHash) ||
			got.SerialNumber != want.SerialNumber.Text(16) || got.HashAlgorithm != alg {
			t.Errorf("%s: hash data %+v differs from the OCSP CertID", alg, got)
		}
	}
	self, err := pki.CertificateHashData(root.Cert, root.Cert, "SHA256")
	if err != nil {
		t.Fatal(err)
	}
	if self.SerialNumber != root.Cert.SerialNumber.Text(16) {
		t.Errorf("serial %s", self.SerialNumber)
	}
	if _, err := pki.CertificateHashData(leaf, root.Cert, "MD5"); err == nil {
		t.Error("MD5 accepted")
	}
	n := pki.HashData{HashAlgorithm: "sha256", IssuerNameHash: "AB", IssuerKeyHash: "CD", SerialNumber: "000F"}.Normalize()
	if n != (pki.HashData{HashAlgorithm: "SHA256", IssuerNameHash: "ab", IssuerKeyHash: "cd", SerialNumber: "f"}) {
		t.Errorf("Normalize = %+v", n)
	}
}

// responder is a real OCSP responder: it answers requests about the
// certificates its CA issued, signed with the CA's key.
type responder struct {
	ca      pkitest.CA
	revoked map[string]bool // serial hex
	// override, when set, replaces the answer.
	override func(w http.ResponseWriter, req *ocsp.Request)
}

func (r *responder) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	body, _ := io.ReadAll(hr.Body)
	req, err := ocsp.ParseRequest(body)
	if err != nil || hr.Header.Get("Content-Type") != "application/ocsp-request" {
		w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	if r.override != nil {
		r.override(w, req)
		return
	}
	tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: req.SerialNumber, ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
	if r.revoked[req.SerialNumber.Text(16)] {
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, time.Now().Add(-time.Hour), ocsp.KeyCompromise
	}
	der, err := ocsp.CreateResponse(r.ca.Cert, r.ca.Cert, tmpl, r.ca.Key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(der)
}

func TestOCSPResponder(t *testing.T) {
	root := pkitest.NewRoot(t, "Root", time.Time{}, time.Time{})
	good := root.Leaf(t, pkix.Name{CommonName: "CP-1"}, pkitest.Key(t, "p256").Public(), time.Time{})
	bad := root.Leaf(t, pkix.Name{CommonName: "CP-2"}, pkitest.Key(t, "p256").Public(), time.Time{})
	resp := &responder{ca: root, revoked: map[string]bool{bad.SerialNumber.Text(16): true}}
	srv := httptest.NewServer(resp)
	t.Cleanup(srv.Close)
	r, err := pki.NewOCSPResponder(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cert *x509.Certificate
		want int
	}{{"good", good, ocsp.Good}, {"revoked", bad, ocsp.Revoked}} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cert
			hd, err := pki.CertificateHashData(c, root.Cert, "SHA256")
			if err != nil {
				t.Fatal(err)
			}
			der, err := r.Query(ctx, hd)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			parsed, err := ocsp.ParseResponseForCert(der, c, root.Cert)
			if err != nil {
				t.Fatalf("the response does not verify for the certificate: %v", err)
			}
			if parsed.Status != tc.want {
				t.Errorf("status %d, want %d", parsed.Status, tc.want)
			}
		})
	}

	hd, err := pki.CertificateHashData(good, root.Cert, "SHA384")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		override func(w http.ResponseWriter, req *ocsp.Request)
		want     string
	}{
		{"responder refuses", func(w http.ResponseWriter, _ *ocsp.Request) { w.Write(ocsp.UnauthorizedErrorResponse) }, "refused"},
		{"HTTP error", func(w http.ResponseWriter, _ *ocsp.Request) { http.Error(w, "down", http.StatusBadGateway) }, "HTTP 502"},
		{"not OCSP", func(w http.ResponseWriter, _ *ocsp.Request) { w.Write([]byte("<html>")) }, "parse"},
		{"oversized", func(w http.ResponseWriter, _ *ocsp.Request) {
			w.Write([]byte(strings.Repeat("x", pki.MaxOCSPResponseBytes+10)))
		}, "larger than"},
		{"about another certificate", func(w http.ResponseWriter, req *ocsp.Request) {
			der, _ := ocsp.CreateResponse(root.Cert, root.Cert, ocsp.Response{Status: ocsp.Good, SerialNumber: new(big.Int).Add(req.SerialNumber, big.NewInt(1)),
				ThisUpdate: time.Now()}, root.Key)
			w.Write(der)
		}, "another certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp.override = tc.override
			t.Cleanup(func() { resp.override = nil })
			_, err := r.Query(ctx, hd)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Query error = %v, want one saying %q", err, tc.want)
			}
		})
	}

	t.Run("bad hash data", func(t *testing.T) {
		for _, h := range []pki.HashData{
			{HashAlgorithm: "MD5", IssuerNameHash: hd.IssuerNameHash, IssuerKeyHash: hd.IssuerKeyHash, SerialNumber: "1"},
			{HashAlgorithm: "SHA384", IssuerNameHash: "zz", IssuerKeyHash: hd.IssuerKeyHash, SerialNumber: "1"},
			{HashAlgorithm: "SHA384", IssuerNameHash: hd.IssuerNameHash[:10], IssuerKeyHash: hd.IssuerKeyHash, SerialNumber: "1"},
			{HashAlgorithm: "SHA384", IssuerNameHash: hd.IssuerNameHash, IssuerKeyHash: hd.IssuerKeyHash, SerialNumber: "xyz"},
		} {
			if _, err := r.Query(ctx, h); err == nil {
				t.Errorf("Query(%+v) succeeded", h)
			}
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		r, err := pki.NewOCSPResponder(dead.URL, &http.Client{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Query(ctx, hd); err == nil {
			t.Error("Query of a closed responder succeeded")
		}
	})

	for _, u := range []string{"", "ftp://x/", "http://", "::"} {
		if _, err := pki.NewOCSPResponder(u, nil); err == nil {
			t.Errorf("NewOCSPResponder(%q) accepted", u)
		}
	}
}
