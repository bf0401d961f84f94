package event

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseTypes(t *testing.T) {
	got, err := ParseTypes([]string{"station.booted", " station.status", "station.booted"})
	if err != nil || len(got) != 2 || got[0] != StationBooted || got[1] != StationStatus {
		t.Fatalf("ParseTypes = %v, %v", got, err)
	}
	if got, err := ParseTypes(nil); err != nil || len(got) != 0 {
		t.Fatalf("ParseTypes(nil) = %v, %v: no types is every type", got, err)
	}
	_, err = ParseTypes([]string{"station.status", "station.exploded"})
	if err == nil || !strings.Contains(err.Error(), `unknown event type "station.exploded"`) {
		t.Fatalf("unknown type: %v", err)
	}
	// A long name is quoted cut, whole characters only.
	_, err = ParseTypes([]string{strings.Repeat("x", 39) + strings.Repeat("é", 1000)})
	if err == nil || len(err.Error()) > 120 || !utf8.ValidString(err.Error()) || !strings.Contains(err.Error(), `x…"`) {
		t.Fatalf("long unknown type: %q", err)
	}
}

var errBad = errors.New("not a station id here")

func validForTest(id string) error {
	if id == "" || strings.Contains(id, "bad") {
		return errBad
	}
	return nil
}

// Station ids are checked by the caller's rule, folded and bounded.
func TestParseStations(t *testing.T) {
	got, err := ParseStations([]string{"CP-1", "a/b", "CP-1", "CP-3"}, validForTest)
	if err != nil || strings.Join(got, "|") != "CP-1|a/b|CP-3" {
		t.Fatalf("ParseStations = %v, %v", got, err)
	}
	for _, bad := range []string{"", "bad"} {
		_, err := ParseStations([]string{"CP-1", bad}, validForTest)
		if !errors.Is(err, errBad) || !strings.HasPrefix(err.Error(), strconv.Quote(bad)+": ") {
			t.Errorf("ParseStations(%q) = %v, want the rule's error for that id", bad, err)
		}
	}
	many := make([]string, 0, MaxFilterStations+1)
	for i := range MaxFilterStations {
		many = append(many, "CP-"+strconv.Itoa(i))
	}
	// Duplicates do not count against the bound.
	if got, err := ParseStations(append(many, many[0], many[1]), validForTest); err != nil || len(got) != MaxFilterStations {
		t.Fatalf("%d distinct ids with duplicates: %d, %v", MaxFilterStations, len(got), err)
	}
	if _, err := ParseStations(append(many, "CP-extra"), validForTest); err == nil || err.Error() != "at most 100 stations" {
		t.Fatalf("%d stations: %v", MaxFilterStations+1, err)
	}
	if got, err := ParseStations(nil, validForTest); err != nil || len(got) != 0 {
		t.Fatalf("ParseStations(nil) = %v, %v: no stations is every station", got, err)
	}
}

func TestParseFilter(t *testing.T) {
	f, err := ParseFilter([]string{"CP-1", "CP-1"}, []string{"station.status"}, validForTest)
	if err != nil || !f.Match(Event{Type: StationStatus, StationID: "CP-1"}) || f.Match(Event{Type: StationStatus, StationID: "CP-2"}) ||
		f.Match(Event{Type: StationBooted, StationID: "CP-1"}) || len(f.StationIDs) != 1 {
		t.Fatalf("ParseFilter = %+v, %v", f, err)
	}
	if _, err := ParseFilter([]string{"bad"}, nil, validForTest); !errors.Is(err, errBad) {
		t.Errorf("bad station: %v", err)
	}
	if _, err := ParseFilter(nil, []string{"no.such"}, validForTest); err == nil {
		t.Error("unknown type accepted")
	}
}
