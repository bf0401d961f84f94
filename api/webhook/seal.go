package webhook

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// sealVersion prefixes a sealed secret, naming the key derivation and
// cipher.
const sealVersion = "v1:"

// ErrUnsealable: a sealed secret does not open with this key (AUTH_SECRET
// changed since it was sealed, or the value was altered).
var ErrUnsealable = errors.New("webhook: secret cannot be decrypted (AUTH_SECRET changed?): set a new secret")

// Sealer encrypts signing secrets for the database. A webhook's secret
// must be read back to sign (unlike a password, it cannot be kept as a
// hash), so it is kept encrypted with AES-256-GCM under a key derived
// from AUTH_SECRET, which every core instance shares and the database
// does not hold: a copy of the database alone does not reveal it.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the sealing key from the core's auth secret.
func NewSealer(authSecret []byte) (*Sealer, error) {
	if len(authSecret) == 0 {
		return nil, errors.New("webhook: empty auth secret")
	}
	// A key of its own: HMAC of a fixed label, so the token signing key
	// is never used as a cipher key directly.
	mac := hmac.New(sha256.New, authSecret)
	mac.Write([]byte("chargeplane webhook secrets v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("webhook: sealing key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("webhook: sealing key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts secret; id (the webhook's) is bound to it, so a sealed
// secret copied onto another webhook does not open.
func (s *Sealer) Seal(id, secret string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("webhook: seal: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(secret), []byte(id))
	return sealVersion + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal returned for id.
func (s *Sealer) Open(id, sealed string) ([]byte, error) {
	raw, ok := strings.CutPrefix(sealed, sealVersion)
	if !ok {
		return nil, ErrUnsealable
	}
	b, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize() {
		return nil, ErrUnsealable
	}
	n := s.aead.NonceSize()
	secret, err := s.aead.Open(nil, b[:n], b[n:], []byte(id))
	if err != nil {
		return nil, ErrUnsealable
	}
	return secret, nil
}
