package ocppj

import (
	"database/sql/driver"
	"fmt"
)

// Version is an OCPP protocol version: the one representation of it in
// Chargeplane. It has three encodings, each converted here and nowhere
// else: the WebSocket subprotocol a charger negotiates ("ocpp1.6"), the
// text the database stores and the API shows ("1.6"), and the bus
// envelope's enum (pkg/bus). The zero Version is "unknown" (a station
// that never connected).
type Version int

const (
	V16 Version = iota + 1
	V201
)

// Versions are the versions Chargeplane speaks, oldest first.
var Versions = []Version{V16, V201}

// Subprotocol returns the WebSocket subprotocol name of v ("" if unknown).
func (v Version) Subprotocol() string {
	switch v {
	case V16:
		return "ocpp1.6"
	case V201:
		return "ocpp2.0.1"
	}
	return ""
}

// String returns "1.6" or "2.0.1", or "unknown".
func (v Version) String() string {
	if t := v.Text(); t != "" {
		return t
	}
	return "unknown"
}

// Text is v as stored and shown by the API: "1.6", "2.0.1", or "" for
// the zero Version.
func (v Version) Text() string {
	switch v {
	case V16:
		return "1.6"
	case V201:
		return "2.0.1"
	}
	return ""
}

// ParseSubprotocol maps a WebSocket subprotocol to a Version.
func ParseSubprotocol(s string) (Version, bool) {
	for _, v := range Versions {
		if s == v.Subprotocol() {
			return v, true
		}
	}
	return 0, false
}

// ParseVersion maps "1.6" or "2.0.1" (Text) to a Version.
func ParseVersion(s string) (Version, bool) {
	for _, v := range Versions {
		if s == v.Text() {
			return v, true
		}
	}
	return 0, false
}

// Value stores v as its Text, so columns keep reading "1.6" and "2.0.1".
func (v Version) Value() (driver.Value, error) { return v.Text(), nil }

// Scan reads a stored Text; an empty or NULL column is the zero Version.
func (v *Version) Scan(src any) error {
	var s string
	switch x := src.(type) {
	case nil:
	case string:
		s = x
	case []byte:
		s = string(x)
	default:
		return fmt.Errorf("ocppj: cannot read a version from %T", src)
	}
	if s == "" {
		*v = 0
		return nil
	}
	parsed, ok := ParseVersion(s)
	if !ok {
		return fmt.Errorf("ocppj: unknown OCPP version %q", s)
	}
	*v = parsed
	return nil
}
