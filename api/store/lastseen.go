package store

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"gorm.io/gorm"
)

// LastSeenWriterConfig tunes the last-seen writer.
type LastSeenWriterConfig struct {
	// Interval is how often pending times are written (default 1s): the
	// most a station's last_seen lags behind, and the most lost in a crash.
	Interval time.Duration
	// FlushTimeout bounds one flush's database work (default 10s).
	FlushTimeout time.Duration
	Logger       *slog.Logger
}

// LastSeenWriter records when stations were last heard from off the reply
// path: TouchLastSeen only keeps the latest time per station in memory, and
// a background loop writes all pending stations every Interval in one
// transaction, so a Heartbeat costs no commit of its own.
//
// last_seen is liveness information, not charger data: a crash loses at
// most one Interval of it (the next message of each station restores it),
// which is why it is not written before the answer. last_seen never moves
// backwards (the same guarded UPDATE as Store.TouchLastSeen). Safe for
// concurrent use; Close flushes what is pending.
type LastSeenWriter struct {
	s       *Store
	cfg     LastSeenWriterConfig
	log     *slog.Logger
	mu      sync.Mutex
	pending map[string]time.Time
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

// NewLastSeenWriter starts a writer for s. Close it before closing s.
func (s *Store) NewLastSeenWriter(cfg LastSeenWriterConfig) *LastSeenWriter {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = s.log
	}
	w := &LastSeenWriter{
		s:       s,
		cfg:     cfg,
		log:     cfg.Logger.With("component", "last-seen"),
		pending: map[string]time.Time{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go w.loop()
	return w
}

// TouchLastSeen notes that stationID was heard from at; it never blocks on
// the database and never fails (an unknown station is skipped at the
// flush: the router has already checked the station exists). After Close
// it writes synchronously, so late callers lose nothing.
func (w *LastSeenWriter) TouchLastSeen(ctx context.Context, stationID string, at time.Time) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return w.s.TouchLastSeen(ctx, stationID, at)
	}
	if prev, ok := w.pending[stationID]; !ok || at.After(prev) {
		w.pending[stationID] = at
	}
	w.mu.Unlock()
	return nil
}

// Flush writes what is pending now.
func (w *LastSeenWriter) Flush(ctx context.Context) error {
	w.mu.Lock()
	batch := w.pending
	w.pending = map[string]time.Time{}
	w.mu.Unlock()
	return w.write(ctx, batch)
}

// Close writes what is pending and stops the writer.
func (w *LastSeenWriter) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
	}
	w.mu.Unlock()
	<-w.done
	return nil
}

func (w *LastSeenWriter) loop() {
	defer close(w.done)
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-w.stop:
			w.flushLogged()
			return
		}
		w.flushLogged()
	}
}

func (w *LastSeenWriter) flushLogged() {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.FlushTimeout)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		w.log.Warn("last seen times not written", "err", err)
	}
}

func (w *LastSeenWriter) write(ctx context.Context, batch map[string]time.Time) error {
	if len(batch) == 0 {
		return nil
	}
	ids := make([]string, 0, len(batch))
	for id := range batch {
		ids = append(ids, id)
	}
	// A fixed order keeps concurrent writers on PostgreSQL deadlock-free.
	sort.Strings(ids)
	err := w.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, id := range ids {
			at := dbTime(batch[id])
			err := tx.Model(&Station{}).Where("id = ?", id).UpdateColumn("last_seen",
				gorm.Expr("CASE WHEN last_seen IS NULL OR last_seen < ? THEN ? ELSE last_seen END", at, at)).Error
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Liveness only: put the times back so the next flush retries them,
		// unless a newer time arrived meanwhile.
		w.mu.Lock()
		for id, at := range batch {
			if prev, ok := w.pending[id]; !ok || at.After(prev) {
				w.pending[id] = at
			}
		}
		w.mu.Unlock()
		return translate("store: write last seen", err)
	}
	return nil
}
