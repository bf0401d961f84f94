package ocppj

import (
	"strings"
	"testing"
)

func TestValidateIdentity(t *testing.T) {
	valid := []string{
		"CP-1",
		"a",
		strings.Repeat("x", MaxIdentityLen),
		"SN_0042.de*EVSE=1|+@",
		"E2E#1+%&?~!$'()[]{}", // legal once percent-encoded
		"...",                 // not a dot-segment
		"a..b",
	}
	for _, id := range valid {
		if err := ValidateIdentity(id); err != nil {
			t.Errorf("ValidateIdentity(%q) = %v, want nil", id, err)
		}
	}
	invalid := []struct{ id, why string }{
		{"", "required"},
		{strings.Repeat("x", MaxIdentityLen+1), "longer than 48"},
		{"a/b", `contain '/'`},
		{"../etc", `contain '/'`},
		{"..", `".."`},
		{".", `"."`},
		{`a\b`, `contain '\\'`},
		{"CP:1", `contain ':'`},
		{"CP 1", "printable ASCII"},
		{"CP\x00", "byte 2 is 0x00"},
		{"CP\n1", "0x0a"},
		{"CP\x7f", "0x7f"},
		{"CPü", "printable ASCII"},
		{strings.Repeat("ü", 20), "printable ASCII"}, // 20 characters but 40 bytes: the byte is what counts
	}
	for _, tc := range invalid {
		err := ValidateIdentity(tc.id)
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("ValidateIdentity(%q) = %v, want an error saying %s", tc.id, err, tc.why)
		}
	}
}
