// Package reservation decides who a reservation is for, what becomes of it
// when its station answers (or does not), and how it shows.
package reservation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
)

// Tokens finds id tokens by value (*store.Store).
type Tokens interface {
	GetIDTokenByValue(ctx context.Context, value string) (*store.IDToken, error)
}

// Holder is who a reservation is for, as sent to the station.
type Holder struct {
	IDToken string
	// Type is the token's type (2.0.1 IdTokenEnum).
	Type string
	// Group is the group (parent) token, if any, and GroupType its type.
	Group, GroupType string
}

// Resolve completes what the operator left out from the id token table:
// the token's type and group, and the group's type; unknown tokens get
// store.DefaultIDTokenType. A group longer than maxGroupLen (1.6 idTags are
// at most 20 characters; 0: no limit) is not taken from the table.
func Resolve(ctx context.Context, tokens Tokens, idToken, typ, group string, maxGroupLen int) (Holder, error) {
	h := Holder{IDToken: idToken, Type: typ, Group: group, GroupType: store.DefaultIDTokenType}
	tok, err := tokens.GetIDTokenByValue(ctx, idToken)
	switch {
	case err == nil:
		if h.Type == "" {
			h.Type = tok.Type
		}
		if h.Group == "" && tok.GroupID != nil && (maxGroupLen == 0 || len(*tok.GroupID) <= maxGroupLen) {
			h.Group = *tok.GroupID
		}
	case !errors.Is(err, store.ErrNotFound):
		return Holder{}, fmt.Errorf("reservation: look up %q: %w", idToken, err)
	}
	if h.Type == "" {
		h.Type = store.DefaultIDTokenType
	}
	if h.Group != "" {
		if g, err := tokens.GetIDTokenByValue(ctx, h.Group); err == nil {
			h.GroupType = g.Type
		}
	}
	return h, nil
}

// Recorder keeps reservations' statuses (*store.Store).
type Recorder interface {
	SetReservationStatus(ctx context.Context, stationID string, id int64, status, errText string) (*store.Reservation, error)
	FailPendingReservation(ctx context.Context, stationID string, id int64, errText string) error
}

// Answered records the station's answer to ReserveNow (its status) or an
// accepted CancelReservation (status store.ReservationCancelled) and
// returns the reservation as it now is; nil when the CSMS has no such
// reservation (a ReserveNow sent through the generic call with an id the
// CSMS never handed out: there is nothing to record it on).
func Answered(ctx context.Context, r Recorder, stationID string, id int, status string) (*store.Reservation, error) {
	res, err := r.SetReservationStatus(ctx, stationID, int64(id), status, "")
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return res, err
}

// Unanswered marks a reservation that never got its station's answer
// failed, with why; a reservation that is not pending any more (an earlier
// ReserveNow of that id was answered) keeps its status.
func Unanswered(ctx context.Context, r Recorder, stationID string, id int, why string) error {
	return r.FailPendingReservation(ctx, stationID, int64(id), why)
}

// Status is how a reservation shows at now: 1.6 stations never say that a
// reservation expired, so an accepted one past its expiry shows Expired.
func Status(r *store.Reservation, now time.Time) string {
	if r.Status == store.ReservationAccepted && !r.ExpiresAt.After(now) {
		return store.ReservationExpired
	}
	return r.Status
}
