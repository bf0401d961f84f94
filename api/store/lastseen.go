package store

import (
	"context"
	"log/slog"
	"sort"
	"strings"
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
// a background loop writes all pending stations every Interval (on
// PostgreSQL one statement per 1,000 stations), so a Heartbeat costs no
// commit of its own.
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

// Flush writes what is pending now (on PostgreSQL, a station whose row
// another transaction holds stays pending for the next flush).
func (w *LastSeenWriter) Flush(ctx context.Context) error { return w.flush(ctx, false) }

func (w *LastSeenWriter) flush(ctx context.Context, final bool) error {
	w.mu.Lock()
	batch := w.pending
	w.pending = map[string]time.Time{}
	w.mu.Unlock()
	return w.write(ctx, batch, final)
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
			w.flushLogged(true)
			return
		}
		w.flushLogged(false)
	}
}

func (w *LastSeenWriter) flushLogged(final bool) {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.FlushTimeout)
	defer cancel()
	if err := w.flush(ctx, final); err != nil {
		w.log.Warn("last seen times not written", "err", err)
	}
}

func (w *LastSeenWriter) write(ctx context.Context, batch map[string]time.Time, final bool) error {
	if len(batch) == 0 {
		return nil
	}
	ids := make([]string, 0, len(batch))
	for id := range batch {
		ids = append(ids, id)
	}
	// A fixed order keeps concurrent writers on PostgreSQL deadlock-free.
	sort.Strings(ids)
	var err error
	if w.s.dialect == dialectPostgres {
		err = w.writePostgres(ctx, ids, batch, final)
	} else {
		err = w.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
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
	}
	if err != nil {
		// Liveness only: put the times back so the next flush retries them.
		w.putBack(batch, ids)
		return translate("store: write last seen", err)
	}
	return nil
}

// putBack returns ids' times to pending for the next flush, unless a newer
// time arrived meanwhile.
func (w *LastSeenWriter) putBack(batch map[string]time.Time, ids []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if at := batch[id]; !at.IsZero() {
			if prev, ok := w.pending[id]; !ok || at.After(prev) {
				w.pending[id] = at
			}
		}
	}
}

// writePostgres writes ids' times with one statement per 1,000 stations
// rather than one per station inside a transaction, which held every
// station row of the batch locked for as many round trips, so that
// admissions, connections and boots of those stations queued behind it
// in a storm. A row another transaction holds right now is skipped, not
// waited for (SKIP LOCKED: the flush never waits and so never joins a
// lock cycle), and retried at the next flush; the final flush (Close)
// waits for them instead, in id order.
func (w *LastSeenWriter) writePostgres(ctx context.Context, ids []string, batch map[string]time.Time, final bool) error {
	skip := " SKIP LOCKED"
	if final {
		skip = ""
	}
	var skipped []string
	for start := 0; start < len(ids); start += maxIDsPerQuery {
		chunk := ids[start:min(start+maxIDsPerQuery, len(ids))]
		values := make([]string, len(chunk))
		args := make([]any, 0, 2*len(chunk))
		for i, id := range chunk {
			values[i] = "(?, CAST(? AS TIMESTAMPTZ))"
			args = append(args, id, dbTime(batch[id]))
		}
		// The rows locked are those updated; the ones selected after
		// are the stations that exist but were locked by someone else.
		q := `WITH v (id, at) AS (VALUES ` + strings.Join(values, ", ") + `),
			locked AS (SELECT s.id FROM stations s JOIN v ON s.id = v.id ORDER BY s.id FOR NO KEY UPDATE OF s` + skip + `),
			upd AS (UPDATE stations s SET last_seen = CASE WHEN s.last_seen IS NULL OR s.last_seen < v.at THEN v.at ELSE s.last_seen END
				FROM v, locked WHERE s.id = v.id AND s.id = locked.id RETURNING s.id)
			SELECT v.id FROM v JOIN stations s ON s.id = v.id WHERE v.id NOT IN (SELECT id FROM upd)`
		var left []string
		if err := w.s.db.WithContext(ctx).Raw(q, args...).Scan(&left).Error; err != nil {
			return err
		}
		skipped = append(skipped, left...)
	}
	w.putBack(batch, skipped)
	return nil
}
