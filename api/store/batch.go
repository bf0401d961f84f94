package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"gorm.io/gorm"
)

// ErrClosed is returned by a MeterBatcher after Close.
var ErrClosed = errors.New("store: meter batcher closed")

// MeterBatcherConfig tunes group commit.
type MeterBatcherConfig struct {
	// MaxBatch is the most reports one database transaction takes
	// (default 256, at most 4096).
	MaxBatch int
	// MaxDelay bounds how long a batch keeps taking reports that keep
	// arriving (default 20ms). A batch is written at once when no other
	// report is waiting, so a quiet system adds no latency.
	MaxDelay time.Duration
	// Workers is how many batches may be written at once (default 4): one
	// batch collects while others commit.
	Workers int
	// FlushTimeout bounds one batch's database work (default 30s).
	FlushTimeout time.Duration
	Logger       *slog.Logger
}

// MeterBatcher writes meter values with group commit: reports from many
// concurrent callers share one database transaction, and each caller
// returns only once that transaction committed (or failed). MeterValues are
// the bulk of a network's traffic, so this is what keeps the database from
// being the ceiling. It is safe for concurrent use.
type MeterBatcher struct {
	s        *Store
	cfg      MeterBatcherConfig
	log      *slog.Logger
	jobs     chan *meterJob // unbuffered: a job is either taken by the loop or not at all
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

type meterJob struct {
	report MeterReport
	result chan error // buffered: the loop never waits for a caller
}

// NewMeterBatcher starts a batcher writing to s. Close it before closing s.
func (s *Store) NewMeterBatcher(cfg MeterBatcherConfig) *MeterBatcher {
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
	b := &MeterBatcher{
		s:    s,
		cfg:  cfg,
		log:  cfg.Logger.With("component", "meter-batcher"),
		jobs: make(chan *meterJob),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.loop()
		}()
	}
	go func() {
		wg.Wait()
		close(b.done)
	}()
	return b
}

// RecordMeterValues stores r as part of the next batch and returns once the
// batch committed. If ctx ends first it returns ctx's error; the report may
// still be written, which is harmless because a retry stores nothing twice.
func (b *MeterBatcher) RecordMeterValues(ctx context.Context, r MeterReport) error {
	if len(r.Samples) == 0 {
		return nil
	}
	j := &meterJob{report: r, result: make(chan error, 1)}
	select {
	case b.jobs <- j:
	case <-b.quit:
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

// Close writes what was handed over and stops the batcher. Calls after
// Close return ErrClosed.
func (b *MeterBatcher) Close() error {
	b.stopOnce.Do(func() { close(b.quit) })
	<-b.done
	return nil
}

func (b *MeterBatcher) loop() {
	for {
		var first *meterJob
		select {
		case first = <-b.jobs:
		case <-b.quit:
			return
		}
		b.flush(b.collect(first))
	}
}

// collect gathers the reports already waiting, up to MaxBatch. It stops at
// once when none is waiting (the reports that arrive during the write form
// the next batch: that is what groups them under load), and after MaxDelay
// even if reports keep streaming in, so that the first is not starved.
func (b *MeterBatcher) collect(first *meterJob) []*meterJob {
	batch := []*meterJob{first}
	deadline := time.Now().Add(b.cfg.MaxDelay)
	for len(batch) < b.cfg.MaxBatch && time.Now().Before(deadline) {
		select {
		case j := <-b.jobs:
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}

func (b *MeterBatcher) flush(batch []*meterJob) {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.FlushTimeout)
	defer cancel()
	reports := make([]*MeterReport, len(batch))
	for i, j := range batch {
		reports[i] = &j.report
	}
	err := b.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return b.s.writeMeterReports(tx, reports)
	})
	if err == nil {
		for _, j := range batch {
			j.result <- nil
		}
		return
	}
	if len(batch) == 1 {
		batch[0].result <- meterError(batch[0].report.StationID, err)
		return
	}
	// One bad report (a deleted station) must not fail the others: write
	// each on its own so every caller gets its own outcome.
	b.log.Warn("meter batch failed, writing its reports one by one", "reports", len(batch), "err", err)
	for _, j := range batch {
		j.result <- b.s.RecordMeterValues(ctx, j.report)
	}
}
