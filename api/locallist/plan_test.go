package locallist

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func tokens(list []store.LocalListEntry) string {
	var out []string
	for _, e := range list {
		out = append(out, e.IDToken+":"+e.Status)
	}
	return fmt.Sprint(out)
}

// TestDesiredAndNext: the list of a version is made from the id token
// table; a Full update sends it all, a Differential what changed since
// the accepted list.
func TestDesiredAndNext(t *testing.T) {
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	exp := t0.Add(time.Hour)
	group := "group1"
	table := []store.IDToken{
		{Value: "GROUP1", Type: "Local", Status: store.IDTokenAccepted},
		{Value: "AAA", Type: "ISO14443", Status: store.IDTokenAccepted, GroupID: &group},
		{Value: "BBB", Type: "Central", Status: store.IDTokenAccepted, ExpiresAt: &exp},
		{Value: "C012345678901234567890", Type: "Central", Status: store.IDTokenBlocked}, // 22 chars: not for 1.6
	}
	s16 := ShapeOf(ocppj.V16)
	d := Desired(table, s16, t0)
	if tokens(d) != "[AAA:Accepted BBB:Accepted GROUP1:Accepted]" {
		t.Fatalf("1.6 desired = %s", tokens(d))
	}
	if e := d[0]; e.GroupID != "group1" || e.IDTokenType != "" || e.GroupType != "" || e.TokenKey != "aaa" {
		t.Errorf("1.6 entry with group = %+v", e)
	}
	if d201 := Desired(table, ShapeOf(ocppj.V201), t0); len(d201) != 4 || d201[0].IDTokenType != "ISO14443" || d201[0].GroupType != "Local" {
		t.Errorf("2.0.1 desired = %+v", d201)
	}

	if _, err := Next(store.LocalListVersion{}, nil, d, Differential); !errors.Is(err, ErrNoBase) {
		t.Errorf("differential without an accepted list: %v", err)
	}
	full, err := Next(store.LocalListVersion{}, nil, d, Full)
	if err != nil || full.Version != 1 || len(full.Updated) != 3 || len(full.Removed) != 0 {
		t.Fatalf("full = %+v %v", full, err)
	}
	held := Apply("CP1", nil, full)
	cur := store.LocalListVersion{Version: 1}
	if same, err := Next(cur, held, Desired(table, s16, t0), Differential); err != nil || same.Version != 2 || len(same.Updated)+len(same.Removed) != 0 {
		t.Errorf("unchanged differential = %+v %v", same, err)
	}

	// Block A, delete the group, add D; B expires by time passing.
	table[1].Status = store.IDTokenBlocked
	table = append(table[1:], store.IDToken{Value: "DDD", Type: "Central", Status: store.IDTokenAccepted})
	diff, err := Next(cur, held, Desired(table, s16, t0.Add(2*time.Hour)), Differential)
	if err != nil {
		t.Fatal(err)
	}
	if tokens(diff.Updated) != "[AAA:Blocked BBB:Expired DDD:Accepted]" || tokens(diff.Removed) != "[GROUP1:Accepted]" || diff.Version != 2 {
		t.Errorf("differential updated %s removed %s version %d", tokens(diff.Updated), tokens(diff.Removed), diff.Version)
	}
	if _, err := Next(cur, held, d, "Partial"); err == nil {
		t.Error("an unknown update type was planned")
	}
}

// TestSplit: a list longer than a station takes in one message is sent as
// a Full part and Differential parts of the versions that follow, each
// within the item and byte limits; all parts together are the update.
func TestSplit(t *testing.T) {
	var list []store.LocalListEntry
	for i := range 10 {
		list = append(list, store.LocalListEntry{IDToken: fmt.Sprintf("TOKEN%02d", i), Status: store.IDTokenAccepted})
	}
	full := Update{Version: 4, Type: Full, Updated: list}
	shape := func(parts []Update) string {
		var out []string
		for _, p := range parts {
			out = append(out, fmt.Sprintf("%d %s %d+%d", p.Version, p.Type, len(p.Updated), len(p.Removed)))
		}
		return strings.Join(out, ", ")
	}
	for _, tc := range []struct {
		name string
		u    Update
		l    Limits
		want string
	}{
		{"no limits", full, Limits{}, "4 Full 10+0"},
		{"fits", full, Limits{Items: 10}, "4 Full 10+0"},
		{"by items", full, Limits{Items: 4}, "4 Full 4+0, 5 Differential 4+0, 6 Differential 2+0"},
		{"by bytes", full, Limits{Bytes: messageOverhead + 3*EntrySize(list[0])}, "4 Full 3+0, 5 Differential 3+0, 6 Differential 3+0, 7 Differential 1+0"},
		{"the smaller of both", full, Limits{Items: 2, Bytes: 10 << 10}, "4 Full 2+0, 5 Differential 2+0, 6 Differential 2+0, 7 Differential 2+0, 8 Differential 2+0"},
		{"an entry larger than a message goes alone", full, Limits{Bytes: 1}, "4 Full 1+0, 5 Differential 1+0, 6 Differential 1+0, 7 Differential 1+0, " +
			"8 Differential 1+0, 9 Differential 1+0, 10 Differential 1+0, 11 Differential 1+0, 12 Differential 1+0, 13 Differential 1+0"},
		{"empty full", Update{Version: 1, Type: Full}, Limits{Items: 3}, "1 Full 0+0"},
		{"differential, updates first", Update{Version: 7, Type: Differential, Updated: list[:3], Removed: list[3:5]}, Limits{Items: 2},
			"7 Differential 2+0, 8 Differential 1+1, 9 Differential 0+1"},
	} {
		parts := Split(tc.u, tc.l)
		if got := shape(parts); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
		var all []store.LocalListEntry
		for _, p := range parts {
			all = append(all, p.Updated...)
		}
		if tokens(all) != tokens(tc.u.Updated) {
			t.Errorf("%s: parts carry %s, want %s", tc.name, tokens(all), tokens(tc.u.Updated))
		}
	}

	// Applied one after the other, the parts leave what the whole would.
	var held []store.LocalListEntry
	for _, p := range Split(full, Limits{Items: 3}) {
		held = Apply("CS", held, p)
	}
	if tokens(held) != tokens(Apply("CS", nil, full)) {
		t.Errorf("parts applied = %s", tokens(held))
	}

	if err := (Limits{Entries: 9}).Check(10); !errors.Is(err, ErrTooLong) {
		t.Errorf("10 entries for a station of 9: %v", err)
	}
	if err := (Limits{Entries: 10}).Check(10); err != nil {
		t.Errorf("10 entries for a station of 10: %v", err)
	}
	if err := (Limits{}).Check(1 << 20); err != nil {
		t.Errorf("no limit said: %v", err)
	}
}
