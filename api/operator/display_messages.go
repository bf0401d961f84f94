package operator

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// DisplayMessageStore is what DisplayMessageService reads.
type DisplayMessageStore interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
}

// DisplayMessageLister lists what stations show (a displaymessage.Messages).
type DisplayMessageLister interface {
	Current(ctx context.Context, stationID string) ([]store.DisplayMessage, error)
}

// DisplayMessageService implements chargeplane.v1.DisplayMessageService.
type DisplayMessageService struct {
	chargeplanev1.UnimplementedDisplayMessageServiceServer

	send     commands
	store    DisplayMessageStore
	messages DisplayMessageLister
	log      *slog.Logger
}

// NewDisplayMessageService returns the display message commands and listing.
func NewDisplayMessageService(cmds *command.Sender, st DisplayMessageStore, messages DisplayMessageLister, logger *slog.Logger) *DisplayMessageService {
	if logger == nil {
		logger = slog.Default()
	}
	return &DisplayMessageService{send: commands{s: cmds, log: logger}, store: st, messages: messages, log: logger}
}

var (
	messagePriorities = []string{"AlwaysFront", "InFront", "NormalCycle"}
	messageStates     = []string{"Charging", "Faulted", "Idle", "Unavailable"}
	messageFormats    = []string{"ASCII", "HTML", "URI", "UTF8"}
)

// oneOf checks an enumerated field; empty passes when optional.
func oneOf(field, v string, optional bool, allowed []string) error {
	if (optional && v == "") || slices.Contains(allowed, v) {
		return nil
	}
	return status.Errorf(codes.InvalidArgument, "%s %q is not one of %v", field, v, allowed)
}

// SetDisplayMessage sets a message on a 2.0.1 station's display.
func (s *DisplayMessageService) SetDisplayMessage(ctx context.Context, req *chargeplanev1.SetDisplayMessageRequest) (*chargeplanev1.SetDisplayMessageResponse, error) {
	m := req.GetMessage()
	switch {
	case m == nil:
		return nil, status.Error(codes.InvalidArgument, "message is required")
	case m.GetId() < 0:
		return nil, status.Error(codes.InvalidArgument, "message.id must not be negative")
	case m.GetContent() == "" || len([]rune(m.GetContent())) > 512:
		return nil, status.Error(codes.InvalidArgument, "message.content: 1 to 512 characters")
	case len(m.GetLanguage()) > 8:
		return nil, status.Error(codes.InvalidArgument, "message.language: at most 8 characters")
	case len(m.GetTransactionId()) > 36:
		return nil, status.Error(codes.InvalidArgument, "message.transaction_id: at most 36 characters")
	case m.GetSource() != "" || m.UpdatedAt != nil:
		return nil, status.Error(codes.InvalidArgument, "message.source and message.updated_at are output only")
	}
	if err := oneOf("message.priority", m.GetPriority(), false, messagePriorities); err != nil {
		return nil, err
	}
	if err := oneOf("message.state", m.GetState(), true, messageStates); err != nil {
		return nil, err
	}
	if err := oneOf("message.format", m.GetFormat(), false, messageFormats); err != nil {
		return nil, err
	}
	for field, t := range map[string]*timestamppb.Timestamp{"message.start_time": m.StartTime, "message.end_time": m.EndTime} {
		if t == nil {
			continue
		}
		if err := validateTimestamp(field, t); err != nil {
			return nil, invalid(err)
		}
	}
	if m.StartTime != nil && m.EndTime != nil && !m.EndTime.AsTime().After(m.StartTime.AsTime()) {
		return nil, status.Error(codes.InvalidArgument, "message.end_time must be after message.start_time")
	}
	r, err := do[command.Reply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.SetDisplayMessageResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode}, nil
}

// GetDisplayMessages asks a 2.0.1 station for the messages it shows.
func (s *DisplayMessageService) GetDisplayMessages(ctx context.Context, req *chargeplanev1.GetDisplayMessagesRequest) (*chargeplanev1.GetDisplayMessagesResponse, error) {
	if req.GetRequestId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "request_id must not be negative")
	}
	if err := oneOf("priority", req.GetPriority(), true, messagePriorities); err != nil {
		return nil, err
	}
	if err := oneOf("state", req.GetState(), true, messageStates); err != nil {
		return nil, err
	}
	r, err := do[command.RequestReply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.GetDisplayMessagesResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode,
		RequestId: int32(r.RequestID)}, nil
}

// ClearDisplayMessage removes a message from a 2.0.1 station's display.
func (s *DisplayMessageService) ClearDisplayMessage(ctx context.Context, req *chargeplanev1.ClearDisplayMessageRequest) (*chargeplanev1.ClearDisplayMessageResponse, error) {
	if req.GetId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "id must not be negative")
	}
	r, err := do[command.Reply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.ClearDisplayMessageResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode}, nil
}

// ListDisplayMessages returns what the station shows as the CSMS knows it.
func (s *DisplayMessageService) ListDisplayMessages(ctx context.Context, req *chargeplanev1.ListDisplayMessagesRequest) (*chargeplanev1.ListDisplayMessagesResponse, error) {
	id := req.GetStationId()
	if err := ValidateStationRef(id); err != nil {
		return nil, invalid(err)
	}
	if _, err := s.store.GetStation(ctx, id); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(id))
	}
	rows, err := s.messages.Current(ctx, id)
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(id))
	}
	out := &chargeplanev1.ListDisplayMessagesResponse{Messages: make([]*chargeplanev1.DisplayMessage, 0, len(rows))}
	for i := range rows {
		m, err := DisplayMessageToProto(&rows[i])
		if err != nil {
			return nil, storeError(ctx, s.log, err, "")
		}
		out.Messages = append(out.Messages, m)
	}
	return out, nil
}

// DisplayMessageToProto converts a stored message from the MessageInfo
// the station accepted or reported.
func DisplayMessageToProto(m *store.DisplayMessage) (*chargeplanev1.DisplayMessage, error) {
	var info ocpp201.MessageInfo
	if err := json.Unmarshal([]byte(m.Info), &info); err != nil {
		return nil, err
	}
	out := &chargeplanev1.DisplayMessage{Id: int32(info.Id), Priority: string(info.Priority), State: string(info.State),
		StartTime: ts(info.StartDateTime), EndTime: ts(info.EndDateTime), TransactionId: info.TransactionId,
		Format: string(info.Message.Format), Language: info.Message.Language, Content: info.Message.Content,
		Source: m.Source, UpdatedAt: ts(m.UpdatedAt)}
	if d := info.Display; d != nil {
		out.Display = &chargeplanev1.ComponentRef{Name: d.Name, Instance: d.Instance}
		if d.Evse != nil {
			out.Display.EvseId, out.Display.ConnectorId = int32Ptr(&d.Evse.Id), int32Ptr(d.Evse.ConnectorId)
		}
	}
	return out, nil
}
