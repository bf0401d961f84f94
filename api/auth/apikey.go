package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// APIKeyPrefix starts every API key, so that a key is recognised at a
// glance (and by secret scanners) and told from an access token.
const APIKeyPrefix = "cpk_"

// An API key reads "cpk_<id>.<secret>": the id finds the key's record, the
// secret (256 random bits) proves possession. Only the secret's SHA-256 is
// stored: with that much entropy a slow hash would add nothing but cost on
// every request.
const (
	apiKeyIDBytes     = 9  // 12 base64url characters
	apiKeySecretBytes = 32 // 43 base64url characters
	maxAPIKeyLen      = 100
)

// ErrNotAPIKey is returned by ParseAPIKey for anything that is not shaped
// like an API key.
var ErrNotAPIKey = errors.New("auth: not an API key")

// NewAPIKey makes a fresh key: the id to store, the full key to show once
// and the hash of its secret to store.
func NewAPIKey() (id, key, secretHash string, err error) {
	idb := make([]byte, apiKeyIDBytes)
	sec := make([]byte, apiKeySecretBytes)
	if _, err := rand.Read(idb); err != nil {
		return "", "", "", err
	}
	if _, err := rand.Read(sec); err != nil {
		return "", "", "", err
	}
	id = base64.RawURLEncoding.EncodeToString(idb)
	secret := base64.RawURLEncoding.EncodeToString(sec)
	return id, APIKeyPrefix + id + "." + secret, HashAPIKeySecret(secret), nil
}

// IsAPIKey reports whether a bearer credential is meant as an API key.
func IsAPIKey(bearer string) bool { return strings.HasPrefix(bearer, APIKeyPrefix) }

// ParseAPIKey splits a key into its id and secret.
func ParseAPIKey(key string) (id, secret string, err error) {
	if len(key) > maxAPIKeyLen || !IsAPIKey(key) {
		return "", "", ErrNotAPIKey
	}
	id, secret, ok := strings.Cut(strings.TrimPrefix(key, APIKeyPrefix), ".")
	if !ok || len(id) != base64.RawURLEncoding.EncodedLen(apiKeyIDBytes) ||
		len(secret) != base64.RawURLEncoding.EncodedLen(apiKeySecretBytes) {
		return "", "", ErrNotAPIKey
	}
	return id, secret, nil
}

// HashAPIKeySecret is the stored form of a key's secret.
func HashAPIKeySecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// APIKeySecretMatches compares a presented secret with a stored hash in
// constant time.
func APIKeySecretMatches(secret, storedHash string) bool {
	return subtle.ConstantTimeCompare([]byte(HashAPIKeySecret(secret)), []byte(storedHash)) == 1
}
