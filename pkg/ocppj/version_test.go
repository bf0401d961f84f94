package ocppj

import "testing"

func TestVersionEncodings(t *testing.T) {
	for _, tc := range []struct {
		v                 Version
		text, subprotocol string
	}{{V16, "1.6", "ocpp1.6"}, {V201, "2.0.1", "ocpp2.0.1"}} {
		if tc.v.Text() != tc.text || tc.v.String() != tc.text || tc.v.Subprotocol() != tc.subprotocol {
			t.Errorf("%d: text %q string %q subprotocol %q", tc.v, tc.v.Text(), tc.v.String(), tc.v.Subprotocol())
		}
		if v, ok := ParseVersion(tc.text); !ok || v != tc.v {
			t.Errorf("ParseVersion(%q) = %v %v", tc.text, v, ok)
		}
		if v, ok := ParseSubprotocol(tc.subprotocol); !ok || v != tc.v {
			t.Errorf("ParseSubprotocol(%q) = %v %v", tc.subprotocol, v, ok)
		}
		val, err := tc.v.Value()
		if err != nil || val != tc.text {
			t.Errorf("Value() = %v %v", val, err)
		}
		var back Version
		if err := back.Scan([]byte(tc.text)); err != nil || back != tc.v {
			t.Errorf("Scan(%q) = %v %v", tc.text, back, err)
		}
	}
	var zero Version
	if zero.Text() != "" || zero.String() != "unknown" || zero.Subprotocol() != "" {
		t.Errorf("zero version: %q %q %q", zero.Text(), zero.String(), zero.Subprotocol())
	}
	if val, _ := zero.Value(); val != "" {
		t.Errorf("zero Value() = %v, want \"\" (never connected)", val)
	}
	v := V16
	if err := v.Scan(nil); err != nil || v != 0 {
		t.Errorf("Scan(NULL) = %v %v", v, err)
	}
	for _, bad := range []any{"1.5", "ocpp1.6", 16} {
		if err := v.Scan(bad); err == nil {
			t.Errorf("Scan(%v) accepted", bad)
		}
	}
	for _, bad := range []string{"", "1.6.0", "ocpp2.1", "OCPP1.6"} {
		if _, ok := ParseVersion(bad); ok {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
		if _, ok := ParseSubprotocol(bad); ok {
			t.Errorf("ParseSubprotocol(%q) accepted", bad)
		}
	}
}
