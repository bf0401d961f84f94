package pki

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/crypto/ocsp"
)

// MaxOCSPResponseBytes bounds what is read from a responder. A response a
// station can use must fit GetCertificateStatus's ocspResult (5500
// characters of base64, ~4 KiB of DER); anything far larger is refused
// without reading it all.
const MaxOCSPResponseBytes = 64 << 10

// DefaultOCSPTimeout bounds one responder round trip: the station waits
// for its GetCertificateStatus answer meanwhile.
const DefaultOCSPTimeout = 5 * time.Second

// OCSPResponder asks one configured OCSP responder (OCSP_RESPONDER_URL)
// about certificates. The responder URL a station names in its request is
// never dialled: a station must not make the core fetch addresses of its
// choosing.
type OCSPResponder struct {
	url    string
	client *http.Client
}

// NewOCSPResponder checks rawURL (http or https) and returns a client
// for it; client nil means one with DefaultOCSPTimeout.
func NewOCSPResponder(rawURL string, client *http.Client) (*OCSPResponder, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("pki: OCSP responder URL %q is not an http(s) URL", rawURL)
	}
	if client == nil {
		client = &http.Client{Timeout: DefaultOCSPTimeout}
	}
	return &OCSPResponder{url: u.String(), client: client}, nil
}

// URL is the responder's address.
func (r *OCSPResponder) URL() string { return r.url }

// Query sends an OCSP request for the certificate h identifies (RFC 6960,
// HTTP POST) and returns the responder's DER response once it parses as a
// successful response about that certificate. Whether the certificate is
// good, revoked or unknown is in the response, for the station to read and
// verify.
func (r *OCSPResponder) Query(ctx context.Context, h HashData) ([]byte, error) {
	alg, nameHash, keyHash, serial, err := h.decode()
	if err != nil {
		return nil, fmt.Errorf("pki: OCSP request: %w", err)
	}
	body, err := (&ocsp.Request{HashAlgorithm: alg, IssuerNameHash: nameHash, IssuerKeyHash: keyHash, SerialNumber: serial}).Marshal()
	if err != nil {
		return nil, fmt.Errorf("pki: OCSP request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("pki: OCSP request: %w", err)
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	req.Header.Set("Accept", "application/ocsp-response")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pki: OCSP responder: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("pki: OCSP responder answered HTTP %d", resp.StatusCode)
	}
	der, err := io.ReadAll(io.LimitReader(resp.Body, MaxOCSPResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("pki: read OCSP response: %w", err)
	}
	if len(der) > MaxOCSPResponseBytes {
		return nil, fmt.Errorf("pki: OCSP response larger than %d bytes", MaxOCSPResponseBytes)
	}
	parsed, err := ocsp.ParseResponse(der, nil)
	if err != nil {
		var re ocsp.ResponseError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("pki: OCSP responder refused: %s", re.Status)
		}
		return nil, fmt.Errorf("pki: parse OCSP response: %w", err)
	}
	if parsed.SerialNumber == nil || parsed.SerialNumber.Cmp(serial) != 0 {
		return nil, errors.New("pki: OCSP response is about another certificate")
	}
	return der, nil
}
