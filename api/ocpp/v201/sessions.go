package v201

import (
	"context"
	"strconv"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// SessionStore is what the transaction handlers need; *store.Store has it.
type SessionStore interface {
	Authorizer
	TransactionEventRecorder
}

// Authorizer tells a token's effective status.
type Authorizer interface {
	AuthorizeIDToken(ctx context.Context, value string, at time.Time) (store.Authorization, error)
}

// TransactionEventRecorder records TransactionEvent.
type TransactionEventRecorder interface {
	RecordTransactionEvent(ctx context.Context, ev store.TransactionEvent) (store.TransactionEventResult, error)
}

// MeterRecorder stores sampled values; *store.Store writes each report on
// its own, *store.MeterBatcher groups concurrent reports into one commit.
type MeterRecorder interface {
	RecordMeterValues(ctx context.Context, r store.MeterReport) error
}

// idTokenInfo answers a token's authorization in 2.0.1 terms.
func idTokenInfo(a store.Authorization) ocpp201.IdTokenInfo {
	info := ocpp201.IdTokenInfo{Status: ocpp201.AuthorizationStatusEnum(a.Status)}
	if t := a.Token; t != nil {
		if t.ExpiresAt != nil {
			info.CacheExpiryDateTime = t.ExpiresAt.UTC()
		}
		if t.GroupID != nil {
			// The group is named by its value; Central is the type that
			// claims nothing about a medium.
			info.GroupIdToken = &ocpp201.IdToken{IdToken: *t.GroupID, Type: ocpp201.IdTokenEnumCentral}
		}
	}
	return info
}

// samples converts 2.0.1 meter values to the store's form.
func samples(mvs []ocpp201.MeterValue) []store.Sample {
	var out []store.Sample
	for _, mv := range mvs {
		for _, sv := range mv.SampledValue {
			s := store.Sample{
				Timestamp: mv.Timestamp,
				Value:     strconv.FormatFloat(sv.Value, 'f', -1, 64),
				Measurand: string(sv.Measurand),
				Phase:     string(sv.Phase),
				Context:   string(sv.Context),
				Location:  string(sv.Location),
			}
			if u := sv.UnitOfMeasure; u != nil {
				s.Unit = u.Unit
				if u.Multiplier != nil {
					s.Multiplier = *u.Multiplier
				}
			}
			out = append(out, s)
		}
	}
	return out
}
