package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenIssuer is the "iss" claim of every access token; tokens from another
// issuer sharing the key are refused.
const TokenIssuer = "chargeplane"

// ErrInvalidToken is returned for any token that must not be trusted
// (malformed, wrong algorithm or key, expired, wrong issuer). The cause is
// wrapped for logs; callers answer all of them the same way.
var ErrInvalidToken = errors.New("auth: invalid token")

// Claims is what a verified access token says about its holder.
type Claims struct {
	UserID    string
	Email     string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

type tokenClaims struct {
	Email string `json:"email"`
	jwt.RegisteredClaims
}

// Tokens issues and verifies HS256 access tokens.
type Tokens struct {
	secret []byte
	ttl    time.Duration
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// NewTokens returns a Tokens signing with secret; tokens live for ttl.
func NewTokens(secret []byte, ttl time.Duration) (*Tokens, error) {
	if len(secret) == 0 {
		return nil, errors.New("auth: empty token secret")
	}
	if ttl <= 0 {
		return nil, errors.New("auth: token TTL must be positive")
	}
	return &Tokens{secret: append([]byte(nil), secret...), ttl: ttl, Now: time.Now}, nil
}

// Issue returns a signed access token for a user and its expiry.
func (t *Tokens) Issue(userID, email string) (string, time.Time, error) {
	// JWT times have second precision; truncating keeps the returned expiry
	// equal to the one inside the token.
	now := t.Now().UTC().Truncate(time.Second)
	exp := now.Add(t.ttl)
	claims := tokenClaims{
		Email: email,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    TokenIssuer,
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: sign token: %w", err)
	}
	return signed, exp, nil
}

// Verify checks a token's signature, algorithm (HS256 only, so "none" and
// key-confusion tricks fail), issuer and expiry (required) against the clock.
func (t *Tokens) Verify(token string) (*Claims, error) {
	var c tokenClaims
	_, err := jwt.ParseWithClaims(token, &c,
		func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(TokenIssuer),
		jwt.WithTimeFunc(t.Now),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	out := &Claims{UserID: c.Subject, Email: c.Email, ExpiresAt: c.ExpiresAt.Time}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time
	}
	return out, nil
}
