package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
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
	Commands Commander
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
		cmds: commands{c: d.Commands, log: d.Logger},
		txs:  d.Store, poll: d.PollInterval, log: d.Logger,
	}
}

// onlyIn refuses a field the station's version has no place for.
func onlyIn(v ocppj.Version, want ocppj.Version, field string, set bool) error {
	if set && v != want {
		return status.Errorf(codes.InvalidArgument, "%s exists only in OCPP %s; the station speaks OCPP %s", field, want, v)
	}
	return nil
}

func positive(field string, v *int32) error {
	if v != nil && *v <= 0 {
		return status.Errorf(codes.InvalidArgument, "%s must be positive", field)
	}
	return nil
}

func intp(v *int32) *int {
	if v == nil {
		return nil
	}
	i := int(*v)
	return &i
}

// newRequestID picks a 2.0.1 requestId / remoteStartId: positive, and
// random so that ids from several core instances do not collide.
func newRequestID() int { return 1 + rand.IntN(1<<31-2) }

// answer is the shape of every status-bearing answer (both versions).
type answer struct {
	Status     string `json:"status"`
	StatusInfo *struct {
		ReasonCode     string `json:"reasonCode"`
		AdditionalInfo string `json:"additionalInfo"`
	} `json:"statusInfo"`
	// RequestStartTransaction only.
	TransactionID string `json:"transactionId"`
	// DataTransfer only.
	Data json.RawMessage `json:"data"`
}

func (a *answer) info() (reason, additional string) {
	if a.StatusInfo == nil {
		return "", ""
	}
	return a.StatusInfo.ReasonCode, a.StatusInfo.AdditionalInfo
}

// remoteStart16 is RemoteStartTransaction with the charging profile passed
// through as the operator wrote it, so that the schema judges it whole.
type remoteStart16 struct {
	ConnectorID     *int            `json:"connectorId,omitempty"`
	IDTag           string          `json:"idTag"`
	ChargingProfile json.RawMessage `json:"chargingProfile,omitempty"`
}

type requestStart201 struct {
	EvseID          *int            `json:"evseId,omitempty"`
	IDToken         ocpp201.IdToken `json:"idToken"`
	RemoteStartID   int             `json:"remoteStartId"`
	ChargingProfile json.RawMessage `json:"chargingProfile,omitempty"`
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
	v, err := s.cmds.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	var profile json.RawMessage
	if req.ChargingProfile != nil {
		if profile, err = protojson.Marshal(req.ChargingProfile); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "charging_profile: %v", err)
		}
	}
	if err := errors.Join(
		onlyIn(v, ocppj.V201, "evse_id", req.EvseId != nil),
		onlyIn(v, ocppj.V201, "id_token_type", req.GetIdTokenType() != ""),
		onlyIn(v, ocppj.V16, "connector_id", req.ConnectorId != nil),
	); err != nil {
		return nil, err
	}

	resp := &chargeplanev1.RemoteStartResponse{}
	var a answer
	var q store.RemoteStartQuery
	if v == ocppj.V16 {
		// Read before sending, so that whatever the station starts in
		// answer has a greater id (see store.RemoteStartQuery).
		last, lerr := s.txs.LastTransactionID(ctx, req.GetStationId())
		if lerr != nil {
			return nil, storeError(ctx, s.log, lerr, "")
		}
		p := remoteStart16{ConnectorID: intp(req.ConnectorId), IDTag: req.GetIdToken(), ChargingProfile: profile}
		resp.CommandId, err = s.cmds.call(ctx, req.GetStationId(), ocpp16.ActionRemoteStartTransaction, p, &a)
		q = store.RemoteStartQuery{StationID: req.GetStationId(), IDTag: req.GetIdToken(), AfterID: last}
		if req.ConnectorId != nil {
			q.ConnectorID = int(*req.ConnectorId)
		}
	} else {
		typ := req.GetIdTokenType()
		if typ == "" {
			typ = string(ocpp201.IdTokenEnumCentral)
		}
		id := newRequestID()
		p := requestStart201{
			EvseID:          intp(req.EvseId),
			IDToken:         ocpp201.IdToken{IdToken: req.GetIdToken(), Type: ocpp201.IdTokenEnum(typ)},
			RemoteStartID:   id,
			ChargingProfile: profile,
		}
		resp.RemoteStartId = int32(id)
		resp.CommandId, err = s.cmds.call(ctx, req.GetStationId(), ocpp201.ActionRequestStartTransaction, p, &a)
		q = store.RemoteStartQuery{StationID: req.GetStationId(), RemoteStartID: &id}
	}
	if err != nil {
		return nil, err
	}
	resp.Status = a.Status
	resp.ReasonCode, resp.AdditionalInfo = a.info()
	if a.Status != "Accepted" || wait == 0 {
		return resp, nil
	}
	find := func(ctx context.Context) (*store.Transaction, error) { return s.txs.FindRemoteStart(ctx, q) }
	if a.TransactionID != "" {
		// The station had a transaction going already (cable first) and
		// named it.
		find = func(ctx context.Context) (*store.Transaction, error) {
			return s.txs.GetTransactionByUID(ctx, req.GetStationId(), a.TransactionID)
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
	if req.GetTransactionId() <= 0 {
		return nil, status.Error(codes.InvalidArgument, "transaction_id must be a positive transaction id")
	}
	v, err := s.cmds.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	t, err := s.txs.GetTransaction(ctx, req.GetTransactionId())
	if err == nil && t.StationID != req.GetStationId() {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, storeError(ctx, s.log, err, fmt.Sprintf("transaction %d of station %q not found", req.GetTransactionId(), req.GetStationId()))
	}
	if t.OCPPVersion != v {
		return nil, status.Errorf(codes.InvalidArgument, "transaction %d was recorded under OCPP %s; the station now speaks OCPP %s", t.ID, t.OCPPVersion, v)
	}
	var a answer
	resp := &chargeplanev1.RemoteStopResponse{}
	if v == ocppj.V16 {
		// A transaction the station numbered itself is stopped by its number.
		id, err := strconv.ParseInt(strings.TrimPrefix(t.TransactionUID, "unknown:"), 10, 32)
		if err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "transaction %d has no 1.6 transactionId the station knows", t.ID)
		}
		resp.CommandId, err = s.cmds.call(ctx, req.GetStationId(), ocpp16.ActionRemoteStopTransaction,
			ocpp16.RemoteStopTransactionRequest{TransactionId: int(id)}, &a)
		if err != nil {
			return nil, err
		}
	} else {
		resp.CommandId, err = s.cmds.call(ctx, req.GetStationId(), ocpp201.ActionRequestStopTransaction,
			ocpp201.RequestStopTransactionRequest{TransactionId: t.TransactionUID}, &a)
		if err != nil {
			return nil, err
		}
	}
	resp.Status = a.Status
	resp.ReasonCode, resp.AdditionalInfo = a.info()
	return resp, nil
}

// Reset restarts the station (or, in 2.0.1, one EVSE).
func (s *RemoteControlService) Reset(ctx context.Context, req *chargeplanev1.ResetRequest) (*chargeplanev1.ResetResponse, error) {
	if err := positive("evse_id", req.EvseId); err != nil {
		return nil, err
	}
	v, err := s.cmds.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	if err := onlyIn(v, ocppj.V201, "evse_id", req.EvseId != nil); err != nil {
		return nil, err
	}
	typ := req.GetType()
	var action string
	var payload any
	if v == ocppj.V16 {
		if typ == "" {
			typ = string(ocpp16.ResetRequestTypeSoft)
		}
		if typ != string(ocpp16.ResetRequestTypeHard) && typ != string(ocpp16.ResetRequestTypeSoft) {
			return nil, status.Errorf(codes.InvalidArgument, "OCPP 1.6 reset type is Hard or Soft, not %q", typ)
		}
		action, payload = ocpp16.ActionReset, ocpp16.ResetRequest{Type: ocpp16.ResetRequestType(typ)}
	} else {
		if typ == "" {
			typ = string(ocpp201.ResetOnIdle)
		}
		if typ != string(ocpp201.ResetImmediate) && typ != string(ocpp201.ResetOnIdle) {
			return nil, status.Errorf(codes.InvalidArgument, "OCPP 2.0.1 reset type is Immediate or OnIdle, not %q", typ)
		}
		action, payload = ocpp201.ActionReset, ocpp201.ResetRequest{Type: ocpp201.ResetEnum(typ), EvseId: intp(req.EvseId)}
	}
	var a answer
	id, err := s.cmds.call(ctx, req.GetStationId(), action, payload, &a)
	if err != nil {
		return nil, err
	}
	r, info := a.info()
	return &chargeplanev1.ResetResponse{CommandId: id, Status: a.Status, ReasonCode: r, AdditionalInfo: info}, nil
}

// evse201 builds a 2.0.1 EVSEType from evse_id/connector_id; a connector
// needs its EVSE.
func evse201(evseID, connectorID *int32) (*ocpp201.EVSE, error) {
	if evseID == nil {
		if connectorID != nil {
			return nil, status.Error(codes.InvalidArgument, "connector_id needs evse_id in OCPP 2.0.1")
		}
		return nil, nil
	}
	return &ocpp201.EVSE{Id: int(*evseID), ConnectorId: intp(connectorID)}, nil
}

// ChangeAvailability makes the station, an EVSE or a connector operative
// or inoperative.
func (s *RemoteControlService) ChangeAvailability(ctx context.Context, req *chargeplanev1.ChangeAvailabilityRequest) (*chargeplanev1.ChangeAvailabilityResponse, error) {
	st := req.GetOperationalStatus()
	if st != "Operative" && st != "Inoperative" {
		return nil, status.Errorf(codes.InvalidArgument, "operational_status is Operative or Inoperative, not %q", st)
	}
	if req.ConnectorId != nil && *req.ConnectorId < 0 {
		return nil, status.Error(codes.InvalidArgument, "connector_id must not be negative")
	}
	v, err := s.cmds.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	if err := onlyIn(v, ocppj.V201, "evse_id", req.EvseId != nil); err != nil {
		return nil, err
	}
	var action string
	var payload any
	if v == ocppj.V16 {
		action = ocpp16.ActionChangeAvailability
		payload = ocpp16.ChangeAvailabilityRequest{ConnectorId: int(req.GetConnectorId()), Type: ocpp16.ChangeAvailabilityRequestType(st)}
	} else {
		if err := positive("evse_id", req.EvseId); err != nil {
			return nil, err
		}
		evse, err := evse201(req.EvseId, req.ConnectorId)
		if err != nil {
			return nil, err
		}
		action = ocpp201.ActionChangeAvailability
		payload = ocpp201.ChangeAvailabilityRequest{Evse: evse, OperationalStatus: ocpp201.OperationalStatusEnum(st)}
	}
	var a answer
	id, err := s.cmds.call(ctx, req.GetStationId(), action, payload, &a)
	if err != nil {
		return nil, err
	}
	r, info := a.info()
	return &chargeplanev1.ChangeAvailabilityResponse{CommandId: id, Status: a.Status, ReasonCode: r, AdditionalInfo: info}, nil
}

// UnlockConnector releases a connector's cable.
func (s *RemoteControlService) UnlockConnector(ctx context.Context, req *chargeplanev1.UnlockConnectorRequest) (*chargeplanev1.UnlockConnectorResponse, error) {
	if req.GetConnectorId() <= 0 {
		return nil, status.Error(codes.InvalidArgument, "connector_id must be positive")
	}
	if err := positive("evse_id", req.EvseId); err != nil {
		return nil, err
	}
	v, err := s.cmds.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	if err := onlyIn(v, ocppj.V201, "evse_id", req.EvseId != nil); err != nil {
		return nil, err
	}
	var action string
	var payload any
	if v == ocppj.V16 {
		action, payload = ocpp16.ActionUnlockConnector, ocpp16.UnlockConnectorRequest{ConnectorId: int(req.GetConnectorId())}
	} else {
		if req.EvseId == nil {
			return nil, status.Error(codes.InvalidArgument, "evse_id is required in OCPP 2.0.1")
		}
		action = ocpp201.ActionUnlockConnector
		payload = ocpp201.UnlockConnectorRequest{EvseId: int(req.GetEvseId()), ConnectorId: int(req.GetConnectorId())}
	}
	var a answer
	id, err := s.cmds.call(ctx, req.GetStationId(), action, payload, &a)
	if err != nil {
		return nil, err
	}
	r, info := a.info()
	return &chargeplanev1.UnlockConnectorResponse{CommandId: id, Status: a.Status, ReasonCode: r, AdditionalInfo: info}, nil
}

// TriggerMessage asks the station to send one of its messages now.
func (s *RemoteControlService) TriggerMessage(ctx context.Context, req *chargeplanev1.TriggerMessageRequest) (*chargeplanev1.TriggerMessageResponse, error) {
	if req.GetRequestedMessage() == "" {
		return nil, status.Error(codes.InvalidArgument, "requested_message is required")
	}
	if req.ConnectorId != nil && *req.ConnectorId < 0 {
		return nil, status.Error(codes.InvalidArgument, "connector_id must not be negative")
	}
	if err := positive("evse_id", req.EvseId); err != nil {
		return nil, err
	}
	v, err := s.cmds.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	if err := onlyIn(v, ocppj.V201, "evse_id", req.EvseId != nil); err != nil {
		return nil, err
	}
	var action string
	var payload any
	if v == ocppj.V16 {
		action = ocpp16.ActionTriggerMessage
		payload = ocpp16.TriggerMessageRequest{RequestedMessage: ocpp16.RequestedMessage(req.GetRequestedMessage()), ConnectorId: intp(req.ConnectorId)}
	} else {
		evse, err := evse201(req.EvseId, req.ConnectorId)
		if err != nil {
			return nil, err
		}
		action = ocpp201.ActionTriggerMessage
		payload = ocpp201.TriggerMessageRequest{Evse: evse, RequestedMessage: ocpp201.MessageTriggerEnum(req.GetRequestedMessage())}
	}
	var a answer
	id, err := s.cmds.call(ctx, req.GetStationId(), action, payload, &a)
	if err != nil {
		return nil, err
	}
	r, info := a.info()
	return &chargeplanev1.TriggerMessageResponse{CommandId: id, Status: a.Status, ReasonCode: r, AdditionalInfo: info}, nil
}

// ClearCache empties the station's authorization cache.
func (s *RemoteControlService) ClearCache(ctx context.Context, req *chargeplanev1.ClearCacheRequest) (*chargeplanev1.ClearCacheResponse, error) {
	if _, err := s.cmds.version(ctx, req.GetStationId()); err != nil {
		return nil, err
	}
	var a answer
	// The action has the same name and an empty request in both versions.
	id, err := s.cmds.call(ctx, req.GetStationId(), ocpp16.ActionClearCache, struct{}{}, &a)
	if err != nil {
		return nil, err
	}
	r, info := a.info()
	return &chargeplanev1.ClearCacheResponse{CommandId: id, Status: a.Status, ReasonCode: r, AdditionalInfo: info}, nil
}

// DataTransfer sends a vendor-specific message.
func (s *RemoteControlService) DataTransfer(ctx context.Context, req *chargeplanev1.DataTransferRequest) (*chargeplanev1.DataTransferResponse, error) {
	if req.GetVendorId() == "" {
		return nil, status.Error(codes.InvalidArgument, "vendor_id is required")
	}
	v, err := s.cmds.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	var payload any
	if v == ocppj.V16 {
		p := ocpp16.DataTransferRequest{VendorId: req.GetVendorId(), MessageId: req.GetMessageId()}
		if d := req.GetData(); d != nil {
			str, ok := d.GetKind().(*structpb.Value_StringValue)
			if !ok {
				return nil, status.Error(codes.InvalidArgument, "OCPP 1.6 DataTransfer data must be a string")
			}
			p.Data = str.StringValue
		}
		payload = p
	} else {
		p := ocpp201.DataTransferRequest{VendorId: req.GetVendorId(), MessageId: req.GetMessageId()}
		if d := req.GetData(); d != nil {
			if p.Data, err = protojson.Marshal(d); err != nil {
				return nil, status.Errorf(codes.InvalidArgument, "data: %v", err)
			}
		}
		payload = p
	}
	var a answer
	id, err := s.cmds.call(ctx, req.GetStationId(), ocpp16.ActionDataTransfer, payload, &a)
	if err != nil {
		return nil, err
	}
	resp := &chargeplanev1.DataTransferResponse{CommandId: id, Status: a.Status}
	resp.ReasonCode, resp.AdditionalInfo = a.info()
	if len(a.Data) > 0 && string(a.Data) != "null" {
		resp.Data = &structpb.Value{}
		if err := protojson.Unmarshal(a.Data, resp.Data); err != nil {
			s.log.WarnContext(ctx, "DataTransfer answer data unreadable", "station", req.GetStationId(), "err", err)
			resp.Data = nil
		}
	}
	return resp, nil
}
