package event

import (
	"fmt"
	"slices"
	"strings"

	"github.com/chargeplane/chargeplane/pkg/truncate"
)

// MaxFilterStations bounds the distinct stations one filter names (an
// event stream's or a webhook's): every event is matched against the list.
const MaxFilterStations = 100

// ParseFilter checks what a caller selects events by, with ParseStations
// and ParseTypes.
func ParseFilter(stations, types []string, validStation func(id string) error) (Filter, error) {
	ids, err := ParseStations(stations, validStation)
	if err != nil {
		return Filter{}, err
	}
	ts, err := ParseTypes(types)
	if err != nil {
		return Filter{}, err
	}
	return Filter{StationIDs: ids, Types: ts}, nil
}

// ParseTypes checks event type names (empty: every type), surrounding
// spaces ignored, and returns them without duplicates, in the order given.
func ParseTypes(names []string) ([]Type, error) {
	var out []Type
	for _, s := range names {
		t := Type(strings.TrimSpace(s))
		if !Known(t) {
			return nil, fmt.Errorf("unknown event type %q (docs/integrations.md lists them)", truncate.Marked(s, 40, "…"))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// ParseStations checks station ids (empty: every station) by valid, the
// caller's rule for ids it can select, and returns them without duplicates,
// in the order given: at most MaxFilterStations distinct ones.
func ParseStations(ids []string, valid func(id string) error) ([]string, error) {
	var out []string
	seen := make(map[string]struct{}, min(len(ids), MaxFilterStations))
	for _, id := range ids {
		if err := valid(id); err != nil {
			return nil, fmt.Errorf("%q: %w", truncate.Marked(id, 40, "…"), err)
		}
		if _, dup := seen[id]; dup {
			continue
		}
		if len(out) == MaxFilterStations {
			return nil, fmt.Errorf("at most %d stations", MaxFilterStations)
		}
		seen[id] = struct{}{}
		out = append(out, id)
	}
	return out, nil
}
