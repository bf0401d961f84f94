package operator_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/operator"
)

// A stream's filter names stations as requests about existing ones do: a
// station registered before the stricter id rule (one a webhook refuses)
// still has its events streamed. Types and the bound are the shared ones.
func TestEventFilter(t *testing.T) {
	f, err := operator.EventFilter([]string{"a/b", "CP 1", "a/b"}, []string{"station.status", " station.status"})
	if err != nil || strings.Join(f.StationIDs, "|") != "a/b|CP 1" || len(f.Types) != 1 || f.Types[0] != event.StationStatus {
		t.Fatalf("EventFilter = %+v, %v", f, err)
	}
	if _, err := operator.EventFilter([]string{""}, nil); err == nil || !strings.Contains(err.Error(), "station id is required") {
		t.Errorf("empty station id: %v", err)
	}
	if _, err := operator.EventFilter([]string{strings.Repeat("x", 49)}, nil); err == nil {
		t.Error("station id longer than any accepted")
	}
	if _, err := operator.EventFilter(nil, []string{"no.such"}); err == nil || !strings.Contains(err.Error(), `unknown event type "no.such"`) {
		t.Errorf("unknown type: %v", err)
	}
	many := make([]string, event.MaxFilterStations+1)
	for i := range many {
		many[i] = "CP-" + strconv.Itoa(i)
	}
	if _, err := operator.EventFilter(many, nil); err == nil || !strings.Contains(err.Error(), "at most 100 stations") {
		t.Errorf("%d stations: %v", len(many), err)
	}
}
