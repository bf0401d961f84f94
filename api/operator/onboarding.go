package operator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/admission"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/onboarding"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// bootTriggerTimeout bounds the TriggerMessage an accept sends: the
// station is accepted either way, and the caller should not wait for a
// charger that does not answer.
const bootTriggerTimeout = 10 * time.Second

// stationFilter reads ListStations' status filter.
func stationFilter(status string) (store.StationFilter, error) {
	switch status {
	case "":
		return store.StationFilter{}, nil
	case "pending":
		return store.StationFilter{Onboarding: string(onboarding.Pending)}, nil
	case "accepted":
		return store.StationFilter{Onboarding: string(onboarding.Accepted)}, nil
	case "rejected":
		return store.StationFilter{Onboarding: string(onboarding.Rejected)}, nil
	case "blocked":
		blocked := true
		return store.StationFilter{Blocked: &blocked}, nil
	}
	return store.StationFilter{}, fmt.Errorf("status must be pending, accepted, rejected or blocked")
}

// onboardingText is the API's spelling of a stored onboarding state.
func onboardingText(stored string) string {
	st, err := onboarding.Parse(stored)
	if err != nil {
		return strings.ToLower(stored)
	}
	return strings.ToLower(string(st))
}

func states(ss []onboarding.State) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// onboardingError maps a refused state change.
func (s *StationService) onboardingError(ctx context.Context, err error, id, what string) error {
	if errors.Is(err, store.ErrWrongState) {
		return status.Errorf(codes.FailedPrecondition, "station %q cannot be %s in its state (block an accepted station instead)", id, what)
	}
	return storeError(ctx, s.logger, err, notFoundMsg(id))
}

// AcceptStation accepts a pending or rejected station and, if it is
// connected, asks it to boot now so that it need not wait for its retry
// interval.
func (s *StationService) AcceptStation(ctx context.Context, req *chargeplanev1.AcceptStationRequest) (*chargeplanev1.AcceptStationResponse, error) {
	if err := ValidateStationRef(req.GetId()); err != nil {
		return nil, invalid(err)
	}
	var (
		hash    *string
		profile *int
	)
	if req.GetPassword() != "" {
		if err := ValidateStationPassword(req.GetPassword()); err != nil {
			return nil, invalid(err)
		}
		h, err := auth.HashSecret(req.GetPassword())
		if err != nil {
			s.logger.ErrorContext(ctx, "hash station password", "err", err)
			return nil, status.Error(codes.Internal, "internal error")
		}
		hash = &h
		// A station that connected without credentials (profile 0) is
		// checked by its password from now on; one that proved its id
		// with a certificate (profile 3) keeps doing so.
		cur, err := s.stations.GetStation(ctx, req.GetId())
		if err != nil {
			return nil, storeError(ctx, s.logger, err, notFoundMsg(req.GetId()))
		}
		if cur.SecurityProfile == admission.ProfileNone {
			basic := admission.ProfileBasic
			profile = &basic
		}
	}
	st, err := s.stations.SetOnboarding(ctx, req.GetId(), string(onboarding.Accepted), states(onboarding.AcceptableFrom()), hash, profile)
	if err != nil {
		return nil, s.onboardingError(ctx, err, req.GetId(), "accepted")
	}
	s.logger.InfoContext(ctx, "station accepted", "station", st.ID, "password_set", hash != nil)
	resp := &chargeplanev1.AcceptStationResponse{Station: StationToProto(st)}
	if st.Connected && s.cmds.s != nil {
		resp.BootTriggered = s.triggerBoot(ctx, st.ID)
	}
	return resp, nil
}

// triggerBoot asks the station for a BootNotification; a failure only
// means it boots at its own pace.
func (s *StationService) triggerBoot(ctx context.Context, id string) bool {
	ctx, cancel := context.WithTimeout(ctx, bootTriggerTimeout)
	defer cancel()
	r, err := command.Do[command.Reply](ctx, s.cmds.s, id, RequestedBy(ctx),
		&chargeplanev1.TriggerMessageRequest{StationId: id, RequestedMessage: "BootNotification"})
	if err != nil {
		s.logger.WarnContext(ctx, "accepted station not asked to boot now", "station", id, "err", err)
		return false
	}
	s.logger.InfoContext(ctx, "accepted station asked to boot now", "station", id, "answer", r.Status)
	return r.Status == "Accepted"
}

// RejectStation rejects a pending station.
func (s *StationService) RejectStation(ctx context.Context, req *chargeplanev1.RejectStationRequest) (*chargeplanev1.RejectStationResponse, error) {
	if err := ValidateStationRef(req.GetId()); err != nil {
		return nil, invalid(err)
	}
	st, err := s.stations.SetOnboarding(ctx, req.GetId(), string(onboarding.Rejected), states(onboarding.RejectableFrom()), nil, nil)
	if err != nil {
		return nil, s.onboardingError(ctx, err, req.GetId(), "rejected")
	}
	s.logger.InfoContext(ctx, "station rejected", "station", st.ID)
	return &chargeplanev1.RejectStationResponse{Station: StationToProto(st)}, nil
}

// BlockStation refuses the station's connections and closes the open one.
func (s *StationService) BlockStation(ctx context.Context, req *chargeplanev1.BlockStationRequest) (*chargeplanev1.BlockStationResponse, error) {
	if err := ValidateStationRef(req.GetId()); err != nil {
		return nil, invalid(err)
	}
	st, err := s.stations.SetBlocked(ctx, req.GetId(), true)
	if err != nil {
		return nil, storeError(ctx, s.logger, err, notFoundMsg(req.GetId()))
	}
	s.logger.InfoContext(ctx, "station blocked", "station", st.ID)
	if s.conns != nil {
		// The block is committed: a lost close leaves a socket whose
		// messages the router refuses, until its pings fail or it
		// reconnects and is refused.
		if err := s.conns.CloseStationConnection(ctx, st, "station blocked by an operator"); err != nil {
			s.logger.ErrorContext(ctx, "blocked station's connection not closed", "station", st.ID, "err", err)
		}
	}
	return &chargeplanev1.BlockStationResponse{Station: StationToProto(st)}, nil
}

// UnblockStation lets a blocked station connect again.
func (s *StationService) UnblockStation(ctx context.Context, req *chargeplanev1.UnblockStationRequest) (*chargeplanev1.UnblockStationResponse, error) {
	if err := ValidateStationRef(req.GetId()); err != nil {
		return nil, invalid(err)
	}
	st, err := s.stations.SetBlocked(ctx, req.GetId(), false)
	if err != nil {
		return nil, storeError(ctx, s.logger, err, notFoundMsg(req.GetId()))
	}
	s.logger.InfoContext(ctx, "station unblocked", "station", st.ID)
	return &chargeplanev1.UnblockStationResponse{Station: StationToProto(st)}, nil
}
