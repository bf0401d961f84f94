package control

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/chargeplane/chargeplane/api/admission"
	"github.com/chargeplane/chargeplane/api/auth"
)

// Limits are the brute-force limits of password admissions (security
// profiles 1 and 2; docs/security.md). Wrong passwords are counted per
// station id and per remote address in fixed windows; past a limit,
// further password attempts of that id (or from that address) are refused
// until the window ends without any check at all, not even the cache of
// verified passwords, so that guessing goes no faster than the limit
// allows. A refused attempt is still answered 401, after Delay, as a wrong
// password is, so that chargers keep their usual back-off.
type Limits struct {
	// PerStation wrong passwords of one station id per window.
	PerStation int
	// PerAddress wrong passwords from one remote address (any station) per
	// window.
	PerAddress int
	// Window is how long failures are counted, from the first one.
	Window time.Duration
	// Delay is how long a throttled attempt waits for its 401.
	Delay time.Duration
}

// DefaultLimits are the core's limits. PerAddress sits far above what a
// site of chargers behind one NAT produces: only wrong passwords count, and
// each station stops at PerStation.
var DefaultLimits = Limits{PerStation: 10, PerAddress: 1000, Window: 5 * time.Minute, Delay: 2 * time.Second}

const (
	// DefaultPasswordChecks is how many Argon2id checks run at once when
	// Deps.Passwords is not given (ARGON2_CONCURRENCY).
	DefaultPasswordChecks = 4
	// maxDelayed bounds the throttled attempts waiting out their delay at
	// once (a goroutine each); beyond it the refusal is answered at once.
	maxDelayed = 1024
	// throttleKeys bounds the station ids and addresses remembered.
	throttleKeys = 100_000
)

// withDefaults fills l's zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.PerStation > 0 {
		d.PerStation = l.PerStation
	}
	if l.PerAddress > 0 {
		d.PerAddress = l.PerAddress
	}
	if l.Window > 0 {
		d.Window = l.Window
	}
	if l.Delay > 0 {
		d.Delay = l.Delay
	}
	return d
}

// CheckThrottled is the security-event check of an admission refused by
// the brute-force limits.
const CheckThrottled admission.Check = "throttled"

// PasswordVerifier checks a password against a stored hash
// (*auth.PasswordChecker, which bounds how many run at once).
type PasswordVerifier interface {
	Verify(ctx context.Context, hash, password string) error
}

// bruteForce counts wrong passwords and says when an attempt is throttled.
// In memory, per core instance: with n cores behind the gateways' round
// robin an attacker gets up to n times the limits.
type bruteForce struct {
	limits          Limits
	stations, addrs *auth.Throttle
	delayed         chan struct{}
}

func newBruteForce(l Limits, now func() time.Time) *bruteForce {
	return &bruteForce{
		limits:   l,
		stations: auth.NewThrottle(l.PerStation, l.Window, throttleKeys, now),
		addrs:    auth.NewThrottle(l.PerAddress, l.Window, throttleKeys, now),
		delayed:  make(chan struct{}, maxDelayed),
	}
}

// addrKey is the address part of a remote address (the port changes with
// every connection).
func addrKey(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// throttled says which limit (if any) refuses a password attempt of
// station from remote now, and for how long still.
func (b *bruteForce) throttled(station, remote string) (limit string, wait time.Duration) {
	if w := b.stations.Wait(station); w > 0 {
		return "station", w
	}
	if w := b.addrs.Wait(addrKey(remote)); w > 0 {
		return "address", w
	}
	return "", 0
}

// failed records a wrong password and reports the limit it reached, if any
// (so the attempt that starts a throttle says so), and for how long.
func (b *bruteForce) failed(station, remote string) (reached string, wait time.Duration) {
	b.stations.Fail(station)
	b.addrs.Fail(addrKey(remote))
	return b.throttled(station, remote)
}

// succeeded forgets station's wrong passwords: its charger got in.
func (b *bruteForce) succeeded(station string) { b.stations.Reset(station) }

// wait holds a throttled attempt for the delay (or until ctx ends), unless
// too many are already waiting.
func (b *bruteForce) wait(ctx context.Context) {
	select {
	case b.delayed <- struct{}{}:
	default:
		return
	}
	defer func() { <-b.delayed }()
	t := time.NewTimer(b.limits.Delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// reason is the refusal's reason, for logs and security events.
func (b *bruteForce) reason(limit string, wait time.Duration) string {
	if limit == "address" {
		return fmt.Sprintf("%d wrong passwords from this address within %v: its password attempts are refused unchecked for %v",
			b.limits.PerAddress, b.limits.Window, wait.Round(time.Second))
	}
	return fmt.Sprintf("%d wrong passwords for this station within %v: its password attempts are refused unchecked for %v",
		b.limits.PerStation, b.limits.Window, wait.Round(time.Second))
}
