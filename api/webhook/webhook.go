// Package webhook delivers live events (api/event) to operators' HTTP
// endpoints: what a webhook may point at (URL rules and the address guard
// that refuses internal addresses when connecting), how a delivery is
// signed, how its state moves after each attempt (back-off, giving up
// after the retry window), and the Dispatcher that runs the deliveries of
// this core instance from the events table.
//
// A webhook is a cursor on the events table. It selects events by type
// and by station, with the event streams' matcher (event.Filter): an event
// without a station (every type has one today) reaches only webhooks not
// limited to stations, since it is no listed station's. The cursor moves
// past the events a webhook does not select, so a webhook whose stations
// are quiet keeps up with the log. Its events go out one at a
// time in id order; an event is done when the endpoint answered 2xx or
// when WEBHOOK_RETRY_FOR has passed since it happened. The cursor and the
// retry state are in the database, so a restart resumes where delivery
// stood (at least once: an attempt cut short by a stop is made again), and
// a lease on the webhook's row lets one core instance at a time deliver
// it.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// The headers of a delivery.
const (
	// HeaderSignature is "sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">".
	HeaderSignature = "X-Chargeplane-Signature"
	// HeaderTimestamp is the Unix time (seconds) the attempt was signed.
	HeaderTimestamp = "X-Chargeplane-Timestamp"
	// HeaderEvent is the event's type and HeaderEventID its id (the same
	// event sent twice has the same id: receivers deduplicate on it).
	HeaderEvent   = "X-Chargeplane-Event"
	HeaderEventID = "X-Chargeplane-Event-Id"
	// signaturePrefix names the scheme, so that another can follow.
	signaturePrefix = "sha256="
	userAgent       = "Chargeplane-Webhook/1"
)

// Limits of what an operator sets.
const (
	MaxURLLen    = 2048
	MinSecretLen = 16
	MaxSecretLen = 256
	MaxNameLen   = 200
	// MaxStations bounds the stations a webhook is limited to, as the
	// event streams' filters are bounded.
	MaxStations     = event.MaxFilterStations
	generatedSecret = 32 // random bytes of a generated secret
	secretPrefix    = "whsec_"
)

// ParseURL checks a webhook URL: absolute http or https, a host, no user
// credentials (a secret in a URL is shown in listings and the audit
// trail: the signing secret is the credential), no fragment. Unless
// allowPrivate, a host that is an IP address must be a public one; host
// names are checked when connecting (Guard), every time, since what they
// resolve to can change.
func ParseURL(raw string, allowPrivate bool) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("url is required")
	}
	if len(raw) > MaxURLLen {
		return nil, fmt.Errorf("url is longer than %d characters", MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("url is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("url must be http:// or https://")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("url has no host")
	}
	if u.User != nil {
		return nil, errors.New("url must not carry credentials: the signature authenticates deliveries")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, errors.New("url must not have a fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("url has an invalid port")
		}
	}
	if !allowPrivate {
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
			if why := Forbidden(ip); why != "" {
				return nil, fmt.Errorf("url points at a %s address, refused (WEBHOOK_ALLOW_PRIVATE=true allows it)", why)
			}
		}
	}
	return u, nil
}

// JoinTypes and SplitTypes convert the list to and from its stored form.
func JoinTypes(types []event.Type) string {
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}

// SplitTypes is the inverse of JoinTypes.
func SplitTypes(stored string) []event.Type {
	if stored == "" {
		return nil
	}
	parts := strings.Split(stored, ",")
	out := make([]event.Type, len(parts))
	for i, p := range parts {
		out[i] = event.Type(p)
	}
	return out
}

// ParseStations checks the station ids a webhook is limited to (empty:
// every station) as event.ParseStations does, by the rule chargers' ids
// follow (ocppj.ValidateIdentity): an id no station can have would select
// nothing, silently, and the stored form (JoinStations) relies on ids
// having no spaces. The event streams accept any id an existing station
// may have instead.
func ParseStations(ids []string) ([]string, error) {
	out, err := event.ParseStations(ids, ocppj.ValidateIdentity)
	if err != nil {
		return nil, fmt.Errorf("station_ids: %w", err)
	}
	return out, nil
}

// JoinStations and SplitStations convert the list to and from its stored
// form: separated by spaces, which ValidateIdentity refuses in an id.
func JoinStations(ids []string) string { return strings.Join(ids, " ") }

// SplitStations is the inverse of JoinStations.
func SplitStations(stored string) []string { return strings.Fields(stored) }

// Filter is the selection of events a webhook delivers, the one matcher
// the event streams use too.
func Filter(w *store.Webhook) event.Filter {
	return event.Filter{Types: SplitTypes(w.EventTypes), StationIDs: SplitStations(w.StationIDs)}
}

// CheckSecret checks a secret an operator chose.
func CheckSecret(s string) error {
	if n := utf8.RuneCountInString(s); n < MinSecretLen || len(s) > MaxSecretLen {
		return fmt.Errorf("secret must be %d to %d characters", MinSecretLen, MaxSecretLen)
	}
	return nil
}

// NewSecret generates a signing secret: "whsec_" and 256 random bits.
func NewSecret() (string, error) {
	b := make([]byte, generatedSecret)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook: generate secret: %w", err)
	}
	return secretPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Sign returns the signature header value of body sent at timestamp
// (Unix seconds): HMAC-SHA256 over "<timestamp>.<body>" with the secret.
// The timestamp is signed so that a captured delivery cannot be replayed
// later: receivers refuse an old one (Verify).
func Sign(secret []byte, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock (docs/integrations.md).
const DefaultTolerance = 5 * time.Minute

// Verify is what a receiver does: the signature must match the body and
// timestamp headers, and the timestamp be within tolerance of now.
func Verify(secret []byte, timestampHeader, signatureHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(timestampHeader, 10, 64)
	if err != nil {
		return errors.New("webhook: bad timestamp header")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook: timestamp outside the tolerance (replayed or clock skew)")
	}
	if !hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signatureHeader)) {
		return errors.New("webhook: signature mismatch")
	}
	return nil
}
