package event

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

// Defaults of RecorderConfig.
const (
	DefaultBuffer    = 10_000
	DefaultBatch     = 500
	DefaultRetention = 24 * time.Hour
	// trimInterval is how often events past the retention are deleted.
	trimInterval = time.Minute
)

// Log is the events table (api/store).
type Log interface {
	AppendEvents(ctx context.Context, evs []Event, created time.Time) error
	ReadEvents(ctx context.Context, r Range, limit int) ([]Event, error)
	LastEventID(ctx context.Context) (int64, error)
	TrimEvents(ctx context.Context, cutoff time.Time) (int64, error)
}

// Relay carries stored events to every core instance (pkg/bus).
type Relay interface {
	PublishEvents(ctx context.Context, env *busv1.Envelope) error
}

// Enricher completes an event off the charger's path before it is stored
// (a transaction's energy, which its last message alone does not carry).
type Enricher func(ctx context.Context, e *Event)

// RecorderConfig configures a Recorder.
type RecorderConfig struct {
	Log   Log
	Relay Relay // nil: this instance's Hub only
	Hub   *Hub  // this instance's subscribers (nil: none)
	// Buffer bounds events waiting to be stored (DefaultBuffer); beyond
	// it events are dropped and counted, never waited for.
	Buffer int
	// Retention is how long events are kept for resumption (DefaultRetention).
	Retention time.Duration
	Enrich    Enricher
	Now       func() time.Time
	Logger    *slog.Logger
}

// Recorder is the core's Publisher: it queues events without blocking,
// stores them in batches (which gives them their ids), hands them to this
// instance's Hub and relays them to the other instances. Run does the
// work.
type Recorder struct {
	cfg     RecorderConfig
	in      chan Event
	calls   chan Call
	dropped atomic.Int64
	log     *slog.Logger
}

// NewRecorder returns a Recorder; Run starts it.
func NewRecorder(c RecorderConfig) *Recorder {
	if c.Buffer <= 0 {
		c.Buffer = DefaultBuffer
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return &Recorder{cfg: c, in: make(chan Event, c.Buffer), calls: make(chan Call, c.Buffer), log: c.Logger.With("component", "events")}
}

// Publish queues e; when the buffer is full e is dropped (Dropped counts
// it): a charger's reply never waits for the event log.
func (r *Recorder) Publish(e Event) {
	select {
	case r.in <- e:
	default:
		r.drop()
	}
}

// ObserveCall queues a charger's CALL that was answered, to be turned into
// events (FromCall) off the charger's path.
func (r *Recorder) ObserveCall(c Call) {
	select {
	case r.calls <- c:
	default:
		r.drop()
	}
}

func (r *Recorder) drop() {
	if n := r.dropped.Add(1); n&(n-1) == 0 { // 1, 2, 4, 8…: a log line, not a flood
		r.log.Warn("event buffer full: events dropped", "dropped_total", n)
	}
}

// Dropped is how many events were dropped because the buffer was full.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// Run stores, delivers and relays events until ctx is done, then stores
// what is still queued, and trims the log past the retention.
func (r *Recorder) Run(ctx context.Context) {
	trim := time.NewTicker(trimInterval)
	defer trim.Stop()
	r.trim(ctx)
	for {
		select {
		case <-ctx.Done():
			r.flush(context.WithoutCancel(ctx), r.drain(nil, DefaultBuffer))
			return
		case <-trim.C:
			r.trim(ctx)
		case e := <-r.in:
			r.flush(ctx, r.drain([]Event{e}, DefaultBatch))
		case c := <-r.calls:
			r.flush(ctx, r.drain(r.translate(ctx, c, nil), DefaultBatch))
		}
	}
}

// drain adds what is queued, without waiting, up to about max events:
// while a batch is written the next one builds up.
func (r *Recorder) drain(batch []Event, max int) []Event {
	for len(batch) < max {
		select {
		case e := <-r.in:
			batch = append(batch, e)
		case c := <-r.calls:
			batch = r.translate(context.Background(), c, batch)
		default:
			return batch
		}
	}
	return batch
}

func (r *Recorder) translate(ctx context.Context, c Call, batch []Event) []Event {
	for _, e := range FromCall(c) {
		if r.cfg.Enrich != nil {
			r.cfg.Enrich(ctx, &e)
		}
		batch = append(batch, e)
	}
	return batch
}

// flush stores batch, retrying a few times (the database may be failing
// over), then delivers and relays it.
func (r *Recorder) flush(ctx context.Context, batch []Event) {
	if len(batch) == 0 {
		return
	}
	var err error
	for attempt, wait := 0, 100*time.Millisecond; attempt < 5; attempt, wait = attempt+1, wait*2 {
		if err = r.cfg.Log.AppendEvents(ctx, batch, r.cfg.Now()); err == nil {
			break
		}
		if errors.Is(err, context.Canceled) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	if err != nil {
		r.dropped.Add(int64(len(batch)))
		r.log.Error("events could not be stored: dropped", "events", len(batch), "err", err)
		return
	}
	if r.cfg.Hub != nil {
		r.cfg.Hub.Deliver(ctx, batch)
	}
	if r.cfg.Relay != nil {
		env, err := Envelope(batch)
		if err == nil {
			err = r.cfg.Relay.PublishEvents(ctx, env)
		}
		if err != nil {
			// The other instances find these in the database at their
			// next poll or gap.
			r.log.Warn("relay events", "events", len(batch), "err", err)
		}
	}
}

func (r *Recorder) trim(ctx context.Context) {
	n, err := r.cfg.Log.TrimEvents(ctx, r.cfg.Now().Add(-r.cfg.Retention))
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("trim events", "err", err)
		}
		return
	}
	if n > 0 {
		r.log.Debug("events trimmed", "deleted", n)
	}
}

// Envelope is the bus message carrying stored events.
func Envelope(evs []Event) (*busv1.Envelope, error) {
	b, err := json.Marshal(evs)
	if err != nil {
		return nil, fmt.Errorf("event: encode: %w", err)
	}
	return &busv1.Envelope{Kind: busv1.Kind_KIND_EVENTS, Frame: b, ReceivedAt: timestamppb.Now()}, nil
}

// FromEnvelope decodes an Envelope.
func FromEnvelope(env *busv1.Envelope) ([]Event, error) {
	if env.GetKind() != busv1.Kind_KIND_EVENTS {
		return nil, fmt.Errorf("event: unexpected envelope kind %s", env.GetKind())
	}
	var evs []Event
	if err := json.Unmarshal(env.GetFrame(), &evs); err != nil {
		return nil, fmt.Errorf("event: decode: %w", err)
	}
	return evs, nil
}

// TransactionReader reads a stored transaction (api/store).
type TransactionReader interface {
	TransactionEnergy(ctx context.Context, stationID, uid string) (*float64, error)
}

// StoreEnricher adds the stored energy to transaction.ended events.
func StoreEnricher(st TransactionReader) Enricher {
	return func(ctx context.Context, e *Event) {
		if e.Type != TransactionEnded {
			return
		}
		var p TransactionPayload
		if json.Unmarshal(e.Payload, &p) != nil || p.TransactionID == "" {
			return
		}
		wh, err := st.TransactionEnergy(ctx, e.StationID, p.TransactionID)
		if err != nil || wh == nil {
			return
		}
		p.EnergyWh = wh
		if b, err := json.Marshal(p); err == nil {
			e.Payload = b
		}
	}
}
