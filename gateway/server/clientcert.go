package server

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
)

// Headers a trusted TLS-terminating proxy sets (docs/security.md).
const (
	// HeaderXFCC carries the client certificate the proxy verified, in
	// Envoy's format: elements separated by ',', each a list of key=value
	// pairs separated by ';'; Cert= holds the URL-encoded PEM of the leaf,
	// Chain= optionally the URL-encoded PEM of leaf and intermediates.
	HeaderXFCC = "X-Forwarded-Client-Cert"
	// HeaderForwardedProto "https" says the charger reached the proxy
	// over TLS.
	HeaderForwardedProto = "X-Forwarded-Proto"
)

// maxXFCCBytes bounds the header parsed: a chain of a few certificates,
// URL-encoded, fits with room to spare.
const maxXFCCBytes = 32 << 10

// transport is how a charger reached this gateway, as the core needs it to
// judge the station's security profile.
type transport struct {
	tls bool
	// cert is the leaf the charger presented (directly or through a
	// trusted proxy); nil when none.
	cert *x509.Certificate
	// certErr says why cert does not chain to the client CAs; empty when
	// it does.
	certErr   string
	forwarded bool
	// ignored names proxy headers sent by an untrusted peer (logged).
	ignored []string
}

// transportOf reads the listener kind and the client certificate of r.
func (s *Server) transportOf(r *http.Request) transport {
	var t transport
	if r.TLS != nil {
		t.tls = true
		if len(r.TLS.PeerCertificates) > 0 {
			t.cert = r.TLS.PeerCertificates[0]
			t.certErr = s.verifyClient(r.TLS.PeerCertificates)
		}
	}
	xfcc, proto := r.Header.Values(HeaderXFCC), r.Header.Get(HeaderForwardedProto)
	if len(xfcc) == 0 && proto == "" {
		return t
	}
	if !s.trustedProxy(r.RemoteAddr) {
		if len(xfcc) > 0 {
			t.ignored = append(t.ignored, HeaderXFCC)
		}
		if proto != "" {
			t.ignored = append(t.ignored, HeaderForwardedProto)
		}
		return t
	}
	if strings.EqualFold(strings.TrimSpace(proto), "https") {
		t.tls = true
	}
	if len(xfcc) > 0 && t.cert == nil {
		t.forwarded = true
		chain, err := parseXFCC(strings.Join(xfcc, ","))
		switch {
		case err != nil:
			t.certErr = "forwarded client certificate unreadable: " + err.Error()
		case len(chain) > 0:
			t.cert = chain[0]
			t.certErr = s.verifyClient(chain)
		}
	}
	return t
}

func (s *Server) verifyClient(chain []*x509.Certificate) string {
	if s.cfg.TLS == nil {
		return "no client CA configured (TLS_CLIENT_CA_FILE)"
	}
	if err := s.cfg.TLS.VerifyClient(chain); err != nil {
		return err.Error()
	}
	return ""
}

func (s *Server) trustedProxy(remote string) bool {
	if len(s.cfg.TrustedProxies) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fill copies t into an admission request.
func (t transport) fill(req *gatewayv1.AdmitConnectionRequest) {
	req.Tls = t.tls
	if t.cert != nil {
		req.ClientCertificate = t.cert.Raw
		req.ClientCertificateError = t.certErr
		req.ClientCertificateForwarded = t.forwarded
	} else if t.certErr != "" {
		// An unreadable forwarded certificate is still a failed attempt
		// the core must hear about.
		req.ClientCertificateError = t.certErr
		req.ClientCertificateForwarded = true
	}
}

// parseXFCC returns the chain of the last element of an
// X-Forwarded-Client-Cert value (the one the nearest proxy added): Chain=
// when present, otherwise Cert=.
func parseXFCC(v string) ([]*x509.Certificate, error) {
	if len(v) > maxXFCCBytes {
		return nil, fmt.Errorf("header longer than %d bytes", maxXFCCBytes)
	}
	elems := splitQuoted(v, ',')
	last := elems[len(elems)-1]
	var certPEM, chainPEM string
	for _, pair := range splitQuoted(last, ';') {
		k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			continue
		}
		val = strings.Trim(val, `"`)
		switch strings.ToLower(k) {
		case "cert":
			certPEM = val
		case "chain":
			chainPEM = val
		}
	}
	raw := chainPEM
	if raw == "" {
		raw = certPEM
	}
	if raw == "" {
		return nil, errors.New("no Cert= or Chain=")
	}
	decoded, err := url.QueryUnescape(raw)
	if err != nil {
		return nil, errors.New("Cert= is not URL-encoded")
	}
	var chain []*x509.Certificate
	rest := []byte(decoded)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate: %w", err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM certificate in Cert=")
	}
	return chain, nil
}

// splitQuoted splits s at sep outside double quotes.
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			quoted = !quoted
		case s[i] == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// certSubject names a certificate in a log line.
func certSubject(c *x509.Certificate) []any {
	if c == nil {
		return nil
	}
	return []any{"cert_subject", c.Subject.String(), "cert_issuer", c.Issuer.String(), "cert_not_after", c.NotAfter.Format(time.RFC3339)}
}
