package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/redact"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// CommandCaller sends a command through the station's command table and
// waits for the charger's answer (*command.Sender), so that the answer
// has the effects it would have had through the action's typed method.
type CommandCaller interface {
	Call(ctx context.Context, r command.Request) (*command.Result, error)
}

// CommandStore is what CommandService reads.
type CommandStore interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
	ListCommands(ctx context.Context, stationID string, p store.SeqPage) ([]store.Command, int64, error)
	ListMessages(ctx context.Context, stationID string, p store.SeqPage) ([]store.StationMessage, error)
}

// CommandService implements chargeplane.v1.CommandService: the generic
// call, the command history and the raw message log.
type CommandService struct {
	chargeplanev1.UnimplementedCommandServiceServer

	calls  CommandCaller
	store  CommandStore
	logger *slog.Logger
}

// NewCommandService returns the command service.
func NewCommandService(calls CommandCaller, st CommandStore, logger *slog.Logger) *CommandService {
	if logger == nil {
		logger = slog.Default()
	}
	return &CommandService{calls: calls, store: st, logger: logger}
}

const (
	commandCursor = "cmd1:"
	messageCursor = "msg1:"
	// maxActionLen is longer than any OCPP action name.
	maxActionLen = 64
)

// RequestedBy names the operator of a request for the command history:
// the user's email or the API key's name.
func RequestedBy(ctx context.Context) string {
	p, ok := auth.PrincipalFrom(ctx)
	if !ok {
		return ""
	}
	if p.Name != "" {
		return p.Name
	}
	return p.ID
}

// Call sends any action the station's version defines for the CSMS, with
// the operator's payload as written.
func (s *CommandService) Call(ctx context.Context, req *chargeplanev1.CallRequest) (*chargeplanev1.CallResponse, error) {
	if err := ValidateStationRef(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	if req.GetAction() == "" || len(req.GetAction()) > maxActionLen {
		return nil, invalid(errors.New("action is required (an OCPP action name)"))
	}
	if req.GetTimeoutSeconds() < 0 || time.Duration(req.GetTimeoutSeconds())*time.Second > command.MaxTimeout {
		return nil, invalid(fmt.Errorf("timeout_seconds must be between 0 and %d", int(command.MaxTimeout/time.Second)))
	}
	var payload json.RawMessage
	if req.GetPayload() != nil {
		b, err := req.GetPayload().MarshalJSON()
		if err != nil {
			return nil, invalid(fmt.Errorf("payload: %w", err))
		}
		payload = b
	}
	if setsPassword(req.GetAction(), payload) {
		return nil, invalid(errors.New(passwordThroughRotator))
	}
	res, err := s.calls.Call(ctx, command.Request{
		StationID:   req.GetStationId(),
		Action:      req.GetAction(),
		Payload:     payload,
		RequestedBy: RequestedBy(ctx),
		Timeout:     time.Duration(req.GetTimeoutSeconds()) * time.Second,
	})
	if err != nil {
		return nil, s.commandError(ctx, err)
	}
	out, err := jsonStruct(res.Payload)
	if err != nil {
		s.logger.ErrorContext(ctx, "charger's answer is not a JSON object", "station", req.GetStationId(), "err", err)
		return nil, status.Error(codes.Internal, "the charger's answer is not a JSON object")
	}
	return &chargeplanev1.CallResponse{CommandId: res.CommandID, Payload: out}, nil
}

// commandError maps a Dispatcher error, logging what the caller does not see.
func (s *CommandService) commandError(ctx context.Context, err error) error {
	st := command.Status(err)
	if status.Code(st) == codes.Internal {
		s.logger.ErrorContext(ctx, "command failed", "err", err)
	}
	return st
}

// ListCommands returns the station's commands with their outcomes, newest
// first.
func (s *CommandService) ListCommands(ctx context.Context, req *chargeplanev1.ListCommandsRequest) (*chargeplanev1.ListCommandsResponse, error) {
	page, err := s.listArgs(ctx, req.GetStationId(), req, commandCursor)
	if err != nil {
		return nil, err
	}
	rows, total, err := s.store.ListCommands(ctx, req.GetStationId(), page.seq())
	if err != nil {
		return nil, storeError(ctx, s.logger, err, notFoundMsg(req.GetStationId()))
	}
	resp := &chargeplanev1.ListCommandsResponse{TotalSize: total}
	rows, resp.NextPageToken = cutNewest(page, rows, func(c *store.Command) int64 { return c.Seq })
	for i := range rows {
		resp.Commands = append(resp.Commands, CommandToProto(&rows[i]))
	}
	return resp, nil
}

// ListMessages returns the station's recent raw OCPP messages, newest first.
func (s *CommandService) ListMessages(ctx context.Context, req *chargeplanev1.ListMessagesRequest) (*chargeplanev1.ListMessagesResponse, error) {
	page, err := s.listArgs(ctx, req.GetStationId(), req, messageCursor)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.ListMessages(ctx, req.GetStationId(), page.seq())
	if err != nil {
		return nil, storeError(ctx, s.logger, err, notFoundMsg(req.GetStationId()))
	}
	resp := &chargeplanev1.ListMessagesResponse{}
	rows, resp.NextPageToken = cutNewest(page, rows, func(m *store.StationMessage) int64 { return m.ID })
	if n := messagesThatFit(rows); n < len(rows) {
		rows = rows[:n]
		resp.NextPageToken = encodeCursor(page.kind, strconv.FormatInt(rows[n-1].ID, 10))
	}
	for _, m := range rows {
		resp.Messages = append(resp.Messages, &chargeplanev1.Message{
			Id: m.ID, At: timestamppb.New(m.At), Direction: m.Direction, MessageType: m.MessageType,
			MessageId: m.MessageID, Action: m.Action, ConnectionId: m.ConnectionID, Frame: m.Frame,
		})
	}
	return resp, nil
}

// MaxMessagesPageBytes bounds the frames of one page of the message log,
// well under the 4 MB a gRPC client (the REST gateway among them) accepts
// by default: a page of big frames ends early, the rest follows on the
// next page.
const MaxMessagesPageBytes = 2 << 20

// messagesThatFit is how many of rows (newest first) one page shows
// within MaxMessagesPageBytes of frames, at least one.
func messagesThatFit(rows []store.StationMessage) int {
	total := 0
	for i, m := range rows {
		total += len(m.Frame)
		if i > 0 && total > MaxMessagesPageBytes {
			return i
		}
	}
	return len(rows)
}

// listArgs validates a history request; an unknown station is NotFound
// rather than an empty list, so a typo does not look like a quiet charger.
func (s *CommandService) listArgs(ctx context.Context, stationID string, req pagedRequest, kind string) (listPage, error) {
	if err := ValidateStationRef(stationID); err != nil {
		return listPage{}, invalid(err)
	}
	page, err := readNewestPage(req, kind)
	if err != nil {
		return listPage{}, err
	}
	if _, err := s.store.GetStation(ctx, stationID); err != nil {
		return listPage{}, storeError(ctx, s.logger, err, notFoundMsg(stationID))
	}
	return page, nil
}

// CommandToProto converts a recorded command.
func CommandToProto(c *store.Command) *chargeplanev1.Command {
	out := &chargeplanev1.Command{
		Id: c.ID, StationId: c.StationID, OcppVersion: c.OCPPVersion.Text(), Action: c.Action,
		RequestedBy: c.RequestedBy, Status: string(c.Status), ErrorCode: c.ErrorCode,
		ErrorDescription: c.ErrorDescription, CreatedAt: timestamppb.New(c.CreatedAt), CoreId: c.CoreID,
	}
	// Stored payloads are JSON objects we wrote ourselves (or the charger's
	// answer); one that is not is left out rather than failing the list.
	out.Payload, _ = jsonStruct(json.RawMessage(c.Payload))
	if c.Response != nil {
		out.Response, _ = jsonStruct(json.RawMessage(*c.Response))
	}
	if c.FinishedAt != nil {
		out.FinishedAt = timestamppb.New(*c.FinishedAt)
	}
	return out
}

func jsonStruct(b json.RawMessage) (*structpb.Struct, error) {
	st := &structpb.Struct{}
	if len(b) == 0 {
		return st, nil
	}
	if err := st.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return st, nil
}

// setsPassword reports whether a generic call would set the station's
// Basic-auth password (1.6 ChangeConfiguration AuthorizationKey, 2.0.1
// SetVariables SecurityCtrlr.BasicAuthPassword): that goes through
// RotatePassword, which keeps the station admitted and the password out of
// the command history.
func setsPassword(action string, payload json.RawMessage) bool {
	switch action {
	case "ChangeConfiguration":
		var p struct {
			Key string `json:"key"`
		}
		return json.Unmarshal(payload, &p) == nil && redact.StationPasswordKey(p.Key)
	case "SetVariables":
		var p struct {
			SetVariableData []struct {
				Component struct {
					Name string `json:"name"`
				} `json:"component"`
				Variable struct {
					Name string `json:"name"`
				} `json:"variable"`
			} `json:"setVariableData"`
		}
		if json.Unmarshal(payload, &p) != nil {
			return false
		}
		for _, d := range p.SetVariableData {
			if redact.StationPasswordVariable(d.Component.Name, d.Variable.Name) {
				return true
			}
		}
	}
	return false
}
