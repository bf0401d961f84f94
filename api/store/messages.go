package store

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/chargeplane/chargeplane/pkg/truncate"
)

// Directions and message types of the station message log.
const (
	DirectionIn  = "in"  // charger → CSMS
	DirectionOut = "out" // CSMS → charger

	MessageCall       = "CALL"
	MessageCallResult = "CALLRESULT"
	MessageCallError  = "CALLERROR"
)

// StationMessage is one raw OCPP-J frame in a station's message log.
type StationMessage struct {
	ID           int64 `gorm:"primaryKey;autoIncrement"`
	StationID    string
	At           time.Time
	Direction    string
	MessageType  string
	MessageID    string
	Action       string
	ConnectionID string
	Frame        string
}

// TableName keeps gorm's name for StationMessage stable.
func (StationMessage) TableName() string { return "station_messages" }

// ListMessages returns one page of a station's message log, newest first.
func (s *Store) ListMessages(ctx context.Context, stationID string, p SeqPage) ([]StationMessage, error) {
	q := s.db.WithContext(ctx).Where("station_id = ?", stationID)
	if p.Before > 0 {
		q = q.Where("id < ?", p.Before)
	}
	var out []StationMessage
	if err := q.Order("id DESC").Limit(p.limit()).Find(&out).Error; err != nil {
		return nil, translate(fmt.Sprintf("store: list messages of %q", stationID), err)
	}
	return out, nil
}

// MessageBound is what a station's message log keeps: the newest Keep
// messages, and of those only as many as fit in Bytes bytes of frames
// (the newest message is always kept). A zero field does not bound.
type MessageBound struct {
	Keep  int
	Bytes int
}

// AppendMessages writes msgs and trims each of their stations' logs to
// bound, in one transaction.
func (s *Store) AppendMessages(ctx context.Context, msgs []StationMessage, bound MessageBound) error {
	return s.appendMessages(ctx, msgs, bound, nil)
}

// trimMessages deletes, of one station's log, every message beyond the
// newest ? (Keep) or beyond ? bytes (Bytes) counted from the newest, except
// the newest one. Both bounds are suffixes of the log in id order, so the
// newest message beyond either is where the deletion starts.
const trimMessages = `DELETE FROM station_messages WHERE station_id = ? AND id <= (
	SELECT MAX(id) FROM (
		SELECT id, ROW_NUMBER() OVER (ORDER BY id DESC) AS n, SUM(%s) OVER (ORDER BY id DESC) AS total
		FROM station_messages WHERE station_id = ?) newest
	WHERE n > 1 AND (n > ? OR total > ?))`

// appendMessages is AppendMessages trimming only the stations trim says
// (all of them when trim is nil).
func (s *Store) appendMessages(ctx context.Context, msgs []StationMessage, bound MessageBound, trim func(stationID string) bool) error {
	if len(msgs) == 0 {
		return nil
	}
	for i := range msgs {
		msgs[i].ID = 0
		msgs[i].At = dbTime(msgs[i].At)
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.CreateInBatches(msgs, 200).Error; err != nil {
			return err
		}
		if bound.Keep <= 0 && bound.Bytes <= 0 {
			return nil
		}
		keep, bytes := int64(bound.Keep), int64(bound.Bytes)
		if keep <= 0 {
			keep = math.MaxInt64
		}
		if bytes <= 0 {
			bytes = math.MaxInt64
		}
		// Bytes, not characters, on both databases.
		size := "octet_length(frame)"
		if s.dialect != dialectPostgres {
			size = "length(CAST(frame AS BLOB))"
		}
		query := fmt.Sprintf(trimMessages, size)
		stations := map[string]bool{}
		for _, m := range msgs {
			stations[m.StationID] = true
		}
		ids := make([]string, 0, len(stations))
		for id := range stations {
			if trim == nil || trim(id) {
				ids = append(ids, id)
			}
		}
		// A fixed order keeps concurrent trims on PostgreSQL deadlock-free.
		sort.Strings(ids)
		for _, id := range ids {
			if err := tx.Exec(query, id, id, keep, bytes).Error; err != nil {
				return err
			}
		}
		return nil
	})
	return translate("store: append messages", err)
}

// MessageLoggerConfig tunes the message log writer.
type MessageLoggerConfig struct {
	// Keep is how many messages each station's log keeps (default 500).
	// Trimming is amortised: a station's log is trimmed back to Keep once
	// this writer has added Keep/4 messages since its last trim, so it holds
	// at most Keep + Keep/4 - 1 messages between trims (per core instance
	// writing to it; the first batch of a station after start always trims).
	Keep int
	// MaxBytes bounds the bytes of frames each station's log keeps
	// (default 2 MiB), trimmed with Keep; between trims a log holds at most
	// MaxBytes + (Keep/4 - 1) × MaxFrame.
	MaxBytes int
	// MaxFrame is the most bytes of one frame kept (default 64 KiB); a
	// longer one is stored cut, ending in "…(truncated, N bytes)".
	MaxFrame int
	// Buffer is how many messages may wait for the writer (default 4096);
	// more are dropped.
	Buffer int
	// MaxBatch is the most messages one transaction writes (default 500).
	MaxBatch int
	// FlushTimeout bounds one batch's database work (default 10s).
	FlushTimeout time.Duration
	Logger       *slog.Logger
}

// maxTrackedStations bounds the message logger's per-station counts.
const maxTrackedStations = 200_000

// MessageLogger writes the station message log in the background, in
// batches, so that logging never slows the reply path. It is best effort:
// when the buffer is full, or a batch cannot be written, messages are
// dropped and counted in a log line (the log is a diagnostic aid; the
// charger's data lives in its own tables). Safe for concurrent use.
type MessageLogger struct {
	s       *Store
	cfg     MessageLoggerConfig
	log     *slog.Logger
	ch      chan StationMessage
	mu      sync.RWMutex // guards closed against Log racing Close
	closed  bool
	done    chan struct{}
	dropped atomic.Int64
	// untrimmed counts, per station, the messages written since its log
	// was last trimmed; only the writer goroutine uses it.
	untrimmed map[string]int
}

// NewMessageLogger starts a writer for s. Close it before closing s.
func (s *Store) NewMessageLogger(cfg MessageLoggerConfig) *MessageLogger {
	if cfg.Keep <= 0 {
		cfg.Keep = 500
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 2 << 20
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = 64 << 10
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 4096
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 500
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = s.log
	}
	l := &MessageLogger{
		s:    s,
		cfg:  cfg,
		log:  cfg.Logger.With("component", "message-log"),
		ch:   make(chan StationMessage, cfg.Buffer),
		done: make(chan struct{}),

		untrimmed: map[string]int{},
	}
	go l.loop()
	return l
}

// Log queues m for writing; it never blocks.
func (l *MessageLogger) Log(m StationMessage) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return
	}
	m.Frame = truncateFrame(m.Frame, l.cfg.MaxFrame)
	select {
	case l.ch <- m:
	default:
		l.dropped.Add(1)
	}
}

// truncateFrame cuts a frame longer than max bytes (on a character
// boundary) and says how long it was, so that one station's big frames
// neither fill the database nor make its log unreadable.
func truncateFrame(f string, max int) string {
	if len(f) <= max {
		return f
	}
	return truncate.Bytes(f, max) + fmt.Sprintf("…(truncated, %d bytes)", len(f))
}

// Close writes what is queued and stops the writer.
func (l *MessageLogger) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.ch)
	}
	l.mu.Unlock()
	<-l.done
	return nil
}

func (l *MessageLogger) loop() {
	defer close(l.done)
	for {
		m, ok := <-l.ch
		if !ok {
			return
		}
		batch := []StationMessage{m}
		// Take what is already waiting; what arrives during the write
		// forms the next batch.
	collect:
		for len(batch) < l.cfg.MaxBatch {
			select {
			case m, ok := <-l.ch:
				if !ok {
					break collect
				}
				batch = append(batch, m)
			default:
				break collect
			}
		}
		l.flush(batch)
	}
}

func (l *MessageLogger) flush(batch []StationMessage) {
	if n := l.dropped.Swap(0); n > 0 {
		l.log.Warn("message log overloaded: messages dropped", "dropped", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.FlushTimeout)
	defer cancel()
	// A trimming DELETE per station per batch cost more than the inserts;
	// trim a station only once it has gained a quarter of its bound.
	slack := max(l.cfg.Keep/4, 1)
	if len(l.untrimmed) > maxTrackedStations {
		clear(l.untrimmed) // every station trims at its next batch: still bounded
	}
	added := map[string]int{}
	for _, m := range batch {
		added[m.StationID]++
	}
	trimmed := map[string]bool{}
	bound := MessageBound{Keep: l.cfg.Keep, Bytes: l.cfg.MaxBytes}
	err := l.s.appendMessages(ctx, batch, bound, func(id string) bool {
		n, seen := l.untrimmed[id]
		trimmed[id] = !seen || n+added[id] >= slack
		return trimmed[id]
	})
	if err == nil {
		for id, n := range added {
			if trimmed[id] {
				l.untrimmed[id] = 0
			} else {
				l.untrimmed[id] += n
			}
		}
		return
	}
	// The fallback below trims every station it writes.
	for id := range added {
		delete(l.untrimmed, id)
	}
	if len(batch) == 1 {
		l.log.Warn("message log entry dropped", "station", batch[0].StationID, "err", err)
		return
	}
	// One bad entry (a station deleted meanwhile) must not lose the others.
	lost := 0
	for i := range batch {
		if err := l.s.AppendMessages(ctx, batch[i:i+1], bound); err != nil {
			lost++
		}
	}
	if lost > 0 {
		l.log.Warn("message log entries dropped", "dropped", lost, "err", err)
	}
}
