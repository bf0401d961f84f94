package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MinAuthSecretBytes is the shortest AUTH_SECRET accepted: HS256 keys shorter
// than the hash output make brute-forcing a captured token feasible.
const MinAuthSecretBytes = 32

// AuthSecretFile is the name, inside DATA_DIR, of the signing secret the
// embedded mode generates on first start.
const AuthSecretFile = "auth_secret"

// ResolveAuthSecret returns the token signing key: AUTH_SECRET when set;
// otherwise, in the embedded mode (no DATABASE_URL), the key kept in
// DATA_DIR/auth_secret, generated on first use so that tokens survive
// restarts without the operator having to invent a secret.
func (c Config) ResolveAuthSecret() ([]byte, error) {
	if c.AuthSecret != "" {
		if len(c.AuthSecret) < MinAuthSecretBytes {
			return nil, fmt.Errorf("%w: AUTH_SECRET must be at least %d bytes", ErrInvalid, MinAuthSecretBytes)
		}
		return []byte(c.AuthSecret), nil
	}
	if c.DatabaseURL != "" {
		return nil, fmt.Errorf("%w: AUTH_SECRET is required when DATABASE_URL is set (production mode has no default secret)", ErrInvalid)
	}
	path := filepath.Join(c.DataDir, AuthSecretFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		secret := strings.TrimSpace(string(b))
		if len(secret) < MinAuthSecretBytes {
			return nil, fmt.Errorf("%w: %s holds fewer than %d bytes; delete it to generate a new one", ErrInvalid, path, MinAuthSecretBytes)
		}
		return []byte(secret), nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("config: create DATA_DIR: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("config: generate auth secret: %w", err)
	}
	secret := hex.EncodeToString(raw)
	// O_EXCL: if another process created the file meanwhile, use theirs so
	// both sign with the same key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return c.ResolveAuthSecret()
	}
	if err != nil {
		return nil, fmt.Errorf("config: create %s: %w", path, err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("config: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("config: write %s: %w", path, err)
	}
	return []byte(secret), nil
}

func defaultCoreID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "core"
	}
	raw := make([]byte, 4)
	_, _ = rand.Read(raw)
	return host + "-" + hex.EncodeToString(raw)
}
