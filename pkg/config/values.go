package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// variable binds a setting to its Config field: how the text of the
// environment becomes the field's value, and what the value must satisfy.
type variable interface {
	set(c *Config, raw string) error
	check(c *Config) error
	// format shows the field's value in an error about it.
	format(c *Config) string
	// addr is the field's address (the table test checks every field is
	// bound exactly once).
	addr(c *Config) any
}

type field[T any] struct {
	ptr    func(*Config) *T
	parse  func(string) (T, error)
	checks []func(T) error
}

func (f field[T]) set(c *Config, raw string) error {
	v, err := f.parse(raw)
	if err != nil {
		return err
	}
	*f.ptr(c) = v
	return nil
}

func (f field[T]) check(c *Config) error {
	for _, check := range f.checks {
		if err := check(*f.ptr(c)); err != nil {
			return err
		}
	}
	return nil
}

func (f field[T]) format(c *Config) string { return fmt.Sprint(*f.ptr(c)) }
func (f field[T]) addr(c *Config) any      { return f.ptr(c) }

func text(ptr func(*Config) *string, checks ...func(string) error) variable {
	return field[string]{ptr, func(s string) (string, error) { return strings.TrimSpace(s), nil }, checks}
}

func integer(ptr func(*Config) *int, checks ...func(int) error) variable {
	return field[int]{ptr, func(s string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return 0, errors.New("want a whole number")
		}
		return n, nil
	}, checks}
}

func integer64(ptr func(*Config) *int64, checks ...func(int64) error) variable {
	return field[int64]{ptr, func(s string) (int64, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return 0, errors.New("want a whole number")
		}
		return n, nil
	}, checks}
}

func boolean(ptr func(*Config) *bool) variable {
	return field[bool]{ptr, func(s string) (bool, error) {
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return false, errors.New("want true or false")
		}
		return b, nil
	}, nil}
}

func duration(ptr func(*Config) *time.Duration, checks ...func(time.Duration) error) variable {
	return field[time.Duration]{ptr, ParseDuration, checks}
}

// maxSeconds keeps a bare number of seconds inside time.Duration.
const maxSeconds = int64(1<<63-1) / int64(time.Second)

// ParseDuration accepts a Go duration ("90s") or a bare number of seconds
// ("300"), because the seed's variables are documented in seconds. The
// sign is left to each setting's checks.
func ParseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < -maxSeconds || n > maxSeconds {
			return 0, errors.New("out of range")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("want seconds (300) or Go syntax (90s, 5m, 12h)")
	}
	return d, nil
}

// The checks: each says what the value must be, the caller names the
// variable and the value.

func positive(d time.Duration) error {
	if d <= 0 {
		return errors.New("must be positive")
	}
	return nil
}

func notNegative(d time.Duration) error {
	if d < 0 {
		return errors.New("must not be negative")
	}
	return nil
}

func wholeSeconds(d time.Duration) error {
	if d%time.Second != 0 {
		return errors.New("must be whole seconds (OCPP sends it as an integer)")
	}
	return nil
}

func between[T int | int64](lo, hi T) func(T) error {
	return func(v T) error {
		if v < lo || v > hi {
			return fmt.Errorf("must be between %d and %d", lo, hi)
		}
		return nil
	}
}

func atLeast[T int | int64](lo T) func(T) error {
	return func(v T) error {
		if v < lo {
			return fmt.Errorf("must be at least %d", lo)
		}
		return nil
	}
}

func minBytes(n int) func(string) error {
	return func(s string) error {
		if s != "" && len(s) < n {
			return fmt.Errorf("must be at least %d bytes, got %d", n, len(s))
		}
		return nil
	}
}

func oneOf(values ...string) func(string) error {
	return func(s string) error {
		for _, v := range values {
			if strings.EqualFold(s, v) {
				return nil
			}
		}
		return fmt.Errorf("must be %s", strings.Join(values, " or "))
	}
}

func logLevel(s string) error {
	_, err := parseLevel(s)
	return err
}

// listenAddr accepts host:port with a numeric port; an empty host listens
// on every interface.
func listenAddr(s string) error {
	if s == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want host:port, e.g. :8080 or 127.0.0.1:8080")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("want a numeric port between 0 and 65535")
	}
	return nil
}

// loopbackAddr accepts an empty address (off) or a listen address on
// loopback: what it serves must not reach the network.
func loopbackAddr(s string) error {
	if s == "" {
		return nil
	}
	if err := listenAddr(s); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(s)
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errors.New("must be a loopback address (e.g. 127.0.0.1:6060)")
	}
	return nil
}

// httpURL accepts an empty value (off) or an absolute http(s) URL.
func httpURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http:// or https:// URL")
	}
	return nil
}

// prefixList accepts a comma-separated list of IP addresses and CIDRs.
func prefixList(s string) error {
	_, err := ParsePrefixes(s)
	return err
}

// ParsePrefixes reads a comma-separated list of IP addresses (a host) and
// CIDRs (a network), e.g. "10.0.0.5, 192.168.0.0/16".
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.Contains(item, "/") {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR (e.g. 10.0.0.0/8)", item)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR", item)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// VendorMessage is a DataTransfer vendorId and messageId; an empty
// MessageID stands for every message of the vendor.
type VendorMessage struct{ VendorID, MessageID string }

// ParseVendorMessages reads a comma-separated list of vendorId/messageId
// and vendorId entries (e.g. "com.acme/Ping, org.example"), in order,
// without repeats. OCPP bounds vendorId to 255 and messageId to 50
// characters.
func ParseVendorMessages(s string) ([]VendorMessage, error) {
	var out []VendorMessage
	seen := map[VendorMessage]bool{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		vendor, message, hasMessage := strings.Cut(item, "/")
		vm := VendorMessage{strings.TrimSpace(vendor), strings.TrimSpace(message)}
		switch {
		case vm.VendorID == "" || (hasMessage && vm.MessageID == ""):
			return nil, fmt.Errorf("%q is not vendorId or vendorId/messageId", item)
		case len(vm.VendorID) > 255 || len(vm.MessageID) > 50:
			return nil, fmt.Errorf("%q: vendorId is at most 255 characters, messageId at most 50", item)
		}
		if !seen[vm] {
			seen[vm] = true
			out = append(out, vm)
		}
	}
	return out, nil
}

func vendorList(s string) error {
	_, err := ParseVendorMessages(s)
	return err
}

// ParseChargerActions reads a comma-separated list of actions a charger
// sends (of OCPP 1.6 or 2.0.1, e.g. "Heartbeat, StatusNotification"), in
// order, without repeats; an action no charger sends is an error, so that
// a typo does not silently keep nothing out.
func ParseChargerActions(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" || slices.Contains(out, a) {
			continue
		}
		if !slices.Contains(ocppj.ChargerActions(ocppj.V16), a) && !slices.Contains(ocppj.ChargerActions(ocppj.V201), a) {
			return nil, fmt.Errorf("%q is not an action a charger sends in OCPP 1.6 or 2.0.1", a)
		}
		out = append(out, a)
	}
	return out, nil
}

func actionList(s string) error {
	_, err := ParseChargerActions(s)
	return err
}
