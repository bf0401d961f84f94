package v201

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/displaymessage"
	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// NotifyDisplayMessagesRequest keeps messageInfo as the station sent it.
type NotifyDisplayMessagesRequest struct {
	RequestID   int             `json:"requestId"`
	MessageInfo json.RawMessage `json:"messageInfo,omitempty"`
	Tbc         bool            `json:"tbc,omitempty"`
}

// DisplayMessageReports applies complete display message reports (a
// displaymessage.Messages).
type DisplayMessageReports interface {
	Reported(ctx context.Context, stationID string, requestID int) error
}

// NotifyDisplayMessages stores the messages a station reports after
// GetDisplayMessages (O04), reassembled under the request id; once the
// report is complete it is applied to the station's current messages
// (api/displaymessage). The message carries no seqNo; parts are numbered
// in the order they arrive (one CALL at a time per station).
type NotifyDisplayMessages struct {
	Store    DeviceModelRecorder
	Messages DisplayMessageReports
	Now      func() time.Time
}

func (h NotifyDisplayMessages) Handle(ctx context.Context, m route.Meta, req *NotifyDisplayMessagesRequest) (*ocpp201.NotifyDisplayMessagesResponse, error) {
	p := store.ReportPart{StationID: m.StationID, Kind: store.ReportKindDisplayMessages,
		RequestID: req.RequestID, Append: true, Tbc: req.Tbc, GeneratedAt: reportedAt(m, h.Now), Data: req.MessageInfo}
	res, err := h.Store.RecordReportPart(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("record %s %d part: %w", p.Kind, p.RequestID, err)
	}
	// Applied again when a part comes after completion (a retry whose
	// answer was lost): the same report gives the same messages.
	if res.Complete && !res.Duplicate {
		if err := h.Messages.Reported(ctx, m.StationID, req.RequestID); err != nil {
			return nil, fmt.Errorf("apply display messages report %d: %w", req.RequestID, err)
		}
	}
	return &ocpp201.NotifyDisplayMessagesResponse{}, nil
}

// NotifyCustomerInformation stores each part of what a station holds about
// a customer (N09, N10), reassembled under the CustomerInformation
// request's id: the request's result.
type NotifyCustomerInformation struct {
	Store DeviceModelRecorder
}

func (h NotifyCustomerInformation) Handle(ctx context.Context, m route.Meta, req *ocpp201.NotifyCustomerInformationRequest) (*ocpp201.NotifyCustomerInformationResponse, error) {
	data, err := json.Marshal([]string{req.Data})
	if err != nil {
		return nil, err
	}
	if err := recordPart(ctx, h.Store, store.ReportPart{StationID: m.StationID, Kind: store.ReportKindCustomerInformation,
		RequestID: req.RequestId, SeqNo: req.SeqNo, Tbc: req.Tbc != nil && *req.Tbc, GeneratedAt: req.GeneratedAt, Data: data}); err != nil {
		return nil, err
	}
	return &ocpp201.NotifyCustomerInformationResponse{}, nil
}

// Display message commands (O): what an operator's request maps to, and
// what an answer changes in the station's current messages.

// DisplayMessageKeeper applies the answers to display message commands (a
// displaymessage.Messages).
type DisplayMessageKeeper interface {
	DisplayMessageReports
	Set(ctx context.Context, stationID string, info json.RawMessage) (*store.DisplayMessage, error)
	Cleared(ctx context.Context, stationID string, id int) error
	Queried(ctx context.Context, stationID string, requestID int, q displaymessage.Query, accepted bool) error
}

func setDisplayMessage(_ context.Context, _ command.Meta, in *chargeplanev1.SetDisplayMessageRequest) (*ocpp201.SetDisplayMessageRequest, error) {
	m := in.GetMessage()
	info := ocpp201.MessageInfo{Id: int(m.GetId()), Priority: ocpp201.MessagePriorityEnum(m.GetPriority()),
		State: ocpp201.MessageStateEnum(m.GetState()), StartDateTime: command.Time(m.StartTime), EndDateTime: command.Time(m.EndTime),
		TransactionId: m.GetTransactionId(),
		Message:       ocpp201.MessageContent{Format: ocpp201.MessageFormatEnum(m.GetFormat()), Language: m.GetLanguage(), Content: m.GetContent()}}
	if m.Display != nil {
		c, err := component(m.Display)
		if err != nil {
			return nil, command.Invalid("message.display: %s", command.Describe(err))
		}
		info.Display = &c
	}
	return &ocpp201.SetDisplayMessageRequest{Message: info}, nil
}

// displayMessageSet holds the message once the station accepts it.
func (c commands) displayMessageSet(ctx context.Context, a answer[ocpp201.SetDisplayMessageRequest, ocpp201.SetDisplayMessageResponse]) (*store.DisplayMessage, error) {
	if a.Response.Status != ocpp201.DisplayMessageStatusAccepted {
		return nil, nil
	}
	raw, err := json.Marshal(a.Request.Message)
	if err != nil {
		return nil, fmt.Errorf("encode display message %d: %w", a.Request.Message.Id, err)
	}
	return c.DisplayMessages.Set(ctx, a.StationID, raw)
}

func displayMessageAnswered(a answer[ocpp201.SetDisplayMessageRequest, ocpp201.SetDisplayMessageResponse], _ *store.DisplayMessage) (command.Reply, error) {
	return reply(a.Meta, a.Response.Status, a.Response.StatusInfo), nil
}

func getDisplayMessages(_ context.Context, _ command.Meta, in *chargeplanev1.GetDisplayMessagesRequest) (*ocpp201.GetDisplayMessagesRequest, error) {
	req := &ocpp201.GetDisplayMessagesRequest{RequestId: command.RequestID(in.GetRequestId()),
		Priority: ocpp201.MessagePriorityEnum(in.GetPriority()), State: ocpp201.MessageStateEnum(in.GetState())}
	for _, id := range in.GetIds() {
		req.Id = append(req.Id, int(id))
	}
	return req, nil
}

// displayMessagesQueried: Unknown (no message matches) forgets the held
// messages the request covers; Accepted waits for the report.
func (c commands) displayMessagesQueried(ctx context.Context, a answer[ocpp201.GetDisplayMessagesRequest, ocpp201.GetDisplayMessagesResponse]) (command.None, error) {
	return command.None{}, c.DisplayMessages.Queried(ctx, a.StationID, a.Request.RequestId, displaymessage.QueryOf(a.Request),
		a.Response.Status == ocpp201.GetDisplayMessagesStatusAccepted)
}

func displayMessagesRequested(a answer[ocpp201.GetDisplayMessagesRequest, ocpp201.GetDisplayMessagesResponse], _ command.None) (command.RequestReply, error) {
	return command.RequestReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), RequestID: a.Request.RequestId}, nil
}

func clearDisplayMessage(_ context.Context, _ command.Meta, in *chargeplanev1.ClearDisplayMessageRequest) (*ocpp201.ClearDisplayMessageRequest, error) {
	return &ocpp201.ClearDisplayMessageRequest{Id: int(in.GetId())}, nil
}

// displayMessageCleared forgets the message: Accepted (removed) or
// Unknown (the station has no such message either).
func (c commands) displayMessageCleared(ctx context.Context, a answer[ocpp201.ClearDisplayMessageRequest, ocpp201.ClearDisplayMessageResponse]) (command.None, error) {
	return command.None{}, c.DisplayMessages.Cleared(ctx, a.StationID, a.Request.Id)
}

func displayMessageClearAnswered(a answer[ocpp201.ClearDisplayMessageRequest, ocpp201.ClearDisplayMessageResponse], _ command.None) (command.Reply, error) {
	return reply(a.Meta, a.Response.Status, a.Response.StatusInfo), nil
}
