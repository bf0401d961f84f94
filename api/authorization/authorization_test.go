package authorization

import (
	"errors"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Second)
	one, two := 1, 2
	counted := func(n int64) func() (int64, error) { return func() (int64, error) { return n, nil } }
	mustNotCount := func() (int64, error) { t.Error("active transactions counted needlessly"); return 0, nil }
	for _, tc := range []struct {
		name   string
		tok    Token
		active func() (int64, error)
		want   string
		n      int64
	}{
		{"blocked stays blocked, even expired", Token{Status: "Blocked", ExpiresAt: &past}, mustNotCount, "Blocked", 0},
		{"invalid", Token{Status: "Invalid"}, mustNotCount, "Invalid", 0},
		{"accepted", Token{Status: Accepted}, mustNotCount, Accepted, 0},
		{"not yet expired", Token{Status: Accepted, ExpiresAt: &future}, mustNotCount, Accepted, 0},
		{"expired at the instant", Token{Status: Accepted, ExpiresAt: &now}, mustNotCount, Expired, 0},
		{"expired before its limit is counted", Token{Status: Accepted, ExpiresAt: &past, MaxActive: &one}, mustNotCount, Expired, 0},
		{"below its limit", Token{Status: Accepted, MaxActive: &two}, counted(1), Accepted, 1},
		{"at its limit", Token{Status: Accepted, MaxActive: &two}, counted(2), ConcurrentTx, 2},
	} {
		got, n, err := Decide(tc.tok, now, tc.active)
		if err != nil || got != tc.want || n != tc.n {
			t.Errorf("%s: %q %d %v, want %q %d", tc.name, got, n, err, tc.want, tc.n)
		}
	}
	boom := errors.New("boom")
	if _, _, err := Decide(Token{Status: Accepted, MaxActive: &one}, now, func() (int64, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Errorf("count error: %v", err)
	}
}
