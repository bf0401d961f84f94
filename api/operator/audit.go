package operator

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/audit"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// AuditStore is what AuditService reads.
type AuditStore interface {
	ListAudit(ctx context.Context, f store.AuditFilter, p store.SeqPage) ([]audit.Record, error)
}

// AuditService implements chargeplane.v1.AuditService.
type AuditService struct {
	chargeplanev1.UnimplementedAuditServiceServer
	store AuditStore
	log   *slog.Logger
}

// NewAuditService returns the audit trail's reader.
func NewAuditService(st AuditStore, logger *slog.Logger) *AuditService {
	if logger == nil {
		logger = slog.Default()
	}
	return &AuditService{store: st, log: logger}
}

const auditCursor = "aud1:"

// ListAuditRecords pages through the trail, newest first.
func (s *AuditService) ListAuditRecords(ctx context.Context, req *chargeplanev1.ListAuditRecordsRequest) (*chargeplanev1.ListAuditRecordsResponse, error) {
	page, err := readNewestPage(req, auditCursor)
	if err != nil {
		return nil, err
	}
	f := store.AuditFilter{Actor: req.GetActor(), StationID: req.GetStationId()}
	if req.GetStationId() != "" {
		if err := ValidateStationRef(req.GetStationId()); err != nil {
			return nil, invalid(err)
		}
	}
	if req.Since != nil {
		if err := req.GetSince().CheckValid(); err != nil {
			return nil, invalid(errors.New("invalid since"))
		}
		f.Since = req.GetSince().AsTime()
	}
	if req.Until != nil {
		if err := req.GetUntil().CheckValid(); err != nil {
			return nil, invalid(errors.New("invalid until"))
		}
		f.Until = req.GetUntil().AsTime()
	}
	rows, err := s.store.ListAudit(ctx, f, page.seq())
	if err != nil {
		return nil, storeError(ctx, s.log, err, "")
	}
	out := &chargeplanev1.ListAuditRecordsResponse{}
	rows, out.NextPageToken = cutNewest(page, rows, func(r *audit.Record) int64 { return r.Seq })
	for i := range rows {
		out.Records = append(out.Records, auditToProto(&rows[i]))
	}
	return out, nil
}

func auditToProto(r *audit.Record) *chargeplanev1.AuditRecord {
	return &chargeplanev1.AuditRecord{
		Seq: r.Seq, At: timestamppb.New(r.At), Actor: r.Actor, ActorKind: r.ActorKind, ActorId: r.ActorID,
		Address: r.Addr, Method: r.Method, TargetType: r.TargetType, TargetId: r.TargetID, StationId: r.StationID,
		Request: r.Request, Outcome: string(r.Outcome), Code: r.Code, Error: r.Error,
	}
}
