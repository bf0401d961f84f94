package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/store"
)

// Defaults of Config.
const (
	DefaultTimeout  = 10 * time.Second
	DefaultRetryFor = 24 * time.Hour
	// DefaultPoll is how often webhooks are claimed and an idle webhook
	// reads the log when no event woke it.
	DefaultPoll = 10 * time.Second
)

const (
	// readBatch bounds one read of a webhook's next events.
	readBatch = 100
	// maxResponseRead bounds what is read of an answer (then the
	// connection is dropped rather than drained further); keptResponse is
	// how much of a failed answer's body is kept in its error.
	maxResponseRead = 64 << 10
	keptResponse    = 200
	trimInterval    = time.Minute
	// settleTimeout bounds the writes a stop must not cut short: the
	// lease's release and the outcome of an attempt the endpoint answered.
	settleTimeout = 5 * time.Second
	// errorPause is the wait after the database failed a step.
	errorPause = 2 * time.Second
)

// Store is what the Dispatcher needs from the database (*store.Store).
type Store interface {
	ClaimableWebhooks(ctx context.Context, owner string, now time.Time) ([]string, error)
	ClaimWebhook(ctx context.Context, id, owner string, now, until time.Time) (*store.Webhook, error)
	ReleaseWebhook(ctx context.Context, id, owner string) error
	SaveWebhookState(ctx context.Context, id, owner string, prevCursor int64, st store.WebhookState, d *store.WebhookDelivery) error
	TrimWebhookDeliveries(ctx context.Context, cutoff time.Time) (int64, error)
	ReadEvents(ctx context.Context, r event.Range, limit int) ([]event.Event, error)
	LastEventID(ctx context.Context) (int64, error)
}

// Config configures a Dispatcher.
type Config struct {
	Store  Store
	Sealer *Sealer
	// Owner names this core instance in the leases (CORE_ID).
	Owner string
	// Hub, when set, wakes idle webhooks as soon as events they select
	// are stored (else they find them at the next Poll).
	Hub *event.Hub
	// Timeout bounds one attempt: connecting, sending, the answer
	// (WEBHOOK_TIMEOUT).
	Timeout time.Duration
	// RetryFor is how long after it happened an event is retried before
	// it is given up (WEBHOOK_RETRY_FOR).
	RetryFor time.Duration
	// AllowPrivate lets webhooks reach loopback, private and link-local
	// addresses (WEBHOOK_ALLOW_PRIVATE: labs and tests).
	AllowPrivate bool
	// Retention is how long the delivery log is kept (EVENT_RETENTION).
	Retention time.Duration
	Poll      time.Duration
	Now       func() time.Time
	Metrics   *Metrics
	Logger    *slog.Logger
}

// Dispatcher runs the deliveries of the webhooks this core instance holds
// the lease of: one goroutine per webhook, so a slow or dead endpoint
// delays only its own webhook, never a charger or another webhook.
type Dispatcher struct {
	cfg       Config
	transport *http.Transport
	client    *http.Client
	// lease is how long a claim holds a webhook; it is renewed (and the
	// webhook re-read) every third of it.
	lease time.Duration
	log   *slog.Logger
	kick  chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex
	workers map[string]*worker
}

// New returns a Dispatcher; Run starts it.
func New(c Config) (*Dispatcher, error) {
	if c.Store == nil || c.Sealer == nil || c.Owner == "" {
		return nil, errors.New("webhook: dispatcher needs a store, a sealer and an owner")
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.RetryFor <= 0 {
		c.RetryFor = DefaultRetryFor
	}
	if c.Retention <= 0 {
		c.Retention = event.DefaultRetention
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	dialer := &net.Dialer{Timeout: c.Timeout, KeepAlive: 30 * time.Second}
	if !c.AllowPrivate {
		dialer.Control = control
	}
	tr := &http.Transport{
		// No proxy: the guard must see the endpoint's address, not a
		// proxy's, and HTTP(S)_PROXY meant for other traffic must not
		// carry deliveries.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    c.Timeout,
		ResponseHeaderTimeout:  c.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	return &Dispatcher{
		cfg:       c,
		transport: tr,
		client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			// A redirect could lead anywhere, past the URL an admin set.
			return http.ErrUseLastResponse
		}},
		lease:   2*c.Timeout + 30*time.Second,
		log:     c.Logger.With("component", "webhooks"),
		kick:    make(chan struct{}, 1),
		workers: map[string]*worker{},
	}, nil
}

// Kick tells the dispatcher that webhooks were created or changed: it
// claims at once, and the webhooks it delivers re-read themselves before
// their next attempt. The workers are told here, not by Run, so that the
// change applies from the attempt after the one under way, if any.
func (d *Dispatcher) Kick() {
	signal(d.kick)
	d.each(func(w *worker) { signal(w.kick) })
}

// Run delivers until ctx is done, then waits for the attempts under way
// and releases its webhooks so that another instance takes them at once.
func (d *Dispatcher) Run(ctx context.Context) {
	defer d.transport.CloseIdleConnections()
	watched := make(chan struct{})
	if d.cfg.Hub != nil {
		go d.watch(ctx, watched)
	} else {
		close(watched)
	}
	poll := time.NewTicker(d.cfg.Poll)
	defer poll.Stop()
	trim := time.NewTicker(trimInterval)
	defer trim.Stop()
	d.trim(ctx)
	d.claim(ctx)
	for {
		select {
		case <-ctx.Done():
			d.wg.Wait()
			<-watched
			return
		case <-poll.C:
			d.claim(ctx)
		case <-d.kick:
			d.claim(ctx)
		case <-trim.C:
			d.trim(ctx)
		}
	}
}

// watch wakes the idle webhooks an event is for. A subscription that
// fails (the hub's catch-up read of the database, say) is made again after
// a Poll, during which the webhooks poll; only the hub's end ends it.
func (d *Dispatcher) watch(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	for {
		err := d.follow(ctx)
		if ctx.Err() != nil || errors.Is(err, event.ErrHubClosed) {
			return
		}
		d.log.Warn("webhooks not woken by events for now (they poll)", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.cfg.Poll):
		}
	}
}

// follow wakes webhooks for the events of one subscription until it fails.
func (d *Dispatcher) follow(ctx context.Context) error {
	sub, err := d.cfg.Hub.Subscribe(event.Filter{}, 0)
	if err != nil {
		return err
	}
	defer sub.Close()
	for {
		e, err := sub.Next(ctx)
		if err != nil {
			return err
		}
		d.each(func(w *worker) {
			if w.matches(e) {
				signal(w.wake)
			}
		})
	}
}

func (d *Dispatcher) each(fn func(*worker)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.workers {
		fn(w)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) trim(ctx context.Context) {
	n, err := d.cfg.Store.TrimWebhookDeliveries(ctx, d.cfg.Now().Add(-d.cfg.Retention))
	if err != nil && ctx.Err() == nil {
		d.log.Warn("trim the webhook delivery log", "err", err)
	} else if n > 0 {
		d.log.Debug("webhook delivery log trimmed", "deleted", n)
	}
}

// claim starts delivering every webhook this instance can take.
func (d *Dispatcher) claim(ctx context.Context) {
	now := d.cfg.Now()
	ids, err := d.cfg.Store.ClaimableWebhooks(ctx, d.cfg.Owner, now)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("list webhooks to deliver", "err", err)
		}
		return
	}
	for _, id := range ids {
		d.mu.Lock()
		_, running := d.workers[id]
		d.mu.Unlock()
		if running {
			continue
		}
		w, err := d.cfg.Store.ClaimWebhook(ctx, id, d.cfg.Owner, now, now.Add(d.lease))
		if errors.Is(err, store.ErrLeaseLost) {
			continue // another instance was faster
		}
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("claim webhook", "webhook", id, "err", err)
			}
			continue
		}
		wk := &worker{id: id, wake: make(chan struct{}, 1), kick: make(chan struct{}, 1)}
		wk.setFilter(w)
		d.mu.Lock()
		d.workers[id] = wk
		d.mu.Unlock()
		d.wg.Add(1)
		go d.work(ctx, wk, w, now)
	}
}

// worker is one webhook delivered by this instance.
type worker struct {
	id         string
	wake, kick chan struct{}

	mu     sync.Mutex
	filter event.Filter
}

func (w *worker) setFilter(wh *store.Webhook) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.filter = Filter(wh)
}

func (w *worker) matches(e event.Event) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.filter.Match(e)
}

// session is a worker's view of its webhook.
type session struct {
	w *store.Webhook
	// claimed is when the lease was last renewed (and w re-read).
	claimed time.Time
	// stale: re-read w now (its configuration may have changed).
	stale bool
	// batch are the next events it selects after w's cursor.
	batch []event.Event
}

// pause is how long a worker waits before its next step, and whether an
// event it selects ends the wait (it is idle) or not (it is backing off).
type pause struct {
	d         time.Duration
	forEvents bool
}

func (d *Dispatcher) work(ctx context.Context, wk *worker, w *store.Webhook, claimed time.Time) {
	defer d.wg.Done()
	log := d.log.With("webhook", wk.id)
	log.Info("delivering webhook")
	d.cfg.Metrics.worker(1)
	failing := w.FailingSince != nil
	if failing {
		d.cfg.Metrics.failingChanged(1)
	}
	defer func() {
		if failing {
			d.cfg.Metrics.failingChanged(-1)
		}
		d.cfg.Metrics.worker(-1)
		d.mu.Lock()
		delete(d.workers, wk.id)
		d.mu.Unlock()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
		defer cancel()
		if err := d.cfg.Store.ReleaseWebhook(rctx, wk.id, d.cfg.Owner); err != nil {
			log.Warn("release webhook (another instance takes it when the lease ends)", "err", err)
		}
	}()
	s := &session{w: w, claimed: claimed}
	for ctx.Err() == nil {
		p, err := d.step(ctx, wk, s, log)
		switch now := s.w.FailingSince != nil; {
		case now && !failing:
			d.cfg.Metrics.failingChanged(1)
		case !now && failing:
			d.cfg.Metrics.failingChanged(-1)
		}
		failing = s.w.FailingSince != nil
		switch {
		case errors.Is(err, store.ErrLeaseLost):
			log.Info("webhook no longer delivered here (disabled, deleted or taken over)")
			return
		case err != nil && ctx.Err() == nil:
			log.Warn("webhook delivery step failed", "err", err)
			p = pause{d: errorPause}
		}
		if !d.sleep(ctx, wk, s, p) {
			return
		}
	}
}

// sleep waits p (at most until the lease is due for renewal); false when
// ctx ended. A kick marks the session stale even without a wait: a worker
// going through a backlog never waits, and would otherwise go on with the
// old URL, secret or selection until its lease renewal.
func (d *Dispatcher) sleep(ctx context.Context, wk *worker, s *session, p pause) bool {
	if p.d <= 0 {
		select {
		case <-wk.kick:
			s.stale = true
		default:
		}
		return ctx.Err() == nil
	}
	t := time.NewTimer(min(p.d, d.lease/3))
	defer t.Stop()
	var wake chan struct{}
	if p.forEvents {
		wake = wk.wake
	}
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	case <-wk.kick:
		s.stale = true
	}
	return true
}

// step does the next piece of a webhook's work: renew its lease, then
// give up the events past the retry window, or make one attempt, or find
// nothing to do.
func (d *Dispatcher) step(ctx context.Context, wk *worker, s *session, log *slog.Logger) (pause, error) {
	now := d.cfg.Now()
	if s.stale || now.Sub(s.claimed) >= d.lease/3 {
		w, err := d.cfg.Store.ClaimWebhook(ctx, wk.id, d.cfg.Owner, now, now.Add(d.lease))
		if err != nil {
			return pause{}, err
		}
		if w.EventTypes != s.w.EventTypes || w.StationIDs != s.w.StationIDs || w.EventCursor != s.w.EventCursor {
			s.batch = nil
		}
		wk.setFilter(w)
		s.w, s.claimed, s.stale = w, now, false
	}
	if next := s.w.NextAttemptAt; next != nil && now.Before(*next) {
		return pause{d: next.Sub(now)}, nil
	}
	if len(s.batch) == 0 {
		idle, err := d.fill(ctx, s)
		if idle || err != nil {
			return pause{d: d.cfg.Poll, forEvents: true}, err
		}
	}
	if n := expiredRun(s.batch, now, d.cfg.RetryFor); n > 0 {
		last := s.batch[n-1]
		st := Expired(s.w.WebhookState, last.ID, n, now)
		row := &store.WebhookDelivery{EventID: last.ID, EventType: string(last.Type), Attempt: s.w.Attempts, At: now,
			Outcome: OutcomeExpired, Error: st.LastError}
		if err := d.save(ctx, s, st, row); err != nil {
			return pause{}, err
		}
		s.batch = s.batch[n:]
		d.cfg.Metrics.expired(n)
		log.Warn("webhook events given up after WEBHOOK_RETRY_FOR", "events", n, "up_to_id", last.ID)
		return pause{}, nil
	}

	e := s.batch[0]
	res := d.attempt(ctx, s.w, e)
	if ctx.Err() != nil && res.result != resultDelivered {
		// Cut short by a stop: whoever delivers next makes it again.
		return pause{}, ctx.Err()
	}
	d.cfg.Metrics.attempt(res.result, res.took)
	at := d.cfg.Now()
	row := &store.WebhookDelivery{EventID: e.ID, EventType: string(e.Type), Attempt: s.w.Attempts + 1, At: at,
		HTTPStatus: res.status, DurationMS: res.took.Milliseconds()}
	var st store.WebhookState
	if res.result == resultDelivered {
		st = Delivered(s.w.WebhookState, e.ID, at)
		row.Outcome = OutcomeDelivered
	} else {
		st = Failed(s.w.WebhookState, at, res.err)
		row.Outcome, row.Error = OutcomeFailed, st.LastError
		log.Info("webhook delivery failed", "event", e.ID, "attempt", row.Attempt, "outcome", res.result,
			"err", st.LastError, "retry_at", st.NextAttemptAt)
	}
	// The endpoint has answered: a stop arriving now must not lose that,
	// or whoever delivers next would send the event a second time.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err := d.save(sctx, s, st, row); err != nil {
		return pause{}, err
	}
	if res.result == resultDelivered {
		s.batch = s.batch[1:]
	}
	return pause{}, nil
}

// fill reads the webhook's next events (of its types and stations) into
// s.batch; idle when there are none. Past the events it does not select
// (other types, other stations) the cursor moves on, so the next read
// does not scan them again and the webhook's position keeps up with the
// log even when none of its stations says anything.
func (d *Dispatcher) fill(ctx context.Context, s *session) (idle bool, err error) {
	// Ids are in commit order: nothing at or below last can still appear.
	last, err := d.cfg.Store.LastEventID(ctx)
	if err != nil {
		return true, err
	}
	cursor := s.w.EventCursor
	if last <= cursor {
		return true, nil
	}
	evs, err := d.cfg.Store.ReadEvents(ctx, event.Range{After: cursor, UpTo: last, Filter: Filter(s.w)}, readBatch)
	if err != nil {
		return true, err
	}
	if len(evs) == 0 {
		st := s.w.WebhookState
		st.EventCursor = last
		return true, d.save(ctx, s, st, nil)
	}
	s.batch = evs
	return false, nil
}

func (d *Dispatcher) save(ctx context.Context, s *session, st store.WebhookState, row *store.WebhookDelivery) error {
	if err := d.cfg.Store.SaveWebhookState(ctx, s.w.ID, d.cfg.Owner, s.w.EventCursor, st, row); err != nil {
		return err
	}
	s.w.WebhookState = st
	return nil
}

// result is how one attempt went.
type result struct {
	result string // resultDelivered or the failure's kind
	err    string // why it failed, for the webhook's status
	status int    // the HTTP status, 0 without an answer
	took   time.Duration
}

// attempt POSTs e to the webhook once.
func (d *Dispatcher) attempt(ctx context.Context, w *store.Webhook, e event.Event) result {
	secret, err := d.cfg.Sealer.Open(w.ID, w.SealedSecret)
	if err != nil {
		return result{result: resultSecret, err: err.Error()}
	}
	body, err := json.Marshal(e)
	if err != nil {
		return result{result: resultConnection, err: "encode the event: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return result{result: resultConnection, err: "bad url"}
	}
	ts := d.cfg.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderEvent, string(e.Type))
	req.Header.Set(HeaderEventID, strconv.FormatInt(e.ID, 10))
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(secret, ts, body))

	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		r := result{result: resultConnection, took: time.Since(start)}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, which may hold a token
		}
		var ne net.Error
		switch {
		case errors.Is(err, ErrForbiddenAddress):
			r.result = resultRefused
		case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
			r.result = resultTimeout
			err = fmt.Errorf("no answer within WEBHOOK_TIMEOUT (%s)", d.cfg.Timeout)
		}
		r.err = err.Error()
		return r
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, keptResponse))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseRead))
	r := result{status: resp.StatusCode, took: time.Since(start)}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		r.result = resultDelivered
		return r
	}
	r.result = resultHTTPError
	r.err = "HTTP " + strconv.Itoa(resp.StatusCode)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		r.err += " (redirects are not followed)"
	}
	if text := printable(head); text != "" {
		r.err += ": " + text
	}
	return r
}

// printable is an answer's beginning fit for a status line: valid UTF-8,
// control characters as spaces, trimmed.
func printable(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(b), "�"))
	return strings.Join(strings.Fields(s), " ")
}

// Delivering lists the webhooks this instance delivers now (tests).
func (d *Dispatcher) Delivering() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.workers))
	for id := range d.workers {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
