package auth

import (
	"context"
	"fmt"
)

// Argon2MemoryBytes is what one Argon2id check of a hash made by
// HashSecret allocates while it runs.
const Argon2MemoryBytes = argonMemory * 1024

// PasswordChecker runs Argon2id verifications, at most a fixed number at
// once. Each one holds Argon2MemoryBytes for its tens of milliseconds, so
// without a bound a burst of wrong passwords takes memory in proportion to
// the burst (32 at once took a core from 110 MB to 1.19 GB); with one, the
// checks take at most limit × Argon2MemoryBytes, and the others wait for a
// slot (or until their context ends). CPU is no worse off: a check already
// keeps one core busy, so more at once than there are cores only queue.
type PasswordChecker struct {
	slots  chan struct{}
	verify func(hash, secret string) error // VerifySecret; a test's probe
}

// NewPasswordChecker runs at most limit checks at once (at least one).
func NewPasswordChecker(limit int) *PasswordChecker {
	return &PasswordChecker{slots: make(chan struct{}, max(limit, 1)), verify: VerifySecret}
}

// Verify is VerifySecret once a slot is free. It returns ctx's error,
// wrapped, when ctx ends first.
func (c *PasswordChecker) Verify(ctx context.Context, hash, secret string) error {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("auth: waiting to check a password: %w", ctx.Err())
	}
	defer func() { <-c.slots }()
	return c.verify(hash, secret)
}

// MemoryBound is the most memory the checks take at once, in bytes.
func (c *PasswordChecker) MemoryBound() int64 { return int64(cap(c.slots)) * Argon2MemoryBytes }
