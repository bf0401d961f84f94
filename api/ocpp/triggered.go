package ocpp

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/chargeplane/chargeplane/api/onboarding"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/outcome"
)

// triggerStore reads the triggers the CSMS sent a station.
type triggerStore interface {
	CommandsSince(ctx context.Context, stationID string, actions []string, since time.Time, limit int) ([]store.Command, error)
}

// maxTriggersRead bounds the triggers one lookup reads: an operator does
// not send a Pending station more than a handful within the window.
const maxTriggersRead = 20

// refusalTTL is how long a lookup that found no trigger answers for the
// same station and action without reading again. A Pending station
// flooding triggerable messages costs at most one indexed query per
// action per refusalTTL on each core instance. It is short because a
// trigger sent meanwhile (by any instance) is seen only after it: a
// well-behaved station sends nothing untriggered while Pending, so only
// a station that did, within this time before the trigger, has its
// triggered message refused, and it is triggered again.
const refusalTTL = time.Second

// maxRefusals bounds the refusals remembered.
const maxRefusals = 50_000

// triggers decides whether a Pending station's message was triggered by
// the CSMS, from the command history every core instance shares: the
// instance that sent the trigger may not be the one handling the
// station's message.
type triggers struct {
	store func() triggerStore
	now   func() time.Time

	mu       sync.Mutex
	refusals map[refusalKey]time.Time // until when a refusal stands
}

type refusalKey struct{ station, action string }

func newTriggers(s func() triggerStore, now func() time.Time) *triggers {
	return &triggers{store: s, now: now, refusals: map[refusalKey]time.Time{}}
}

// allows reports whether the CSMS triggered action from stationID within
// its window (onboarding.Trigger.Allows). The caller has checked
// onboarding.NeedsTrigger.
func (g *triggers) allows(ctx context.Context, stationID, action string) (bool, error) {
	now := g.now()
	k := refusalKey{stationID, action}
	g.mu.Lock()
	until, refused := g.refusals[k]
	g.mu.Unlock()
	if refused && now.Before(until) {
		return false, nil
	}
	rows, err := g.store().CommandsSince(ctx, stationID, onboarding.TriggerActions(), now.Add(-onboarding.HistoryWindow()), maxTriggersRead)
	if err != nil {
		return false, fmt.Errorf("ocpp: read triggers of %s: %w", stationID, err)
	}
	ts := make([]onboarding.Trigger, 0, len(rows))
	for _, c := range rows {
		if t, ok := triggerOf(c); ok {
			ts = append(ts, t)
		}
	}
	if onboarding.Triggered(action, ts, now) {
		g.mu.Lock()
		delete(g.refusals, k)
		g.mu.Unlock()
		return true, nil
	}
	g.refuse(k, now)
	return false, nil
}

func (g *triggers) refuse(k refusalKey, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.refusals[k]; !ok && len(g.refusals) >= maxRefusals {
		for old, until := range g.refusals {
			if !now.Before(until) {
				delete(g.refusals, old)
			}
		}
		if len(g.refusals) >= maxRefusals {
			clear(g.refusals)
		}
	}
	g.refusals[k] = now.Add(refusalTTL)
}

// triggerOf reads a trigger command as recorded by the dispatcher: its
// CALL payload names the requested message (none for a report request),
// its answer the status. A row
// that does not read is no trigger.
func triggerOf(c store.Command) (onboarding.Trigger, bool) {
	if c.Status != outcome.Pending && c.Status != outcome.Answered {
		return onboarding.Trigger{}, false
	}
	var req struct {
		RequestedMessage string `json:"requestedMessage"`
	}
	if err := json.Unmarshal([]byte(c.Payload), &req); err != nil || (req.RequestedMessage == "") != onboarding.IsReportRequest(c.Action) {
		return onboarding.Trigger{}, false
	}
	t := onboarding.Trigger{Action: c.Action, RequestedMessage: req.RequestedMessage, At: c.CreatedAt}
	if c.Status == outcome.Answered {
		var resp struct {
			Status string `json:"status"`
		}
		if c.Response == nil || json.Unmarshal([]byte(*c.Response), &resp) != nil {
			return onboarding.Trigger{}, false
		}
		t.Answered, t.Status = true, resp.Status
		if c.FinishedAt != nil {
			t.At = *c.FinishedAt
		}
	}
	return t, true
}
