package operator

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/locallist"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// LocalListStore is what LocalListService reads.
type LocalListStore interface {
	GetLocalListVersion(ctx context.Context, stationID string) (store.LocalListVersion, error)
}

// LocalListService implements chargeplane.v1.LocalListService.
type LocalListService struct {
	chargeplanev1.UnimplementedLocalListServiceServer

	send  commands
	store LocalListStore
	log   *slog.Logger
}

// NewLocalListService returns the local authorization list commands.
func NewLocalListService(cmds *command.Sender, st LocalListStore, logger *slog.Logger) *LocalListService {
	if logger == nil {
		logger = slog.Default()
	}
	return &LocalListService{send: commands{s: cmds, log: logger}, store: st, log: logger}
}

// GetLocalListVersion asks the station for its list version, and tells
// the one it last accepted from this CSMS.
func (s *LocalListService) GetLocalListVersion(ctx context.Context, req *chargeplanev1.GetLocalListVersionRequest) (*chargeplanev1.GetLocalListVersionResponse, error) {
	r, err := do[command.ListVersionReply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	acc, err := s.store.GetLocalListVersion(ctx, req.GetStationId())
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	return &chargeplanev1.GetLocalListVersionResponse{CommandId: r.CommandID, Version: int32(r.Version), AcceptedVersion: int32(acc.Version)}, nil
}

// SendLocalList sends the station a Full list of every id token, or the
// Differential since the version it last accepted, and remembers what it
// holds once it accepts.
func (s *LocalListService) SendLocalList(ctx context.Context, req *chargeplanev1.SendLocalListRequest) (*chargeplanev1.SendLocalListResponse, error) {
	if _, ok := locallist.ParseType(req.GetUpdateType()); !ok {
		return nil, status.Errorf(codes.InvalidArgument, "update_type %q is not Full or Differential", req.GetUpdateType())
	}
	r, err := do[command.LocalListReply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	out := &chargeplanev1.SendLocalListResponse{
		CommandId: r.CommandID, Status: r.Status, Version: int32(r.Version), UpdateType: r.UpdateType,
		Updated: int32(r.Updated), Removed: int32(r.Removed), ReasonCode: r.ReasonCode,
	}
	if r.Accepted != nil {
		out.AcceptedAt = ts(r.Accepted.UpdatedAt)
		s.log.InfoContext(ctx, "local list accepted", "station", req.GetStationId(), "version", r.Version,
			"update_type", r.UpdateType, "updated", r.Updated, "removed", r.Removed)
	}
	return out, nil
}
