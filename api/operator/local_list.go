package operator

import (
	"context"
	"errors"
	"log/slog"
	"time"

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
	LocalListState(ctx context.Context, stationID string) (store.LocalListVersion, []store.LocalListEntry, error)
	AllIDTokens(ctx context.Context) ([]store.IDToken, error)
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
// decides which tokens have expired (nil: time.Now).
func NewLocalListService(cmds *command.Sender, st LocalListStore, now func() time.Time, logger *slog.Logger) *LocalListService {
	if logger == nil {
		logger = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &LocalListService{send: commands{s: cmds, log: logger}, store: st, now: now, log: logger}
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
// Differential since the version it last accepted, in as many messages as
// the station says it takes (api/locallist plans them), and remembers what
// it holds once it accepts each.
func (s *LocalListService) SendLocalList(ctx context.Context, req *chargeplanev1.SendLocalListRequest) (*chargeplanev1.SendLocalListResponse, error) {
	typ, ok := locallist.ParseType(req.GetUpdateType())
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "update_type %q is not Full or Differential", req.GetUpdateType())
	}
	id := req.GetStationId()
	if err := ValidateStationRef(id); err != nil {
		return nil, invalid(err)
	}
	v, err := s.send.s.Version(ctx, id)
	if err != nil {
		return nil, s.send.status(ctx, id, err)
	}
	// Planned before anything is sent: a list that cannot be planned is
	// refused without bothering the station.
	cur, held, err := s.store.LocalListState(ctx, id)
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(id))
	}
	tokens, err := s.store.AllIDTokens(ctx)
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(id))
	}
	desired := locallist.Desired(tokens, locallist.ShapeOf(v), s.now())
	u, err := locallist.Next(cur, held, desired, typ)
	if errors.Is(err, locallist.ErrNoBase) {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	limits, err := command.Do[locallist.Limits](ctx, s.send.s, id, RequestedBy(ctx), locallist.LimitsQuery{})
	if err != nil {
		// A station that refuses the question (a CALLERROR) or answers it
		// unreadably says nothing of its limits: the list goes in one
		// message, as it would to a station without any.
		if !refusedQuestion(err) {
			return nil, s.send.status(ctx, id, err)
		}
		s.log.WarnContext(ctx, "station did not tell its local list limits", "station", id, "err", err)
		limits = locallist.Limits{}
	}
	if err := limits.Check(len(desired)); err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	parts := locallist.Split(u, limits)
	out := &chargeplanev1.SendLocalListResponse{UpdateType: u.Type, PlannedMessages: int32(len(parts))}
	for _, p := range parts {
		r, err := do[command.LocalListReply](ctx, s.send, id, p)
		if err != nil {
			if out.Messages > 0 {
				s.log.WarnContext(ctx, "local list sent in part", "station", id, "accepted_messages", out.Messages, "planned", len(parts), "err", err)
			}
			return nil, err
		}
		out.Messages++
		out.CommandId, out.Status, out.Version, out.ReasonCode = r.CommandID, r.Status, int32(r.Version), r.ReasonCode
		out.Updated += int32(r.Updated)
		out.Removed += int32(r.Removed)
		if r.Accepted == nil {
			out.AcceptedAt = nil
			break
		}
		out.AcceptedAt = ts(r.Accepted.UpdatedAt)
	}
	if out.AcceptedAt != nil && out.Messages == out.PlannedMessages {
		s.log.InfoContext(ctx, "local list accepted", "station", id, "version", out.Version, "update_type", u.Type,
			"updated", out.Updated, "removed", out.Removed, "messages", out.Messages)
	}
	return out, nil
}

// refusedQuestion says whether err is the station's refusal of a command
// (a CALLERROR, or an answer that cannot be read) rather than its absence.
func refusedQuestion(err error) bool {
	var ce *command.ChargerError
	var ue *command.UnreadableAnswerError
	return errors.As(err, &ce) || errors.As(err, &ue)
}
