package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func newTestTokens(t *testing.T, now *time.Time) *Tokens {
	t.Helper()
	tk, err := NewTokens(testSecret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tk.Now = func() time.Time { return *now }
	return tk
}

func TestTokenRoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	tk := newTestTokens(t, &now)
	tok, exp, err := tk.Issue(Subject{UserID: "user-1", Email: "op@example.com", Role: RoleOperator, Generation: 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Truncate(time.Second).Add(time.Hour); !exp.Equal(want) {
		t.Errorf("expiry = %v, want %v", exp, want)
	}
	c, err := tk.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != "user-1" || c.Email != "op@example.com" || c.Role != RoleOperator || c.Generation != 3 || !c.ExpiresAt.Equal(exp) {
		t.Errorf("claims = %+v", c)
	}
	if !c.IssuedAt.Equal(now.Truncate(time.Second)) {
		t.Errorf("iat = %v", c.IssuedAt)
	}
}

func TestTokenExpired(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tk := newTestTokens(t, &now)
	tok, _, err := tk.Issue(Subject{UserID: "u", Email: "e@x", Role: RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour - time.Second)
	if _, err := tk.Verify(tok); err != nil {
		t.Fatalf("token refused before expiry: %v", err)
	}
	now = now.Add(2 * time.Second)
	if _, err := tk.Verify(tok); !errors.Is(err, ErrInvalidToken) || !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("expired token: err = %v", err)
	}
}

func TestTokenWrongSecret(t *testing.T) {
	now := time.Now()
	tok, _, _ := newTestTokens(t, &now).Issue(Subject{UserID: "u", Email: "e@x", Role: RoleViewer})
	other, _ := NewTokens([]byte("another-secret-another-secret-xx"), time.Hour)
	if _, err := other.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("err = %v", err)
	}
}

func TestTokenWrongAlgorithm(t *testing.T) {
	now := time.Now()
	tk := newTestTokens(t, &now)
	claims := jwt.MapClaims{"sub": "u", "role": "admin", "iss": TokenIssuer, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	// HS512 with the right key: only the pinned algorithm is acceptable.
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, claims).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"HS512": hs512, "none": none} {
		if _, err := tk.Verify(tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s token: err = %v", name, err)
		}
	}
}

func TestTokenMissingClaims(t *testing.T) {
	now := time.Now()
	tk := newTestTokens(t, &now)
	sign := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(testSecret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := now.Add(time.Hour).Unix()
	for name, c := range map[string]jwt.MapClaims{
		"no exp":       {"sub": "u", "role": "admin", "iss": TokenIssuer},
		"wrong issuer": {"sub": "u", "role": "admin", "iss": "someone-else", "exp": exp},
		"no subject":   {"role": "admin", "iss": TokenIssuer, "exp": exp},
		"future iat":   {"sub": "u", "role": "admin", "iss": TokenIssuer, "exp": exp, "iat": now.Add(time.Hour).Unix()},
		"no role":      {"sub": "u", "iss": TokenIssuer, "exp": exp},
		"unknown role": {"sub": "u", "role": "root", "iss": TokenIssuer, "exp": exp},
	} {
		if _, err := tk.Verify(sign(c)); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestTokenTampered(t *testing.T) {
	now := time.Now()
	tk := newTestTokens(t, &now)
	tok, _, _ := tk.Issue(Subject{UserID: "user-1", Email: "op@example.com", Role: RoleOperator, Generation: 3})
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(payload), "user-1", "admin-0", 1)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
	if _, err := tk.Verify(strings.Join(parts, ".")); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("tampered payload accepted: %v", err)
	}
	for _, junk := range []string{"", "a.b", "a.b.c", tok + "x", strings.Repeat(".", 10)} {
		if _, err := tk.Verify(junk); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Verify(%q) = %v", junk, err)
		}
	}
}

func TestNewTokensRejectsBadInput(t *testing.T) {
	if _, err := NewTokens(nil, time.Hour); err == nil {
		t.Error("empty secret accepted")
	}
	if _, err := NewTokens(testSecret, 0); err == nil {
		t.Error("zero TTL accepted")
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashSecret("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$") {
		t.Errorf("hash %q not PHC argon2id", h)
	}
	if err := VerifySecret(h, "correct horse"); err != nil {
		t.Errorf("right secret: %v", err)
	}
	if err := VerifySecret(h, "correct horsE"); !errors.Is(err, ErrMismatch) {
		t.Errorf("wrong secret: %v", err)
	}
	h2, _ := HashSecret("correct horse")
	if h2 == h {
		t.Error("two hashes of one secret are equal: salt not random")
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=1$x$y", "$bcrypt$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=8,t=1,p=1$!!$AA"} {
		if err := VerifySecret(bad, "x"); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("VerifySecret(%q) = %v, want a format error", bad, err)
		}
	}
}
