// Package locallist decides what goes into a station's local authorization
// list and what the station holds once it accepts an update.
package locallist

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/chargeplane/chargeplane/api/store"
)

// Update types (OCPP UpdateType / UpdateEnum).
const (
	Full         = store.LocalListFull
	Differential = store.LocalListDifferential
)

// ErrConflict: a differential update does not follow the version the CSMS
// recorded, so what it changes cannot be known (another update was
// accepted meanwhile).
var ErrConflict = errors.New("locallist: update does not follow the recorded version")

// Update is a SendLocalList as sent: entries with authorization info in
// Updated, without in Removed (Differential only).
type Update struct {
	Version int
	Type    string
	Updated []store.LocalListEntry
	Removed []store.LocalListEntry
}

// Apply returns the list a station holds after accepting u on top of held:
// Full replaces it, Differential adds or replaces Updated and deletes
// Removed. Entries come back keyed (TokenKey) and ordered by key.
func Apply(stationID string, held []store.LocalListEntry, u Update) []store.LocalListEntry {
	by := map[string]store.LocalListEntry{}
	if u.Type != Full {
		for _, e := range held {
			by[Key(e.IDToken)] = e
		}
	}
	for _, e := range u.Updated {
		e.StationID, e.TokenKey = stationID, Key(e.IDToken)
		by[e.TokenKey] = e
	}
	for _, e := range u.Removed {
		delete(by, Key(e.IDToken))
	}
	out := make([]store.LocalListEntry, 0, len(by))
	for _, e := range by {
		e.StationID, e.TokenKey = stationID, Key(e.IDToken)
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b store.LocalListEntry) int { return strings.Compare(a.TokenKey, b.TokenKey) })
	return out
}

// ParseType reads an operator's update type (any case; empty is Full).
func ParseType(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "", "full":
		return Full, true
	case "differential":
		return Differential, true
	}
	return "", false
}

// Key is a token's key in a list: tokens are case-insensitive.
func Key(idToken string) string { return strings.ToLower(idToken) }

// Store keeps what each station's list holds (*store.Store).
type Store interface {
	UpdateLocalList(ctx context.Context, stationID string,
		f func(cur store.LocalListVersion, held []store.LocalListEntry) (store.LocalListVersion, []store.LocalListEntry, error)) (*store.LocalListVersion, error)
}

// Accepted records that the station accepted u: it now holds u's version
// and the list Apply makes of it. A differential that does not follow the
// recorded version is ErrConflict and records nothing; a full update is
// recorded whatever came before.
func Accepted(ctx context.Context, st Store, stationID string, u Update) (*store.LocalListVersion, error) {
	return st.UpdateLocalList(ctx, stationID, func(cur store.LocalListVersion, held []store.LocalListEntry) (store.LocalListVersion, []store.LocalListEntry, error) {
		if u.Type == Differential && cur.Version != u.Version-1 {
			return cur, nil, fmt.Errorf("%w: station %s is at list version %d, update %d", ErrConflict, stationID, cur.Version, u.Version)
		}
		next := Apply(stationID, held, u)
		return store.LocalListVersion{StationID: stationID, Version: u.Version, UpdateType: u.Type, Entries: len(next)}, next, nil
	})
}
