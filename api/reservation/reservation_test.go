package reservation

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
)

type tokens map[string]*store.IDToken

func (t tokens) GetIDTokenByValue(_ context.Context, v string) (*store.IDToken, error) {
	if tok, ok := t[strings.ToLower(v)]; ok {
		return tok, nil
	}
	if v == "broken" {
		return nil, errors.New("database down")
	}
	return nil, store.ErrNotFound
}

func TestResolve(t *testing.T) {
	long := strings.Repeat("G", 21)
	toks := tokens{
		"card":  {Value: "CARD", Type: "ISO14443", GroupID: ptr("FLEET")},
		"fleet": {Value: "FLEET", Type: "Local"},
		"other": {Value: "OTHER", Type: "KeyCode", GroupID: &long},
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name, token, typ, group string
		maxGroup                int
		want                    Holder
	}{
		{"from the table", "card", "", "", 0, Holder{IDToken: "card", Type: "ISO14443", Group: "FLEET", GroupType: "Local"}},
		{"the operator's choice wins", "card", "eMAID", "OTHERGROUP", 0, Holder{IDToken: "card", Type: "eMAID", Group: "OTHERGROUP", GroupType: store.DefaultIDTokenType}},
		{"unknown token", "nobody", "", "", 0, Holder{IDToken: "nobody", Type: store.DefaultIDTokenType, GroupType: store.DefaultIDTokenType}},
		{"group too long for 1.6", "other", "", "", 20, Holder{IDToken: "other", Type: "KeyCode", GroupType: store.DefaultIDTokenType}},
		{"long group without a limit", "other", "", "", 0, Holder{IDToken: "other", Type: "KeyCode", Group: long, GroupType: store.DefaultIDTokenType}},
	} {
		got, err := Resolve(ctx, toks, tc.token, tc.typ, tc.group, tc.maxGroup)
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
	if _, err := Resolve(ctx, toks, "broken", "", "", 0); err == nil {
		t.Error("a failing lookup resolved")
	}
}

func TestStatus(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		status  string
		expires time.Time
		want    string
	}{
		{store.ReservationAccepted, now.Add(time.Minute), store.ReservationAccepted},
		{store.ReservationAccepted, now, store.ReservationExpired},
		{store.ReservationCancelled, now.Add(-time.Hour), store.ReservationCancelled},
		{store.ReservationPending, now.Add(-time.Hour), store.ReservationPending},
	} {
		if got := Status(&store.Reservation{Status: tc.status, ExpiresAt: tc.expires}, now); got != tc.want {
			t.Errorf("%s expiring %v: %s, want %s", tc.status, tc.expires.Sub(now), got, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
