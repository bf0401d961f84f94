// Package authorization decides whether an id token may charge: the
// effective status of a token at a moment, from what is stored of it and
// how many transactions it has going. The store reads and counts; this
// decides (unit-tested without a database).
package authorization

import "time"

// Statuses a decision gives beyond the stored ones (Accepted, Blocked,
// Expired, Invalid).
const (
	Accepted = "Accepted"
	Expired  = "Expired"
	// ConcurrentTx: the token already is in as many active transactions
	// as its limit allows.
	ConcurrentTx = "ConcurrentTx"
)

// Token is what a decision needs of a stored id token.
type Token struct {
	// Status is the stored status.
	Status    string
	ExpiresAt *time.Time
	// MaxActive limits the token's concurrent transactions; nil: none.
	MaxActive *int
}

// Decide is t's effective status at at: its stored status if not
// Accepted; Expired once its expiry has passed; ConcurrentTx when it
// already is in as many active transactions as its limit allows; Accepted
// otherwise. active counts those transactions; it is asked only when the
// token has a limit, and its count is returned (0 when not asked).
func Decide(t Token, at time.Time, active func() (int64, error)) (string, int64, error) {
	switch {
	case t.Status != Accepted:
		return t.Status, 0, nil
	case t.ExpiresAt != nil && !at.Before(*t.ExpiresAt):
		return Expired, 0, nil
	case t.MaxActive == nil:
		return Accepted, 0, nil
	}
	n, err := active()
	if err != nil {
		return "", 0, err
	}
	if n >= int64(*t.MaxActive) {
		return ConcurrentTx, n, nil
	}
	return Accepted, n, nil
}
