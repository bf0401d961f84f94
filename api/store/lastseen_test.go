package store

import (
	"context"
	"maps"
	"testing"
	"time"
)

// The writer coalesces to the latest time per station, writes on its own
// within Interval, never moves last_seen back, skips unknown stations
// without losing the others, and writes what is pending on Close.
func TestLastSeenWriter(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		mustCreateStation(t, s, "CP2")
		w := s.NewLastSeenWriter(LastSeenWriterConfig{Interval: 50 * time.Millisecond})
		closed := false
		defer func() {
			if !closed {
				_ = w.Close()
			}
		}()

		later := t0.Add(time.Minute)
		for _, at := range []time.Time{t0.Add(time.Second), later, t0.Add(2 * time.Second)} {
			if err := w.TouchLastSeen(ctx, "CP1", at); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.TouchLastSeen(ctx, "ghost", later); err != nil {
			t.Fatalf("unknown station: %v", err)
		}
		if err := w.TouchLastSeen(ctx, "CP2", t0); err != nil {
			t.Fatal(err)
		}
		// Written by the loop, not by us: poll well beyond the interval.
		deadline := time.Now().Add(5 * time.Second)
		for {
			st := mustGet(t, s, "CP1")
			if st.LastSeen != nil && st.LastSeen.Equal(later) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("last seen = %v, want %v within the flush interval", st.LastSeen, later)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if st := mustGet(t, s, "CP2"); st.LastSeen == nil || !st.LastSeen.Equal(t0) {
			t.Errorf("CP2 last seen = %v, want %v (an unknown station in the batch must not lose it)", st.LastSeen, t0)
		}

		// An older time flushed later does not move last_seen back.
		if err := w.TouchLastSeen(ctx, "CP1", t0.Add(3*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if st := mustGet(t, s, "CP1"); !st.LastSeen.Equal(later) {
			t.Errorf("last seen moved back to %v", st.LastSeen)
		}

		// Close writes what is pending, however long the interval.
		w2 := s.NewLastSeenWriter(LastSeenWriterConfig{Interval: time.Hour})
		latest := later.Add(time.Minute)
		if err := w2.TouchLastSeen(ctx, "CP2", latest); err != nil {
			t.Fatal(err)
		}
		if err := w2.Close(); err != nil {
			t.Fatal(err)
		}
		if st := mustGet(t, s, "CP2"); !st.LastSeen.Equal(latest) {
			t.Errorf("after Close: last seen = %v, want %v", st.LastSeen, latest)
		}
		// After Close a touch is written at once.
		after := latest.Add(time.Second)
		if err := w2.TouchLastSeen(ctx, "CP2", after); err != nil {
			t.Fatal(err)
		}
		if st := mustGet(t, s, "CP2"); !st.LastSeen.Equal(after) {
			t.Errorf("touch after Close: last seen = %v, want %v", st.LastSeen, after)
		}
		closed = true
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// On PostgreSQL a flush does not wait for a station row another
// transaction holds (an admission, a connection, a boot of that station):
// it writes the others and keeps that one for the next flush. An unknown
// station is not kept.
func TestLastSeenWriterSkipsLockedRows(t *testing.T) {
	s := openStore(t, "postgres", &clock{t: t0})
	ctx := context.Background()
	mustCreateStation(t, s, "CP1")
	mustCreateStation(t, s, "CP2")
	w := s.NewLastSeenWriter(LastSeenWriterConfig{Interval: time.Hour})
	defer w.Close()
	at := t0.Add(time.Minute)
	for _, id := range []string{"CP1", "CP2", "ghost"} {
		if err := w.TouchLastSeen(ctx, id, at); err != nil {
			t.Fatal(err)
		}
	}
	tx := s.db.Begin()
	if err := tx.Exec("UPDATE stations SET name = 'busy' WHERE id = 'CP1'").Error; err != nil {
		t.Fatal(err)
	}
	// Bounded only so that a regression fails instead of hanging.
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := w.Flush(fctx)
	cancel()
	tx.Rollback()
	if err != nil {
		t.Fatalf("flush with a locked row: %v", err)
	}
	if st := mustGet(t, s, "CP2"); st.LastSeen == nil || !st.LastSeen.Equal(at) {
		t.Errorf("CP2 last seen = %v, want %v", st.LastSeen, at)
	}
	if st := mustGet(t, s, "CP1"); st.LastSeen != nil {
		t.Errorf("CP1 written through another transaction's lock: %v", st.LastSeen)
	}
	w.mu.Lock()
	pending := maps.Clone(w.pending)
	w.mu.Unlock()
	if len(pending) != 1 || !pending["CP1"].Equal(at) {
		t.Fatalf("pending after the flush = %v, want only CP1 (the locked row)", pending)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := mustGet(t, s, "CP1"); st.LastSeen == nil || !st.LastSeen.Equal(at) {
		t.Errorf("CP1 last seen after the lock = %v, want %v", st.LastSeen, at)
	}
}
