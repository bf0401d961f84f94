package v16

import (
	"context"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
)

// SessionStore is what the transaction handlers need; *store.Store has it.
type SessionStore interface {
	Authorizer
	TransactionStarter
	TransactionStopper
}

// Authorizer tells a token's effective status.
type Authorizer interface {
	AuthorizeIDToken(ctx context.Context, value string, at time.Time) (store.Authorization, error)
}

// TransactionStarter records StartTransaction.
type TransactionStarter interface {
	StartTransaction16(ctx context.Context, r store.StartTransaction16) (store.StartResult, error)
}

// TransactionStopper records StopTransaction.
type TransactionStopper interface {
	StopTransaction16(ctx context.Context, r store.StopTransaction16) (store.StopResult, error)
}

// MeterRecorder stores sampled values; *store.Store writes each report on
// its own, *store.MeterBatcher groups concurrent reports into one commit.
type MeterRecorder interface {
	RecordMeterValues(ctx context.Context, r store.MeterReport) error
}

// maxIdTagLength is 1.6's IdToken (CiString20).
const maxIdTagLength = 20

// idTagInfo answers a token's authorization in 1.6 terms: 1.6 has no
// "Unknown", an unknown idTag is Invalid.
func idTagInfo(a store.Authorization) ocpp16.IdTagInfo {
	info := ocpp16.IdTagInfo{Status: ocpp16.AuthorizationStatus(a.Status)}
	if a.Status == store.AuthUnknown {
		info.Status = ocpp16.AuthorizationStatusInvalid
	}
	if t := a.Token; t != nil {
		if t.ExpiresAt != nil {
			info.ExpiryDate = t.ExpiresAt.UTC()
		}
		// A group id too long for 1.6 cannot be sent; the tag itself
		// still works.
		if t.GroupID != nil && len(*t.GroupID) <= maxIdTagLength {
			info.ParentIdTag = *t.GroupID
		}
	}
	return info
}

// samples converts 1.6 meter values to the store's form.
func samples(mvs []ocpp16.MeterValue) []store.Sample {
	var out []store.Sample
	for _, mv := range mvs {
		for _, sv := range mv.SampledValue {
			out = append(out, store.Sample{
				Timestamp: mv.Timestamp,
				Value:     sv.Value,
				Measurand: string(sv.Measurand),
				Phase:     string(sv.Phase),
				Unit:      string(sv.Unit),
				Context:   string(sv.Context),
				Location:  string(sv.Location),
				Format:    string(sv.Format),
			})
		}
	}
	return out
}
