package truncate

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBytes(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 3, "hel"},
		{"hello", 0, ""},
		{"hello", -1, ""},
		{"aé", 2, "a"},  // 'é' is two bytes: not half of it
		{"aé", 3, "aé"}, // exactly
		{"a€b", 3, "a"}, // '€' is three bytes
		{"a€b", 4, "a€"},
		{"a😀", 2, "a"}, // four bytes, cut after one, two or three
		{"a😀", 3, "a"},
		{"a😀", 4, "a"},
		{"a😀b", 5, "a😀"},
		{"ab\x80\x80\x80", 3, "ab\x80"}, // stray continuation bytes are cut like any byte, not backed over
		{"a\xe2\x82", 2, "a\xe2"},       // an incomplete character at the end is not a character to keep whole
	} {
		if got := Bytes(tc.s, tc.n); got != tc.want {
			t.Errorf("Bytes(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

// TestBytesValid: for valid input, every bound gives a valid prefix of at
// most n bytes that loses less than a whole character to the boundary.
func TestBytesValid(t *testing.T) {
	for _, s := range []string{"plain ascii", "é€😀ça", strings.Repeat("日本", 5) + "x", "x😀😀y€"} {
		for n := 0; n <= len(s)+1; n++ {
			got := Bytes(s, n)
			if !utf8.ValidString(got) || !strings.HasPrefix(s, got) || len(got) > n || len(got) < min(n, len(s))-(utf8.UTFMax-1) {
				t.Errorf("Bytes(%q, %d) = %q", s, n, got)
			}
		}
	}
}

func TestChars(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 2, "he"},
		{"héllo", 2, "hé"},
		{"😀😀😀", 2, "😀😀"},
		{"😀😀", 2, "😀😀"},
		{"héllo", 0, ""},
		{"héllo", -3, ""},
	} {
		if got := Chars(tc.s, tc.n); got != tc.want {
			t.Errorf("Chars(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestMarked(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello", 4, "hell…"},
		{"hé", 2, "h…"},
		{"hé", 0, "…"},
	} {
		if got := Marked(tc.s, tc.n, "…"); got != tc.want {
			t.Errorf("Marked(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
