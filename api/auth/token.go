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
	UserID string
	Email  string
	// Role is the user's role when the token was issued.
	Role Role
	// Generation is the user's token generation when the token was issued:
	// a role change, a disable or a password change bumps the user's, which
	// ends every token of an older one (see access.Authenticator).
	Generation int64
	IssuedAt   time.Time
	ExpiresAt  time.Time
}

// Subject is who a token is issued to.
type Subject struct {
	UserID     string
	Email      string
	Role       Role
	Generation int64
}

type tokenClaims struct {
	Email      string `json:"email"`
	Role       Role   `json:"role"`
	Generation int64  `json:"gen"`
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

// TTL is how long an issued token lives.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue returns a signed access token for a user and its expiry.
func (t *Tokens) Issue(sub Subject) (string, time.Time, error) {
	if sub.UserID == "" || !sub.Role.Valid() {
		return "", time.Time{}, errors.New("auth: a token needs a user id and a valid role")
	}
	// JWT times have second precision; truncating keeps the returned expiry
	// equal to the one inside the token.
	now := t.Now().UTC().Truncate(time.Second)
	exp := now.Add(t.ttl)
	claims := tokenClaims{
		Email:      sub.Email,
		Role:       sub.Role,
		Generation: sub.Generation,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    TokenIssuer,
			Subject:   sub.UserID,
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
	// Tokens from before roles existed carry none: their holders log in again.
	if !c.Role.Valid() {
		return nil, fmt.Errorf("%w: no valid role", ErrInvalidToken)
	}
	out := &Claims{UserID: c.Subject, Email: c.Email, Role: c.Role, Generation: c.Generation, ExpiresAt: c.ExpiresAt.Time}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time
	}
	return out, nil
}
