package ocppj

import (
	"errors"
	"fmt"
)

// MaxIdentityLen is the longest charging station identity OCPP 2.0.1 allows
// (Part 4 §3.1.1; 1.6 sets no limit, chargers keep to this one).
const MaxIdentityLen = 48

// ValidateIdentity reports why id cannot be a charging station identity,
// nil when it can. The one rule for the ids an operator registers, the ids
// a charger may connect with and the ids an unknown charger may onboard
// under, so that every station that can connect can also be named in the
// API and every registered one can connect.
//
// The identity is the last segment of the charger's URL, percent-encoded
// (OCPP-J 1.6 §3.1.1, 2.0.1 Part 4 §3.1.1), and the Basic-auth username.
// Allowed: 1 to 48 printable ASCII characters (0x21-0x7E), except
//   - ':', which ends the Basic-auth username (2.0.1 forbids it);
//   - '/' and '\', which proxies and URL libraries treat as path
//     separators (many normalise '\' to '/'), so the id would not be one
//     segment, and "." and "..", which they resolve away;
//
// so neither space nor control characters nor non-ASCII: an id travels in
// log lines, URLs and HTTP headers, and a charger's configuration screen
// must be able to type it. The rest (e.g. '#', '%', '?', '+') is allowed:
// it survives percent-encoding, which OCPP-J requires of chargers.
func ValidateIdentity(id string) error {
	switch {
	case id == "":
		return errors.New("station id is required")
	case len(id) > MaxIdentityLen:
		return fmt.Errorf("station id is longer than %d characters", MaxIdentityLen)
	case id == "." || id == "..":
		return fmt.Errorf("station id must not be %q (a relative path)", id)
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c == ':' || c == '/' || c == '\\':
			return fmt.Errorf("station id must not contain %q", c)
		case c <= ' ' || c > '~':
			return fmt.Errorf("station id must be printable ASCII without spaces (byte %d is 0x%02x)", i, c)
		}
	}
	return nil
}
