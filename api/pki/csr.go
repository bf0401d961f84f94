package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/chargeplane/chargeplane/pkg/truncate"
)

// Key sizes a station certificate may have: the OCPP security profiles'
// cipher suites use RSA ≥ 2048 and ECDSA on P-256 or P-384. The RSA upper
// bound keeps a hostile CSR from costing the core a huge verification.
const (
	MinRSABits = 2048
	MaxRSABits = 8192
)

// Checks a CSR can fail, as CSRError.Check.
const (
	CheckMalformed    = "malformed"    // not a PEM (or base64 DER) PKCS#10 request
	CheckSignature    = "signature"    // its self-signature does not verify
	CheckCommonName   = "common-name"  // subject CN is not the station id
	CheckOrganization = "organization" // subject O is not CSMS_ORGANIZATION
	CheckKey          = "key"          // key type or size too weak or unsupported
)

// CSRError says which check a CSR failed and why, for the CSMS's security
// events and logs (the station only learns that it was rejected).
type CSRError struct {
	Check  string
	Reason string
}

func (e *CSRError) Error() string { return "CSR rejected (" + e.Check + "): " + e.Reason }

// CSRPolicy is what a station's CSR must satisfy.
type CSRPolicy struct {
	// Organization, when set, is the subject O every CSR must carry
	// (CSMS_ORGANIZATION, the CPO's name that security profile 3 checks).
	Organization string
}

// CheckCSR parses csr (PEM, as OCPP sends it; bare base64 DER is
// tolerated) and checks it for stationID: the signature verifies, the
// subject CN is the station id, the subject O is the policy's organisation
// when one is set, and the key is RSA of MinRSABits..MaxRSABits bits or
// ECDSA on P-256 or P-384. A failed check is a *CSRError.
func (p CSRPolicy) CheckCSR(csr, stationID string) (*x509.CertificateRequest, error) {
	der, err := csrDER(csr)
	if err != nil {
		return nil, &CSRError{Check: CheckMalformed, Reason: err.Error()}
	}
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, &CSRError{Check: CheckMalformed, Reason: err.Error()}
	}
	// The key first: a signature check with an oversized key is the cost
	// this bound avoids.
	if err := checkKey(req); err != nil {
		return nil, err
	}
	if err := req.CheckSignature(); err != nil {
		return nil, &CSRError{Check: CheckSignature, Reason: err.Error()}
	}
	if req.Subject.CommonName != stationID {
		return nil, &CSRError{Check: CheckCommonName,
			Reason: fmt.Sprintf("subject CN %q is not the station id %q", quote(req.Subject.CommonName), stationID)}
	}
	if p.Organization != "" {
		orgs := req.Subject.Organization
		if len(orgs) != 1 || orgs[0] != p.Organization {
			return nil, &CSRError{Check: CheckOrganization,
				Reason: fmt.Sprintf("subject O %q is not %q", quote(strings.Join(orgs, ",")), p.Organization)}
		}
	}
	return req, nil
}

func checkKey(req *x509.CertificateRequest) error {
	switch k := req.PublicKey.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
			return &CSRError{Check: CheckKey, Reason: fmt.Sprintf("RSA key of %d bits (want %d to %d)", bits, MinRSABits, MaxRSABits)}
		}
		return nil
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
		return &CSRError{Check: CheckKey, Reason: fmt.Sprintf("ECDSA key on %s (want P-256 or P-384)", k.Curve.Params().Name)}
	}
	return &CSRError{Check: CheckKey, Reason: fmt.Sprintf("%s key (want RSA or ECDSA)", req.PublicKeyAlgorithm)}
}

// csrDER takes the first CERTIFICATE REQUEST block of a PEM text, or the
// whole text as base64 DER when it has no PEM armour.
func csrDER(csr string) ([]byte, error) {
	if block, _ := pem.Decode([]byte(csr)); block != nil {
		if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("PEM block %q is not a CERTIFICATE REQUEST", quote(block.Type))
		}
		return block.Bytes, nil
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(csr), ""))
	if err != nil || len(der) == 0 {
		return nil, fmt.Errorf("neither PEM nor base64 DER")
	}
	return der, nil
}

// quote bounds and escapes text a station chose before it reaches a log
// line or an event.
func quote(s string) string {
	return strings.ToValidUTF8(truncate.Marked(s, 64, "…"), "?")
}
