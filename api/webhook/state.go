package webhook

import (
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/truncate"
)

// The back-off between attempts at one event: FirstRetry after the first
// failure, doubling up to MaxRetryInterval.
const (
	FirstRetry       = time.Second
	MaxRetryInterval = 10 * time.Minute
)

// Outcomes of a delivery log row.
const (
	OutcomeDelivered = "delivered"
	OutcomeFailed    = "failed"
	OutcomeExpired   = "expired"
)

// maxErrorLen bounds an attempt's error as stored and shown.
const maxErrorLen = 300

// Backoff is the wait after the n-th failed attempt at an event (n ≥ 1).
func Backoff(n int) time.Duration {
	d := FirstRetry
	for i := 1; i < n && d < MaxRetryInterval; i++ {
		d *= 2
	}
	return min(d, MaxRetryInterval)
}

// Delivered is st once the event eventID was delivered at `at`: the
// cursor moves past it and the failure state clears.
func Delivered(st store.WebhookState, eventID int64, at time.Time) store.WebhookState {
	st.EventCursor = eventID
	st.Attempts = 0
	st.NextAttemptAt = nil
	st.LastSuccessAt = &at
	st.FailingSince = nil
	return st
}

// Failed is st after a failed attempt at the next event at `at`: due
// again after the back-off; failing since the first failure after the
// last success.
func Failed(st store.WebhookState, at time.Time, why string) store.WebhookState {
	st.Attempts++
	next := at.Add(Backoff(st.Attempts))
	st.NextAttemptAt = &next
	st.LastErrorAt = &at
	st.LastError = bounded(why)
	if st.FailingSince == nil {
		st.FailingSince = &at
	}
	return st
}

// Expired is st once the events up to lastID (n of them) were given up
// at `at`, past the retry window: the next event starts afresh. The
// webhook stays failing until a delivery succeeds.
func Expired(st store.WebhookState, lastID int64, n int, at time.Time) store.WebhookState {
	st.EventCursor = lastID
	st.Attempts = 0
	st.NextAttemptAt = nil
	st.Expired += int64(n)
	st.LastErrorAt = &at
	st.LastError = fmt.Sprintf("%d event(s) up to id %d given up: not delivered within WEBHOOK_RETRY_FOR", n, lastID)
	if st.FailingSince == nil {
		st.FailingSince = &at
	}
	return st
}

// expiredRun is how many of evs, from the first, are past the retry
// window at now (an event is tried until retryFor after it happened).
func expiredRun(evs []event.Event, now time.Time, retryFor time.Duration) int {
	n := 0
	for n < len(evs) && !now.Before(evs[n].Time.Add(retryFor)) {
		n++
	}
	return n
}

func bounded(s string) string { return truncate.Marked(s, maxErrorLen, "…") }
