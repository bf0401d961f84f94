package auth

import (
	"context"
	"fmt"
	"strings"
)

// Role is what an operator or an API key may do. Roles are ordered: each
// one may do everything the ones below it may.
type Role string

const (
	// RoleViewer reads what the core stores: stations, tokens, sessions,
	// command history. It sends nothing to a charger and changes nothing.
	RoleViewer Role = "viewer"
	// RoleOperator runs the network: stations, id tokens and every command
	// to a charger; not users or API keys.
	RoleOperator Role = "operator"
	// RoleAdmin does everything, including users, API keys and the audit
	// trail.
	RoleAdmin Role = "admin"
)

// Roles lists the roles from the least to the most powerful.
var Roles = []Role{RoleViewer, RoleOperator, RoleAdmin}

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Allows reports whether a holder of r may do what needs the role need. An
// invalid role allows nothing and is allowed by nothing.
func (r Role) Allows(need Role) bool {
	return r.rank() > 0 && need.rank() > 0 && r.rank() >= need.rank()
}

// ParseRole reads a role name, case-insensitively.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		return "", fmt.Errorf("unknown role %q (want viewer, operator or admin)", s)
	}
	return r, nil
}

// PrincipalKind tells a signed-in user from an API key.
type PrincipalKind string

const (
	PrincipalUser   PrincipalKind = "user"
	PrincipalAPIKey PrincipalKind = "api_key"
)

// Principal is who makes a request: a user (by access token) or an API key.
type Principal struct {
	Kind PrincipalKind
	// ID is the user's or the key's id.
	ID string
	// Name is what the audit trail and the command history show: the
	// user's email or the key's name.
	Name string
	Role Role
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the authenticated caller of a request, if any.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}
