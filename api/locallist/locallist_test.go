package locallist

import (
	"fmt"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
)

func entries(list []store.LocalListEntry) string {
	var out []string
	for _, e := range list {
		out = append(out, fmt.Sprintf("%s/%s:%s", e.StationID, e.TokenKey, e.Status))
	}
	return fmt.Sprint(out)
}

func TestApply(t *testing.T) {
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	held := []store.LocalListEntry{
		{StationID: "CS", TokenKey: "aaa", IDToken: "AAA", Status: "Accepted"},
		{StationID: "CS", TokenKey: "bbb", IDToken: "BBB", Status: "Accepted"},
	}
	for _, tc := range []struct {
		name string
		u    Update
		want string
	}{
		{"full replaces", Update{Version: 2, Type: Full, Updated: []store.LocalListEntry{{IDToken: "Ccc", Status: "Blocked", ExpiresAt: &exp}}},
			"[CS/ccc:Blocked]"},
		{"full to empty", Update{Version: 2, Type: Full}, "[]"},
		{"differential adds, changes, removes", Update{Version: 2, Type: Differential,
			Updated: []store.LocalListEntry{{IDToken: "aaa", Status: "Blocked"}, {IDToken: "DDD", Status: "Accepted"}},
			Removed: []store.LocalListEntry{{IDToken: "Bbb"}, {IDToken: "never-held"}}},
			"[CS/aaa:Blocked CS/ddd:Accepted]"},
		{"empty differential keeps all", Update{Version: 2, Type: Differential}, "[CS/aaa:Accepted CS/bbb:Accepted]"},
	} {
		if got := entries(Apply("CS", held, tc.u)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	if len(held) != 2 || held[0].Status != "Accepted" {
		t.Errorf("Apply changed what was held: %+v", held)
	}
}

func TestParseType(t *testing.T) {
	for in, want := range map[string]string{"": Full, "full": Full, "FULL": Full, "Differential": Differential, "differential": Differential} {
		if got, ok := ParseType(in); !ok || got != want {
			t.Errorf("ParseType(%q) = %q %v", in, got, ok)
		}
	}
	if _, ok := ParseType("partial"); ok {
		t.Error("partial accepted")
	}
}
