package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// Remote start waits for the transaction it produced this long by default,
// and at most MaxRemoteStartWait.
const (
	DefaultRemoteStartWait = 10 * time.Second
	MaxRemoteStartWait     = 60 * time.Second
)

// RemoteControlStore is what RemoteControlService reads: the transactions
// a remote stop names and a remote start produces.
type RemoteControlStore interface {
	GetTransaction(ctx context.Context, id int64) (*store.Transaction, error)
	GetTransactionByUID(ctx context.Context, stationID, uid string) (*store.Transaction, error)
	FindRemoteStart(ctx context.Context, q store.RemoteStartQuery) (*store.Transaction, error)
	LastTransactionID(ctx context.Context, stationID string) (int64, error)
}

// RemoteControlDeps are RemoteControlService's collaborators.
type RemoteControlDeps struct {
	Commands *command.Sender
	Store    RemoteControlStore
	// PollInterval is how often a remote start looks for its transaction
	// (default 200ms).
	PollInterval time.Duration
	Logger       *slog.Logger
}

// RemoteControlService implements chargeplane.v1.RemoteControlService.
type RemoteControlService struct {
	chargeplanev1.UnimplementedRemoteControlServiceServer

	cmds commands
	txs  RemoteControlStore
	poll time.Duration
	log  *slog.Logger
}

// NewRemoteControlService returns the remote-control commands.
func NewRemoteControlService(d RemoteControlDeps) *RemoteControlService {
	if d.PollInterval <= 0 {
		d.PollInterval = 200 * time.Millisecond
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return &RemoteControlService{
		cmds: commands{s: d.Commands, log: d.Logger},
		txs:  d.Store, poll: d.PollInterval, log: d.Logger,
	}
}

// RemoteStart asks the station to start a transaction and, when it
// accepts, waits (bounded) for the transaction to be reported.
func (s *RemoteControlService) RemoteStart(ctx context.Context, req *chargeplanev1.RemoteStartRequest) (*chargeplanev1.RemoteStartResponse, error) {
	if req.GetIdToken() == "" {
		return nil, status.Error(codes.InvalidArgument, "id_token is required")
	}
	wait := DefaultRemoteStartWait
	if req.WaitSeconds != nil {
		w := time.Duration(req.GetWaitSeconds()) * time.Second
		if w < 0 || w > MaxRemoteStartWait {
			return nil, status.Errorf(codes.InvalidArgument, "wait_seconds must be between 0 and %d", int(MaxRemoteStartWait/time.Second))
		}
		wait = w
	}
	if err := errors.Join(positive("evse_id", req.EvseId), positive("connector_id", req.ConnectorId)); err != nil {
		return nil, err
	}
	if err := ValidateStationRef(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	// Read before sending, so that whatever the station starts in answer
	// has a greater id (see store.RemoteStartQuery).
	last, err := s.txs.LastTransactionID(ctx, req.GetStationId())
	if err != nil {
		return nil, storeError(ctx, s.log, err, "")
	}
	r, err := do[command.RemoteStartReply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	resp := &chargeplanev1.RemoteStartResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode,
		AdditionalInfo: r.AdditionalInfo, RemoteStartId: int32(r.RemoteStartID)}
	if r.Status != "Accepted" || wait == 0 {
		return resp, nil
	}
	q := r.Find
	q.AfterID = last
	find := func(ctx context.Context) (*store.Transaction, error) { return s.txs.FindRemoteStart(ctx, q) }
	if r.TransactionUID != "" {
		// The station had a transaction going already (cable first) and
		// named it.
		find = func(ctx context.Context) (*store.Transaction, error) {
			return s.txs.GetTransactionByUID(ctx, req.GetStationId(), r.TransactionUID)
		}
	}
	t, err := s.awaitTransaction(ctx, wait, find)
	if err != nil {
		return nil, err
	}
	if t != nil {
		t.MeterValues = nil
		resp.Transaction = TransactionToProto(t)
	}
	return resp, nil
}

// awaitTransaction polls find until it returns a transaction or wait has
// passed (nil then). The store is polled rather than notified because the
// transaction may be recorded by any core instance.
func (s *RemoteControlService) awaitTransaction(ctx context.Context, wait time.Duration, find func(context.Context) (*store.Transaction, error)) (*store.Transaction, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(s.poll)
	defer tick.Stop()
	for {
		t, err := find(ctx)
		switch {
		case err == nil:
			return t, nil
		case errors.Is(err, store.ErrNotFound):
		case ctx.Err() != nil:
			return nil, status.FromContextError(ctx.Err()).Err()
		default:
			// The station accepted: its answer is worth more than the
			// missing link, so report it without the transaction.
			s.log.WarnContext(ctx, "remote start: looking up the transaction failed", "err", err)
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-deadline.C:
			return nil, nil
		case <-tick.C:
		}
	}
}

// RemoteStop asks the station to stop one of its transactions, named by
// the CSMS's id.
func (s *RemoteControlService) RemoteStop(ctx context.Context, req *chargeplanev1.RemoteStopRequest) (*chargeplanev1.RemoteStopResponse, error) {
	t, err := s.transaction(ctx, req.GetStationId(), req.GetTransactionId())
	if err != nil {
		return nil, err
	}
	r, err := do[command.Reply](ctx, s.cmds, req.GetStationId(), command.RemoteStop{Transaction: t})
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.RemoteStopResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode, AdditionalInfo: r.AdditionalInfo}, nil
}

// transaction looks up a transaction of the station.
func (s *RemoteControlService) transaction(ctx context.Context, stationID string, id int64) (*store.Transaction, error) {
	if id <= 0 {
		return nil, status.Error(codes.InvalidArgument, "transaction_id must be a positive transaction id")
	}
	if err := ValidateStationRef(stationID); err != nil {
		return nil, invalid(err)
	}
	t, err := s.txs.GetTransaction(ctx, id)
	if err == nil && t.StationID != stationID {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, storeError(ctx, s.log, err, fmt.Sprintf("transaction %d of station %q not found", id, stationID))
	}
	return t, nil
}

// GetTransactionStatus asks a 2.0.1 station whether it still has messages
// of a transaction (or of any) to deliver.
func (s *RemoteControlService) GetTransactionStatus(ctx context.Context, req *chargeplanev1.GetTransactionStatusRequest) (*chargeplanev1.GetTransactionStatusResponse, error) {
	var in command.TransactionStatus
	if req.TransactionId != nil {
		t, err := s.transaction(ctx, req.GetStationId(), req.GetTransactionId())
		if err != nil {
			return nil, err
		}
		in.Transaction = t
	}
	r, err := do[command.TransactionStatusReply](ctx, s.cmds, req.GetStationId(), in)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.GetTransactionStatusResponse{CommandId: r.CommandID, MessagesInQueue: r.MessagesInQueue, Ongoing: r.Ongoing}, nil
}

// CostUpdated sends a 2.0.1 station a transaction's running cost.
func (s *RemoteControlService) CostUpdated(ctx context.Context, req *chargeplanev1.CostUpdatedRequest) (*chargeplanev1.CostUpdatedResponse, error) {
	c := req.GetTotalCost()
	if c < 0 || math.IsNaN(c) || math.IsInf(c, 0) {
		return nil, status.Error(codes.InvalidArgument, "total_cost must be a non-negative number")
	}
	t, err := s.transaction(ctx, req.GetStationId(), req.GetTransactionId())
	if err != nil {
		return nil, err
	}
	r, err := do[command.Reply](ctx, s.cmds, req.GetStationId(), command.CostUpdate{Transaction: t, TotalCost: c})
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.CostUpdatedResponse{CommandId: r.CommandID}, nil
}

// Reset restarts the station (or, in 2.0.1, one EVSE).
func (s *RemoteControlService) Reset(ctx context.Context, req *chargeplanev1.ResetRequest) (*chargeplanev1.ResetResponse, error) {
	if err := positive("evse_id", req.EvseId); err != nil {
		return nil, err
	}
	r, err := do[command.Reply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.ResetResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode, AdditionalInfo: r.AdditionalInfo}, nil
}

// ChangeAvailability makes the station, an EVSE or a connector operative
// or inoperative.
func (s *RemoteControlService) ChangeAvailability(ctx context.Context, req *chargeplanev1.ChangeAvailabilityRequest) (*chargeplanev1.ChangeAvailabilityResponse, error) {
	st := req.GetOperationalStatus()
	if st != "Operative" && st != "Inoperative" {
		return nil, status.Errorf(codes.InvalidArgument, "operational_status is Operative or Inoperative, not %q", st)
	}
	if err := errors.Join(nonNegative("connector_id", req.ConnectorId), positive("evse_id", req.EvseId)); err != nil {
		return nil, err
	}
	r, err := do[command.Reply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.ChangeAvailabilityResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode, AdditionalInfo: r.AdditionalInfo}, nil
}

// UnlockConnector releases a connector's cable.
func (s *RemoteControlService) UnlockConnector(ctx context.Context, req *chargeplanev1.UnlockConnectorRequest) (*chargeplanev1.UnlockConnectorResponse, error) {
	if req.GetConnectorId() <= 0 {
		return nil, status.Error(codes.InvalidArgument, "connector_id must be positive")
	}
	if err := positive("evse_id", req.EvseId); err != nil {
		return nil, err
	}
	r, err := do[command.Reply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.UnlockConnectorResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode, AdditionalInfo: r.AdditionalInfo}, nil
}

// TriggerMessage asks the station to send one of its messages now.
func (s *RemoteControlService) TriggerMessage(ctx context.Context, req *chargeplanev1.TriggerMessageRequest) (*chargeplanev1.TriggerMessageResponse, error) {
	if req.GetRequestedMessage() == "" {
		return nil, status.Error(codes.InvalidArgument, "requested_message is required")
	}
	if err := errors.Join(nonNegative("connector_id", req.ConnectorId), positive("evse_id", req.EvseId)); err != nil {
		return nil, err
	}
	r, err := do[command.Reply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.TriggerMessageResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode, AdditionalInfo: r.AdditionalInfo}, nil
}

// ClearCache empties the station's authorization cache.
func (s *RemoteControlService) ClearCache(ctx context.Context, req *chargeplanev1.ClearCacheRequest) (*chargeplanev1.ClearCacheResponse, error) {
	r, err := do[command.Reply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.ClearCacheResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode, AdditionalInfo: r.AdditionalInfo}, nil
}

// DataTransfer sends a vendor-specific message.
func (s *RemoteControlService) DataTransfer(ctx context.Context, req *chargeplanev1.DataTransferRequest) (*chargeplanev1.DataTransferResponse, error) {
	if req.GetVendorId() == "" {
		return nil, status.Error(codes.InvalidArgument, "vendor_id is required")
	}
	r, err := do[command.JSONReply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	resp := &chargeplanev1.DataTransferResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode, AdditionalInfo: r.AdditionalInfo}
	if len(r.Data) > 0 {
		resp.Data = &structpb.Value{}
		if err := protojson.Unmarshal(r.Data, resp.Data); err != nil {
			s.log.WarnContext(ctx, "DataTransfer answer data unreadable", "station", req.GetStationId(), "err", err)
			resp.Data = nil
		}
	}
	return resp, nil
}
