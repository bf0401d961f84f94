package operator

import "testing"

// Failed logins from one IPv6 /64 add up; IPv4 addresses count alone.
func TestAddressKey(t *testing.T) {
	same := [][2]string{
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2:ffff::1"},
		{"192.0.2.1", "192.0.2.1"},
	}
	for _, p := range same {
		if addressKey(p[0]) != addressKey(p[1]) {
			t.Errorf("%s and %s counted apart", p[0], p[1])
		}
	}
	apart := [][2]string{
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"192.0.2.1", "192.0.2.2"},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.2"},
	}
	for _, p := range apart {
		if addressKey(p[0]) == addressKey(p[1]) {
			t.Errorf("%s and %s counted together", p[0], p[1])
		}
	}
	if got := addressKey("not an address"); got != "not an address" {
		t.Errorf("unparsable address keyed %q", got)
	}
}
