package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"gorm.io/gorm"
)

// ErrClosed is returned by a batcher (MeterBatcher, StatusBatcher) after
// Close.
var ErrClosed = errors.New("store: batcher closed")

// BatcherConfig tunes group commit.
type BatcherConfig struct {
	// MaxBatch is the most items one database transaction takes
	// (default 256, at most 4096).
	MaxBatch int
	// MaxDelay bounds how long a batch keeps taking items that keep
	// arriving (default 20ms). A batch is written at once when no other
	// item is waiting, so a quiet system adds no latency.
	MaxDelay time.Duration
	// Workers is how many batches may be written at once (default 4): one
	// batch collects while others commit.
	Workers int
	// FlushTimeout bounds one batch's database work (default 30s).
	FlushTimeout time.Duration
	Logger       *slog.Logger
}

// MeterBatcherConfig tunes the meter batcher.
type MeterBatcherConfig = BatcherConfig

// groupCommit writes items with group commit: items from many concurrent
// callers share one database transaction, and each caller returns only
// once that transaction committed (or failed). If a batch fails, each of
// its items is written on its own, so that one bad item (a deleted
// station) does not fail the others and every caller gets its own outcome.
type groupCommit[T any] struct {
	cfg      BatcherConfig
	log      *slog.Logger
	db       *gorm.DB
	write    func(tx *gorm.DB, items []*T) error // all of them in tx
	single   func(ctx context.Context, item T) error
	jobs     chan *groupJob[T] // unbuffered: a job is either taken by a worker or not at all
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

type groupJob[T any] struct {
	item   T
	result chan error // buffered: a worker never waits for a caller
}

func newGroupCommit[T any](s *Store, cfg BatcherConfig, component string,
	write func(tx *gorm.DB, items []*T) error, single func(ctx context.Context, item T) error) *groupCommit[T] {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	// A batch's id lists are bound parameters; stay far below the limits.
	cfg.MaxBatch = min(cfg.MaxBatch, 4096)
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 20 * time.Millisecond
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = s.log
	}
	g := &groupCommit[T]{
		cfg:    cfg,
		log:    cfg.Logger.With("component", component),
		db:     s.db,
		write:  write,
		single: single,
		jobs:   make(chan *groupJob[T]),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(g.loop)
	}
	go func() {
		wg.Wait()
		close(g.done)
	}()
	return g
}

// submit writes item as part of the next batch and returns once the batch
// committed. If ctx ends first it returns ctx's error; the item may still
// be written, which is harmless because the writes are idempotent.
func (g *groupCommit[T]) submit(ctx context.Context, item T) error {
	j := &groupJob[T]{item: item, result: make(chan error, 1)}
	select {
	case g.jobs <- j:
	case <-g.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-j.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close writes what was handed over and stops the workers.
func (g *groupCommit[T]) close() {
	g.stopOnce.Do(func() { close(g.quit) })
	<-g.done
}

func (g *groupCommit[T]) loop() {
	for {
		var first *groupJob[T]
		select {
		case first = <-g.jobs:
		case <-g.quit:
			return
		}
		g.flush(g.collect(first))
	}
}

// collect gathers the items already waiting, up to MaxBatch. It stops at
// once when none is waiting (the items that arrive during the write form
// the next batch: that is what groups them under load), and after MaxDelay
// even if items keep streaming in, so that the first is not starved.
func (g *groupCommit[T]) collect(first *groupJob[T]) []*groupJob[T] {
	batch := []*groupJob[T]{first}
	deadline := time.Now().Add(g.cfg.MaxDelay)
	for len(batch) < g.cfg.MaxBatch && time.Now().Before(deadline) {
		select {
		case j := <-g.jobs:
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}

func (g *groupCommit[T]) flush(batch []*groupJob[T]) {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.FlushTimeout)
	defer cancel()
	items := make([]*T, len(batch))
	for i, j := range batch {
		items[i] = &j.item
	}
	err := g.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return g.write(tx, items) })
	if err == nil {
		for _, j := range batch {
			j.result <- nil
		}
		return
	}
	if len(batch) > 1 {
		g.log.Warn("batch failed, writing its items one by one", "items", len(batch), "err", err)
	}
	for _, j := range batch {
		j.result <- g.single(ctx, j.item)
	}
}

// MeterBatcher writes meter values with group commit: reports from many
// concurrent callers share one database transaction, and each caller
// returns only once that transaction committed (or failed). MeterValues are
// the bulk of a network's traffic, so this is what keeps the database from
// being the ceiling. It is safe for concurrent use.
type MeterBatcher struct {
	g *groupCommit[MeterReport]
}

// NewMeterBatcher starts a batcher writing to s. Close it before closing s.
func (s *Store) NewMeterBatcher(cfg MeterBatcherConfig) *MeterBatcher {
	return &MeterBatcher{g: newGroupCommit(s, cfg, "meter-batcher", s.writeMeterReports, s.RecordMeterValues)}
}

// RecordMeterValues stores r as part of the next batch and returns once the
// batch committed. If ctx ends first it returns ctx's error; the report may
// still be written, which is harmless because a retry stores nothing twice.
func (b *MeterBatcher) RecordMeterValues(ctx context.Context, r MeterReport) error {
	if len(r.Samples) == 0 {
		return nil
	}
	return b.g.submit(ctx, r)
}

// Close writes what was handed over and stops the batcher. Calls after
// Close return ErrClosed.
func (b *MeterBatcher) Close() error {
	b.g.close()
	return nil
}
