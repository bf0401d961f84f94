// Package admission decides whether a charger may connect as a station,
// from the station's security profile, the way the charger reached the
// gateway (plain or TLS listener, client certificate) and the core's
// policy. It holds the rules of OCPP security profiles 0–3 and nothing
// else: the password itself is checked by the caller (Argon2id, a cache,
// password rotation) when Decide asks for it.
package admission

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Security profiles (OCPP 2.0.1 Part 2 A00, the 1.6 security whitepaper).
const (
	// ProfileNone admits without credentials (lab use).
	ProfileNone = 0
	// ProfileBasic is HTTP Basic auth, plain or TLS listener.
	ProfileBasic = 1
	// ProfileTLSBasic is HTTP Basic auth over TLS only.
	ProfileTLSBasic = 2
	// ProfileClientCert is a verified client certificate over TLS.
	ProfileClientCert = 3
	// MaxProfile is the highest profile.
	MaxProfile = ProfileClientCert
)

// DefaultProfile is a new station's profile when none is asked for: Basic
// auth when it has a password, none otherwise.
func DefaultProfile(hasPassword bool) int {
	if hasPassword {
		return ProfileBasic
	}
	return ProfileNone
}

// Check names the check an attempt failed: it goes to the log and the
// station's security events, never to the charger.
type Check string

// The checks, in the order Decide makes them.
const (
	CheckBelowMinimum     Check = "profile_below_minimum"
	CheckPlainListener    Check = "plain_listener"
	CheckNoBasicAuth      Check = "no_basic_auth"
	CheckUsername         Check = "basic_auth_username"
	CheckNoPassword       Check = "no_password_set"
	CheckPassword         Check = "wrong_password"
	CheckNoCertificate    Check = "no_client_certificate"
	CheckCertExpired      Check = "client_certificate_expired"
	CheckCertUnverified   Check = "client_certificate_unverified"
	CheckCertUsage        Check = "client_certificate_usage"
	CheckCertCommonName   Check = "client_certificate_cn"
	CheckCertOrganization Check = "client_certificate_organization"
	CheckUnknownProfile   Check = "unknown_profile"
	// CheckUnknownStation: no station has the id (HTTP 404).
	CheckUnknownStation Check = "unknown_station"
	// CheckBlocked and CheckRejected: an operator blocked or rejected the
	// station (api/onboarding); checked before any credential.
	CheckBlocked  Check = "station_blocked"
	CheckRejected Check = "station_rejected"
)

// Policy is the core's side of admission.
type Policy struct {
	// MinProfile refuses every station below it (MIN_SECURITY_PROFILE).
	MinProfile int
	// Organization, when set, must be the client certificate's subject O
	// (CSMS_ORGANIZATION).
	Organization string
}

// Station is what admission needs of a registered station.
type Station struct {
	ID          string
	Profile     int
	HasPassword bool
}

// Attempt is how the charger came.
type Attempt struct {
	// TLS: the charger reached a TLS listener, directly or through a
	// trusted TLS-terminating proxy.
	TLS bool
	// BasicAuth: the charger sent HTTP Basic credentials, for Username.
	BasicAuth bool
	Username  string
	// Cert is the client certificate's leaf; nil when none was presented.
	Cert *x509.Certificate
	// CertError is the gateway's reason why Cert does not chain to the
	// client CAs for client authentication; empty when it does.
	CertError string
}

// Result is Decide's answer. When NeedPassword, the caller admits only if
// the password is right (and records CheckPassword otherwise); when
// neither Admit nor NeedPassword, Failed and Reason say why not.
type Result struct {
	Admit        bool
	NeedPassword bool
	Failed       Check
	Reason       string
}

func refuse(c Check, format string, args ...any) Result {
	return Result{Failed: c, Reason: fmt.Sprintf(format, args...)}
}

// Decide applies st's profile to a at now. A station is never admitted by
// a weaker path than its profile, whatever else the attempt carries.
func Decide(p Policy, st Station, a Attempt, now time.Time) Result {
	if st.Profile < p.MinProfile {
		return refuse(CheckBelowMinimum, "station security profile %d is below the minimum %d", st.Profile, p.MinProfile)
	}
	switch st.Profile {
	case ProfileNone:
		return Result{Admit: true}
	case ProfileBasic:
		return basic(st, a)
	case ProfileTLSBasic:
		if !a.TLS {
			return refuse(CheckPlainListener, "security profile 2 needs the TLS listener")
		}
		return basic(st, a)
	case ProfileClientCert:
		return clientCert(p, st, a, now)
	default:
		return refuse(CheckUnknownProfile, "station has unknown security profile %d", st.Profile)
	}
}

// Strength is the highest security profile whose check an admitted
// attempt passed, whatever the station's profile was: raising the
// station's profile up to it needs no new connection. passwordOK says the
// attempt's Basic-auth password was verified.
func Strength(p Policy, st Station, a Attempt, passwordOK bool, now time.Time) int {
	switch {
	case clientCert(p, st, a, now).Admit:
		return ProfileClientCert
	case passwordOK && a.TLS:
		return ProfileTLSBasic
	case passwordOK:
		return ProfileBasic
	}
	return ProfileNone
}

func basic(st Station, a Attempt) Result {
	switch {
	case !st.HasPassword:
		return refuse(CheckNoPassword, "security profile %d but the station has no password", st.Profile)
	case !a.BasicAuth:
		return refuse(CheckNoBasicAuth, "missing basic auth credentials")
	case a.Username != st.ID:
		return refuse(CheckUsername, "basic auth username is not the station id")
	}
	return Result{NeedPassword: true}
}

func clientCert(p Policy, st Station, a Attempt, now time.Time) Result {
	c := a.Cert
	switch {
	case !a.TLS:
		return refuse(CheckPlainListener, "security profile 3 needs the TLS listener")
	case c == nil && a.CertError != "":
		return refuse(CheckCertUnverified, "client certificate unusable: %s", a.CertError)
	case c == nil:
		return refuse(CheckNoCertificate, "security profile 3 needs a client certificate")
	case now.Before(c.NotBefore) || now.After(c.NotAfter):
		return refuse(CheckCertExpired, "client certificate valid only from %s to %s", c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
	case a.CertError != "":
		return refuse(CheckCertUnverified, "client certificate not trusted: %s", a.CertError)
	case len(c.ExtKeyUsage) > 0 && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny):
		return refuse(CheckCertUsage, "client certificate not for client authentication")
	case c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageDigitalSignature == 0:
		return refuse(CheckCertUsage, "client certificate key usage lacks digitalSignature")
	case c.Subject.CommonName != st.ID:
		return refuse(CheckCertCommonName, "client certificate CN %q is not the station id", c.Subject.CommonName)
	case p.Organization != "" && !slices.Equal(c.Subject.Organization, []string{p.Organization}):
		return refuse(CheckCertOrganization, "client certificate O %q is not %q", c.Subject.Organization, p.Organization)
	}
	return Result{Admit: true}
}

// Refusal is one refused admission, as the log and the station's security
// events tell it.
type Refusal struct {
	StationID  string
	GatewayID  string
	RemoteAddr string
	TLS        bool
	Check      Check
	Reason     string
	// CertSubject and CertIssuer name the client certificate presented,
	// if any.
	CertSubject string
	CertIssuer  string
	// CertForwarded: the certificate came through a trusted proxy.
	CertForwarded bool
	// Unregistered: StationID names no station (CheckUnknownStation); the
	// id is only what the caller claimed.
	Unregistered bool
	At           time.Time
}

// SecurityEvents records refused admissions for the station's security
// events. Recording must not block admission for long: implementations
// bound their own work.
type SecurityEvents interface {
	AdmissionRefused(ctx context.Context, r Refusal)
}

// LogEvents is a SecurityEvents that only logs (until security events are
// stored, and in tests).
type LogEvents struct{ Log *slog.Logger }

// AdmissionRefused logs r.
func (l LogEvents) AdmissionRefused(_ context.Context, r Refusal) {
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	log.Warn("security event: admission refused", r.Attrs()...)
}

// Attrs are r's fields as slog attributes.
func (r Refusal) Attrs() []any {
	attrs := []any{"station", r.StationID, "check", string(r.Check), "reason", r.Reason,
		"remote", r.RemoteAddr, "gateway", r.GatewayID, "tls", r.TLS}
	if r.CertSubject != "" || r.CertIssuer != "" {
		attrs = append(attrs, "cert_subject", r.CertSubject, "cert_issuer", r.CertIssuer, "cert_forwarded", r.CertForwarded)
	}
	return attrs
}
