package access

import (
	"context"
	"fmt"

	"github.com/chargeplane/chargeplane/api/auth"
)

// TokenAuthenticator accepts the core's signed access tokens, trusting the
// role they carry.
type TokenAuthenticator struct {
	Tokens *auth.Tokens
}

// Authenticate implements Authenticator.
func (a TokenAuthenticator) Authenticate(_ context.Context, bearer string) (*auth.Principal, error) {
	c, err := a.Tokens.Verify(bearer)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	return &auth.Principal{Kind: auth.PrincipalUser, ID: c.UserID, Name: c.Email, Role: c.Role}, nil
}
