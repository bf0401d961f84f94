package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"
)

// ErrForbiddenAddress is the error of a connection the guard refused.
var ErrForbiddenAddress = errors.New("webhook: address refused")

// forbidden are the ranges a webhook may not reach unless
// WEBHOOK_ALLOW_PRIVATE: the core's own machine and network, the cloud
// metadata services, and addresses that are not unicast on the Internet.
// Whoever can create a webhook must not be able to make the core call
// something only it can reach (server-side request forgery).
var forbidden = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (cloud metadata)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved (benchmarking)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "reserved (IPv4-compatible)"},
	{netip.MustParsePrefix("100::/64"), "reserved (discard)"},
	{netip.MustParsePrefix("2001::/32"), "reserved (Teredo tunnel)"},
	{netip.MustParsePrefix("fc00::/7"), "private (unique local, incl. cloud metadata)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// nat64 are the NAT64 prefixes (well-known and local-use): their
// addresses carry an IPv4 address in their last 32 bits, and 6to4's
// (2002::/16) carry one in the 32 bits after the prefix; either is checked
// like that IPv4 address, which the translator or relay would reach.
var (
	nat64     = []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("64:ff9b:1::/48")}
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Forbidden says why ip may not be reached ("loopback", "private"…), or
// "" when it may.
func Forbidden(ip netip.Addr) string {
	// ::ffff:127.0.0.1 is 127.0.0.1; a zone (fe80::1%eth0) would make
	// Prefix.Contains false.
	ip = ip.Unmap().WithZone("")
	b := ip.As16()
	switch {
	case slices.ContainsFunc(nat64, func(p netip.Prefix) bool { return p.Contains(ip) }):
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	case sixToFour.Contains(ip):
		ip = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
	}
	for _, f := range forbidden {
		if f.prefix.Contains(ip) {
			return f.why
		}
	}
	return ""
}

// control is a net.Dialer Control that refuses forbidden addresses. It
// runs after name resolution, on the address actually being connected to
// (each one tried, for a name with several), so neither a name resolving
// to an internal address nor one re-resolving differently later (DNS
// rebinding) gets through; nor does a redirect, which is never followed
// anyway.
func control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %s is not an IP address", ErrForbiddenAddress, host)
	}
	if why := Forbidden(ip); why != "" {
		return fmt.Errorf("%w: %s is a %s address (WEBHOOK_ALLOW_PRIVATE=true allows it)", ErrForbiddenAddress, ip, why)
	}
	return nil
}
