package store

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"

	"github.com/chargeplane/chargeplane/pkg/tracing"
)

// Instrument times every statement the store runs, by gorm operation
// (create, query, update, delete, row, raw) and outcome (ok, not_found,
// error), on reg as chargeplane_db_query_duration_seconds; and, when the
// statement's context is inside a recorded span, traces it as a child span
// carrying the SQL text with its placeholders (never the bound values, which
// may be secrets' hashes). Statements outside a span (background sweeps,
// batch writers) start no trace of their own.
func (s *Store) Instrument(reg prometheus.Registerer) error {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "chargeplane_db_query_duration_seconds",
		Help:    "Database statements by gorm operation (create, query, update, delete, row, raw) and outcome (ok, not_found, error).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"operation", "outcome"})
	if err := reg.Register(h); err != nil {
		return err
	}
	const (
		started = "chargeplane:started"
		spanKey = "chargeplane:span"
	)
	system := s.db.Dialector.Name() // "postgres" or "sqlite"
	if system == "postgres" {
		system = "postgresql" // the OpenTelemetry name
	}
	type register func(name string, fn func(*gorm.DB)) error
	cb := s.db.Callback()
	for _, op := range []struct {
		name          string
		before, after register
	}{
		{"create", cb.Create().Before("gorm:create").Register, cb.Create().After("gorm:create").Register},
		{"query", cb.Query().Before("gorm:query").Register, cb.Query().After("gorm:query").Register},
		{"update", cb.Update().Before("gorm:update").Register, cb.Update().After("gorm:update").Register},
		{"delete", cb.Delete().Before("gorm:delete").Register, cb.Delete().After("gorm:delete").Register},
		{"row", cb.Row().Before("gorm:row").Register, cb.Row().After("gorm:row").Register},
		{"raw", cb.Raw().Before("gorm:raw").Register, cb.Raw().After("gorm:raw").Register},
	} {
		name := op.name
		before := func(db *gorm.DB) {
			db.InstanceSet(started, time.Now())
			if ctx := db.Statement.Context; ctx != nil && trace.SpanFromContext(ctx).IsRecording() {
				_, span := tracing.Tracer().Start(ctx, "db "+name, trace.WithSpanKind(trace.SpanKindClient),
					trace.WithAttributes(attribute.String("db.system.name", system), attribute.String("db.operation.name", name)))
				db.InstanceSet(spanKey, span)
			}
		}
		after := func(db *gorm.DB) {
			v, ok := db.InstanceGet(started)
			if !ok {
				return
			}
			outcome := "ok"
			switch {
			case errors.Is(db.Error, gorm.ErrRecordNotFound):
				outcome = "not_found"
			case db.Error != nil:
				outcome = "error"
			}
			h.WithLabelValues(name, outcome).Observe(time.Since(v.(time.Time)).Seconds())
			if sp, ok := db.InstanceGet(spanKey); ok {
				span := sp.(trace.Span)
				sql := db.Statement.SQL.String()
				if len(sql) > 1000 {
					sql = sql[:1000]
				}
				span.SetAttributes(attribute.String("db.query.text", sql))
				if outcome == "error" {
					// Not the message: a constraint error quotes the values.
					span.SetStatus(codes.Error, "statement failed")
				}
				span.End()
			}
		}
		if err := op.before("chargeplane:time_"+name, before); err != nil {
			return err
		}
		if err := op.after("chargeplane:observe_"+name, after); err != nil {
			return err
		}
	}
	return nil
}
