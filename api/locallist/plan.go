package locallist

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Planning a list update: what a station should hold (Desired), what to
// send for it (Next), and in how many messages the station takes it
// (Split). The store only reads and keeps; these decide.

// ErrNoBase: a Differential update needs a list the station accepted from
// this CSMS to send differences to.
var ErrNoBase = errors.New("locallist: the station has accepted no list from this CSMS yet: send a Full update first")

// ErrTooLong: the list is longer than the station holds.
var ErrTooLong = errors.New("locallist: the list is longer than the station holds")

// Shape is how a version carries a list.
type Shape struct {
	// MaxTokenLen skips longer tokens and drops longer group ids (1.6
	// idTags are at most 20 characters).
	MaxTokenLen int
	// Untyped leaves token types out (1.6 idTags have none), so that the
	// entries are what the station holds.
	Untyped bool
}

// ShapeOf is the shape of a version's lists.
func ShapeOf(v ocppj.Version) Shape {
	if v == ocppj.V16 {
		return Shape{MaxTokenLen: 20, Untyped: true}
	}
	return Shape{MaxTokenLen: store.MaxIDTokenLength}
}

// Desired is the list a station should hold: every token of the id token
// table that its version can carry, with its effective status at (Expired
// once an Accepted token's expiry has passed), ordered by key.
func Desired(tokens []store.IDToken, s Shape, at time.Time) []store.LocalListEntry {
	types := make(map[string]string, len(tokens))
	for _, t := range tokens {
		types[Key(t.Value)] = t.Type
	}
	// As the store compares times: to the microsecond.
	at = at.UTC().Truncate(time.Microsecond)
	out := make([]store.LocalListEntry, 0, len(tokens))
	for _, t := range tokens {
		if s.MaxTokenLen > 0 && len(t.Value) > s.MaxTokenLen {
			continue
		}
		e := store.LocalListEntry{TokenKey: Key(t.Value), IDToken: t.Value, IDTokenType: t.Type, Status: t.Status}
		if t.ExpiresAt != nil {
			// As sent: to the millisecond.
			exp := t.ExpiresAt.UTC().Truncate(time.Millisecond)
			e.ExpiresAt = &exp
		}
		if t.Status == store.IDTokenAccepted && t.ExpiresAt != nil && !at.Before(*t.ExpiresAt) {
			e.Status = store.IDTokenExpired
		}
		if t.GroupID != nil && (s.MaxTokenLen == 0 || len(*t.GroupID) <= s.MaxTokenLen) {
			e.GroupID = *t.GroupID
			e.GroupType = types[Key(*t.GroupID)]
			if e.GroupType == "" {
				e.GroupType = store.DefaultIDTokenType
			}
		}
		if s.Untyped {
			e.IDTokenType, e.GroupType = "", ""
		}
		out = append(out, e)
	}
	slices.SortFunc(out, byKey)
	return out
}

func byKey(a, b store.LocalListEntry) int { return strings.Compare(a.TokenKey, b.TokenKey) }

// same reports whether a station holding e needs no update to hold o.
func same(e, o store.LocalListEntry) bool {
	sameTime := (e.ExpiresAt == nil) == (o.ExpiresAt == nil) && (e.ExpiresAt == nil || e.ExpiresAt.Equal(*o.ExpiresAt))
	return e.IDToken == o.IDToken && e.IDTokenType == o.IDTokenType && e.Status == o.Status &&
		sameTime && e.GroupID == o.GroupID && e.GroupType == o.GroupType
}

// Next is the update that brings a station from cur (its accepted version,
// holding held) to desired: Full sends all of desired, Differential what
// changed (ErrNoBase without an accepted version). Its version follows
// cur's.
func Next(cur store.LocalListVersion, held, desired []store.LocalListEntry, updateType string) (Update, error) {
	u := Update{Version: cur.Version + 1, Type: updateType}
	switch updateType {
	case Full:
		u.Updated = desired
		return u, nil
	case Differential:
	default:
		return Update{}, fmt.Errorf("locallist: update type %q is not Full or Differential", updateType)
	}
	if cur.Version == 0 {
		return Update{}, ErrNoBase
	}
	heldBy := make(map[string]store.LocalListEntry, len(held))
	for _, e := range held {
		heldBy[Key(e.IDToken)] = e
	}
	for _, e := range desired {
		if h, ok := heldBy[e.TokenKey]; !ok || !same(h, e) {
			u.Updated = append(u.Updated, e)
		}
		delete(heldBy, e.TokenKey)
	}
	for _, h := range heldBy {
		h.TokenKey = Key(h.IDToken)
		u.Removed = append(u.Removed, h)
	}
	slices.SortFunc(u.Removed, byKey)
	return u, nil
}

// Limits are what a station takes of a list, as it reports them (1.6
// configuration keys, 2.0.1 LocalAuthListCtrlr variables); 0: not said.
type Limits struct {
	// Entries is the most the list holds (1.6 LocalAuthListMaxLength).
	Entries int
	// Items is the most entries in one SendLocalList (1.6
	// SendLocalListMaxLength, 2.0.1 ItemsPerMessage).
	Items int
	// Bytes is the largest SendLocalList (2.0.1 BytesPerMessage).
	Bytes int
}

// LimitsQuery asks a station for its Limits: the operation is bound in
// each version's command table.
type LimitsQuery struct{}

// Message sizes Split assumes: upper bounds of a SendLocalList's JSON in
// either version, without the entries, and of one entry besides its
// values (the longer 2.0.1 form with every optional field).
const (
	messageOverhead = 100
	entryOverhead   = 130
	timeLen         = 30
)

// EntrySize bounds the JSON size of e in a SendLocalList of either version.
func EntrySize(e store.LocalListEntry) int {
	n := entryOverhead + len(e.IDToken) + len(e.IDTokenType) + len(e.Status) + len(e.GroupID) + len(e.GroupType)
	if e.ExpiresAt != nil {
		n += timeLen
	}
	return n
}

// Check refuses (ErrTooLong) a list of n entries the station cannot hold.
func (l Limits) Check(n int) error {
	if l.Entries > 0 && n > l.Entries {
		return fmt.Errorf("%w: %d entries, the station holds at most %d", ErrTooLong, n, l.Entries)
	}
	return nil
}

// Split cuts u into the messages the station takes, in order: each has at
// most l.Items entries and fits in l.Bytes (by EntrySize; an entry too
// large on its own goes alone). The first keeps u's type and version; the
// others are Differential updates with the following versions, so a Full
// list arrives as a Full part and the Differential additions that follow
// it. Updated entries go before removed ones. Without limits, or when u
// fits, the result is u alone.
func Split(u Update, l Limits) []Update {
	type item struct {
		e       store.LocalListEntry
		removed bool
	}
	items := make([]item, 0, len(u.Updated)+len(u.Removed))
	for _, e := range u.Updated {
		items = append(items, item{e, false})
	}
	for _, e := range u.Removed {
		items = append(items, item{e, true})
	}
	var parts []Update
	cur := Update{Version: u.Version, Type: u.Type}
	n, size := 0, messageOverhead
	for _, it := range items {
		s := EntrySize(it.e)
		full := (l.Items > 0 && n >= l.Items) || (l.Bytes > 0 && n > 0 && size+s > l.Bytes)
		if full {
			parts = append(parts, cur)
			cur = Update{Version: cur.Version + 1, Type: Differential}
			n, size = 0, messageOverhead
		}
		if it.removed {
			cur.Removed = append(cur.Removed, it.e)
		} else {
			cur.Updated = append(cur.Updated, it.e)
		}
		n, size = n+1, size+s
	}
	return append(parts, cur)
}
