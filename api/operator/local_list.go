package operator

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// LocalListStore is what LocalListService needs.
type LocalListStore interface {
	GetLocalListVersion(ctx context.Context, stationID string) (store.LocalListVersion, error)
	PlanLocalList(ctx context.Context, stationID, updateType string, o store.LocalListOptions) (*store.LocalListPlan, error)
	CommitLocalList(ctx context.Context, p *store.LocalListPlan) error
}

// LocalListService implements chargeplane.v1.LocalListService.
type LocalListService struct {
	chargeplanev1.UnimplementedLocalListServiceServer

	send  commands
	store LocalListStore
	now   func() time.Time
	log   *slog.Logger
}

// NewLocalListService returns the local authorization list commands; now
// nil means time.Now.
func NewLocalListService(cmds Commander, st LocalListStore, now func() time.Time, logger *slog.Logger) *LocalListService {
	if logger == nil {
		logger = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &LocalListService{send: commands{c: cmds, log: logger}, store: st, now: now, log: logger}
}

// GetLocalListVersion asks the station for its list version.
func (s *LocalListService) GetLocalListVersion(ctx context.Context, req *chargeplanev1.GetLocalListVersionRequest) (*chargeplanev1.GetLocalListVersionResponse, error) {
	v, err := s.send.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	out := &chargeplanev1.GetLocalListVersionResponse{}
	if v == ocppj.V16 {
		var ans ocpp16.GetLocalListVersionResponse
		if out.CommandId, err = s.send.call(ctx, req.GetStationId(), ocpp16.ActionGetLocalListVersion, ocpp16.GetLocalListVersionRequest{}, &ans); err != nil {
			return nil, err
		}
		out.Version = int32(ans.ListVersion)
	} else {
		var ans ocpp201.GetLocalListVersionResponse
		if out.CommandId, err = s.send.call(ctx, req.GetStationId(), ocpp201.ActionGetLocalListVersion, ocpp201.GetLocalListVersionRequest{}, &ans); err != nil {
			return nil, err
		}
		out.Version = int32(ans.VersionNumber)
	}
	acc, err := s.store.GetLocalListVersion(ctx, req.GetStationId())
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	out.AcceptedVersion = int32(acc.Version)
	return out, nil
}

// SendLocalList sends the station a Full list of every id token, or the
// Differential since the version it last accepted, and remembers what it
// holds once it accepts.
func (s *LocalListService) SendLocalList(ctx context.Context, req *chargeplanev1.SendLocalListRequest) (*chargeplanev1.SendLocalListResponse, error) {
	updateType := store.LocalListFull
	switch strings.ToLower(req.GetUpdateType()) {
	case "", "full":
	case "differential":
		updateType = store.LocalListDifferential
	default:
		return nil, status.Errorf(codes.InvalidArgument, "update_type %q is not Full or Differential", req.GetUpdateType())
	}
	v, err := s.send.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	maxLen := MaxIDTokenLen
	if v == ocppj.V16 {
		maxLen = MaxIDTag16Len
	}
	plan, err := s.store.PlanLocalList(ctx, req.GetStationId(), updateType, store.LocalListOptions{MaxTokenLen: maxLen, At: s.now()})
	if errors.Is(err, store.ErrInvalid) {
		// The only refusal once update_type is valid: nothing to build on.
		return nil, status.Error(codes.FailedPrecondition, "the station has accepted no local list from this CSMS yet: send a Full update first")
	}
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}

	var payload any
	if v == ocppj.V16 {
		p := ocpp16.SendLocalListRequest{ListVersion: plan.Version, UpdateType: ocpp16.UpdateType(plan.UpdateType)}
		for _, e := range plan.Updated {
			info := &ocpp16.IdTagInfo{Status: ocpp16.AuthorizationStatus(e.Status), ParentIdTag: e.GroupID}
			if e.ExpiresAt != nil {
				info.ExpiryDate = ocppTime(*e.ExpiresAt)
			}
			p.LocalAuthorizationList = append(p.LocalAuthorizationList, ocpp16.AuthorizationData{IdTag: e.IDToken, IdTagInfo: info})
		}
		for _, e := range plan.Removed {
			p.LocalAuthorizationList = append(p.LocalAuthorizationList, ocpp16.AuthorizationData{IdTag: e.IDToken})
		}
		payload = p
	} else {
		p := ocpp201.SendLocalListRequest{VersionNumber: plan.Version, UpdateType: ocpp201.UpdateEnum(plan.UpdateType)}
		for _, e := range plan.Updated {
			info := &ocpp201.IdTokenInfo{Status: ocpp201.AuthorizationStatusEnum(e.Status)}
			if e.ExpiresAt != nil {
				info.CacheExpiryDateTime = ocppTime(*e.ExpiresAt)
			}
			if e.GroupID != "" {
				info.GroupIdToken = &ocpp201.IdToken{IdToken: e.GroupID, Type: ocpp201.IdTokenEnum(e.GroupType)}
			}
			p.LocalAuthorizationList = append(p.LocalAuthorizationList, ocpp201.AuthorizationData{
				IdToken: ocpp201.IdToken{IdToken: e.IDToken, Type: ocpp201.IdTokenEnum(e.IDTokenType)}, IdTokenInfo: info})
		}
		for _, e := range plan.Removed {
			p.LocalAuthorizationList = append(p.LocalAuthorizationList, ocpp201.AuthorizationData{
				IdToken: ocpp201.IdToken{IdToken: e.IDToken, Type: ocpp201.IdTokenEnum(e.IDTokenType)}})
		}
		payload = p
	}

	var ans answer
	cmdID, err := s.send.call(ctx, req.GetStationId(), "SendLocalList", payload, &ans)
	if err != nil {
		return nil, err
	}
	out := &chargeplanev1.SendLocalListResponse{
		CommandId: cmdID, Status: ans.Status, Version: int32(plan.Version), UpdateType: plan.UpdateType,
		Updated: int32(len(plan.Updated)), Removed: int32(len(plan.Removed)), ReasonCode: ans.reason(),
	}
	if ans.Status != "Accepted" {
		return out, nil
	}
	// The station holds the new list whether or not our caller still waits.
	if err := s.store.CommitLocalList(context.WithoutCancel(ctx), plan); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, status.Error(codes.Aborted, "another local list update of this station was accepted meanwhile: send a Full update")
		}
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	out.AcceptedAt = ts(s.now())
	s.log.InfoContext(ctx, "local list accepted", "station", req.GetStationId(), "version", plan.Version,
		"update_type", plan.UpdateType, "updated", len(plan.Updated), "removed", len(plan.Removed))
	return out, nil
}
