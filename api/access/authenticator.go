package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/store"
)

// DefaultRecheck is how long a core instance trusts what it last read of a
// user or an API key: a disable, a role change, a password reset or a
// revocation made on any instance is seen by every other one within it.
const DefaultRecheck = 2 * time.Second

// DefaultLastUsedInterval is how often API keys' last-used times are
// written: requests only note the time in memory.
const DefaultLastUsedInterval = 10 * time.Second

// PrincipalStore is what the Authenticator reads and writes.
type PrincipalStore interface {
	GetUser(ctx context.Context, id string) (*store.User, error)
	GetAPIKey(ctx context.Context, id string) (*store.APIKey, error)
	TouchAPIKeys(ctx context.Context, used map[string]time.Time) error
}

// AuthenticatorConfig configures an Authenticator.
type AuthenticatorConfig struct {
	Tokens *auth.Tokens
	Store  PrincipalStore
	// Recheck is DefaultRecheck when 0.
	Recheck time.Duration
	// LastUsedInterval is DefaultLastUsedInterval when 0.
	LastUsedInterval time.Duration
	// CacheSize bounds the users and keys kept (default 10,000).
	CacheSize int
	Now       func() time.Time
	Logger    *slog.Logger
}

// Authenticator accepts the core's access tokens and API keys.
//
// A token is signed, so its signature and expiry need no database; but it
// is only as good as its user's current state: the user must exist, be
// enabled and still be at the token generation the token carries (a role
// change, a disable or a password change bumps it). An API key must exist,
// match its stored hash, be neither revoked nor expired. Both states are
// read from the database at most once per Recheck per user or key on each
// instance, so a request costs a map lookup, and a change made on any
// instance takes effect everywhere within Recheck.
type Authenticator struct {
	tokens  *auth.Tokens
	store   PrincipalStore
	recheck time.Duration
	every   time.Duration
	max     int
	now     func() time.Time
	log     *slog.Logger

	mu    sync.Mutex
	users map[string]cached[store.User]
	keys  map[string]cached[store.APIKey]
	used  map[string]time.Time // API key id → last use not yet written
}

type cached[T any] struct {
	v       *T // nil: not found
	fetched time.Time
}

// NewAuthenticator returns an Authenticator; Run writes the last-used
// times.
func NewAuthenticator(c AuthenticatorConfig) *Authenticator {
	if c.Recheck <= 0 {
		c.Recheck = DefaultRecheck
	}
	if c.LastUsedInterval <= 0 {
		c.LastUsedInterval = DefaultLastUsedInterval
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 10_000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return &Authenticator{
		tokens: c.Tokens, store: c.Store, recheck: c.Recheck, every: c.LastUsedInterval,
		max: c.CacheSize, now: c.Now, log: c.Logger.With("component", "access"),
		users: map[string]cached[store.User]{}, keys: map[string]cached[store.APIKey]{},
		used: map[string]time.Time{},
	}
}

// Authenticate implements the guard's Authenticator.
func (a *Authenticator) Authenticate(ctx context.Context, bearer string) (*auth.Principal, error) {
	if auth.IsAPIKey(bearer) {
		return a.apiKey(ctx, bearer)
	}
	c, err := a.tokens.Verify(bearer)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	u, err := lookup(ctx, a, a.users, c.UserID, a.store.GetUser)
	if err != nil {
		return nil, err
	}
	switch {
	case u == nil:
		return nil, fmt.Errorf("%w: user %s no longer exists", ErrUnauthenticated, c.UserID)
	case u.DisabledAt != nil:
		return nil, fmt.Errorf("%w: user %s is disabled", ErrUnauthenticated, c.UserID)
	case u.TokenGeneration != c.Generation:
		return nil, fmt.Errorf("%w: token of user %s predates a role, password or state change", ErrUnauthenticated, c.UserID)
	}
	return &auth.Principal{Kind: auth.PrincipalUser, ID: u.ID, Name: u.Email, Role: auth.Role(u.Role)}, nil
}

func (a *Authenticator) apiKey(ctx context.Context, bearer string) (*auth.Principal, error) {
	id, secret, err := auth.ParseAPIKey(bearer)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	k, err := lookup(ctx, a, a.keys, id, a.store.GetAPIKey)
	if err != nil {
		return nil, err
	}
	now := a.now()
	switch {
	case k == nil || !auth.APIKeySecretMatches(secret, k.SecretHash):
		return nil, fmt.Errorf("%w: unknown API key %s", ErrUnauthenticated, id)
	case k.RevokedAt != nil:
		return nil, fmt.Errorf("%w: API key %s is revoked", ErrUnauthenticated, id)
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return nil, fmt.Errorf("%w: API key %s expired", ErrUnauthenticated, id)
	}
	a.mu.Lock()
	a.used[id] = now
	a.mu.Unlock()
	return &auth.Principal{Kind: auth.PrincipalAPIKey, ID: k.ID, Name: k.Name, Role: auth.Role(k.Role)}, nil
}

// lookup returns the cached record of id, reading it again once it is
// older than Recheck. Unknown ids are cached too, so that a stream of
// made-up credentials costs one read per id and Recheck.
func lookup[T any](ctx context.Context, a *Authenticator, m map[string]cached[T], id string, get func(context.Context, string) (*T, error)) (*T, error) {
	now := a.now()
	a.mu.Lock()
	e, ok := m[id]
	a.mu.Unlock()
	if ok && now.Sub(e.fetched) < a.recheck {
		return e.v, nil
	}
	v, err := get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		v, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("access: read credential state: %w", err)
	}
	a.mu.Lock()
	if _, exists := m[id]; !exists && len(m) >= a.max {
		// Full of entries that are mostly stale anyway: start over.
		clear(m)
	}
	m[id] = cached[T]{v: v, fetched: now}
	a.mu.Unlock()
	return v, nil
}

// Forget drops what this instance knows of a user or a key, so that a
// change made here is enforced here at once (elsewhere within Recheck).
func (a *Authenticator) Forget(kind auth.PrincipalKind, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch kind {
	case auth.PrincipalUser:
		delete(a.users, id)
	case auth.PrincipalAPIKey:
		delete(a.keys, id)
	}
}

// Run writes API keys' last-used times every LastUsedInterval until ctx
// ends; call Flush after it returns to write the last ones.
func (a *Authenticator) Run(ctx context.Context) {
	t := time.NewTicker(a.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.Flush(ctx)
		}
	}
}

// Flush writes the pending last-used times.
func (a *Authenticator) Flush(ctx context.Context) {
	a.mu.Lock()
	used := a.used
	a.used = map[string]time.Time{}
	a.mu.Unlock()
	if len(used) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := a.store.TouchAPIKeys(ctx, used); err != nil {
		// Only a display value: the next flush writes newer times.
		a.log.Warn("could not record API keys' last use", "keys", len(used), "err", err)
	}
}
