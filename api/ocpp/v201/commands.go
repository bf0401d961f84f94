package v201

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/customerinfo"
	"github.com/chargeplane/chargeplane/api/locallist"
	"github.com/chargeplane/chargeplane/api/reservation"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// CommandDeps are what the 2.0.1 commands share.
type CommandDeps struct {
	// Tokens resolves a reservation's token defaults.
	Tokens reservation.Tokens
	// Reservations keeps reservations and their answers.
	Reservations ReservationStore
	// LocalLists keeps what each station's list holds.
	LocalLists locallist.Store
	// Profiles keeps the charging profiles stations accepted.
	Profiles ProfileStore
	// Inventory keeps the certificates stations report as installed.
	Inventory InventoryStore
	// Monitors keeps the variable monitors stations accepted or cleared.
	Monitors MonitorStoreWriter
	// DisplayMessages keeps the messages stations show.
	DisplayMessages DisplayMessageKeeper
	// Customers carries out customer information requests.
	Customers CustomerRequests
	// NetworkProfiles keeps the network profiles stations accepted.
	NetworkProfiles NetworkProfileStore
	// Planner, when set, has the EV schedules planned within an
	// operator's ChargingStationMaxProfile or TxDefaultProfile planned
	// again when one is set or cleared.
	Planner Replanner
	Now     func() time.Time
}

// ReservationStore creates reservations and records their answers.
type ReservationStore interface {
	reservation.Recorder
	CreateReservation(ctx context.Context, r *store.Reservation) error
}

// ProfileStore keeps the charging profiles stations accepted.
type ProfileStore interface {
	SaveChargingProfile(ctx context.Context, p *store.ChargingProfile) error
	ClearChargingProfiles(ctx context.Context, stationID string, c store.ProfileCriteria) ([]store.ChargingProfile, error)
}

// plannedWithin reports whether EV schedules are planned within profiles
// of purpose (api/smartcharging.OperatorLimits). A TxProfile is not: the
// planner's own are TxProfiles, and planning again on an operator's
// would replace it.
func plannedWithin(purpose string) bool {
	return purpose == string(ocpp201.ChargingProfilePurposeChargingStationMaxProfile) ||
		purpose == string(ocpp201.ChargingProfilePurposeTxDefaultProfile)
}

// answer is the decoded answer to a 2.0.1 command.
type answer[Req, Resp any] = command.Answer[Req, Resp]

// Commands is every CSMS-initiated action of OCPP 2.0.1: its types, what
// its answer changes, and the typed operator operations it carries out.
// An action without an operation is sent only through the generic call;
// one without an effect changes nothing when answered.
func Commands(d CommandDeps) command.Table {
	c := commands{d}
	return command.NewTable(
		// Remote control (F, B11, B12, C, P).
		command.New(ocpp201.ActionRequestStartTransaction, command.Op(requestStart, startRequested)),
		command.New(ocpp201.ActionRequestStopTransaction, command.Op(requestStop, stopRequested)),
		command.New(ocpp201.ActionReset, command.Op(reset, resetDone)),
		command.New(ocpp201.ActionChangeAvailability, command.Op(changeAvailability, availabilityChanged)),
		command.New(ocpp201.ActionUnlockConnector, command.Op(unlockConnector, connectorUnlocked)),
		command.New(ocpp201.ActionTriggerMessage, command.Op(triggerMessage, messageTriggered),
			command.Op(renewCertificate, messageTriggered)),
		command.New(ocpp201.ActionClearCache, command.Op(clearCache, cacheCleared)),
		command.New(ocpp201.ActionDataTransfer, command.Op(dataTransfer, dataTransferred)),
		command.New(ocpp201.ActionGetTransactionStatus, command.Op(getTransactionStatus, transactionStatus)),
		command.New(ocpp201.ActionCostUpdated, command.Op(costUpdated, costUpdateAnswered)),

		// Device model (B).
		command.New(ocpp201.ActionGetVariables, command.Op(getVariables, variablesGot),
			command.Op(askLocalListLimits, localListLimits)),
		command.New(ocpp201.ActionSetVariables, command.Op(setVariables, variablesSet),
			command.Op(changePassword, passwordChanged)),
		command.New(ocpp201.ActionGetBaseReport, command.Op(getBaseReport, baseReportRequested)),
		command.New[ocpp201.GetReportRequest, ocpp201.GetReportResponse](ocpp201.ActionGetReport),
		command.WithEffect(ocpp201.ActionSetNetworkProfile, c.networkProfileAnswered, command.Op(setNetworkProfile, networkProfileSet)),

		// Firmware and logs (L, N).
		command.New(ocpp201.ActionUpdateFirmware, command.Op(c.updateFirmware, firmwareUpdating),
			command.Op(c.signedUpdateFirmware, firmwareUpdating)),
		command.New(ocpp201.ActionGetLog, command.Op(getLog, logRequested), command.Op(uploadLog, logRequested)),
		command.New(ocpp201.ActionPublishFirmware, command.Op(publishFirmware, firmwarePublishing)),
		command.New(ocpp201.ActionUnpublishFirmware, command.Op(unpublishFirmware, firmwareUnpublished)),

		// Reservations (H).
		command.WithEffect(ocpp201.ActionReserveNow, c.reservationAnswered, command.Op(c.reserveNow, reserved),
			command.OnNoAnswer[ocpp201.ReserveNowRequest, ocpp201.ReserveNowResponse, *store.Reservation](c.reservationUnanswered)),
		command.WithEffect(ocpp201.ActionCancelReservation, c.cancellationAnswered, command.Op(cancelReservation, reservationCancelled)),

		// Local authorization list (D).
		command.New(ocpp201.ActionGetLocalListVersion, command.Op(getLocalListVersion, localListVersion)),
		command.WithEffect(ocpp201.ActionSendLocalList, c.localListAnswered, command.Op(sendLocalList, localListSent)),

		// Smart charging (K).
		command.WithEffect(ocpp201.ActionSetChargingProfile, c.profileAnswered, command.Op(setChargingProfile, profileSet)),
		command.WithEffect(ocpp201.ActionClearChargingProfile, c.clearProfilesAnswered, command.Op(clearChargingProfile, profilesCleared)),
		command.New(ocpp201.ActionGetCompositeSchedule, command.Op(getCompositeSchedule, compositeSchedule)),
		command.New(ocpp201.ActionGetChargingProfiles, command.Op(getChargingProfiles, chargingProfilesRequested)),

		// Monitoring (N), display messages (O), customer information (N).
		command.WithEffect(ocpp201.ActionSetVariableMonitoring, c.monitorsSet, command.Op(setVariableMonitoring, monitoringSet)),
		command.WithEffect(ocpp201.ActionClearVariableMonitoring, c.monitorsCleared, command.Op(clearVariableMonitoring, monitoringCleared)),
		command.New(ocpp201.ActionSetMonitoringBase, command.Op(setMonitoringBase, monitoringBaseSet)),
		command.New(ocpp201.ActionSetMonitoringLevel, command.Op(setMonitoringLevel, monitoringLevelSet)),
		command.New(ocpp201.ActionGetMonitoringReport, command.Op(getMonitoringReport, monitoringReportRequested)),
		command.WithEffect(ocpp201.ActionSetDisplayMessage, c.displayMessageSet, command.Op(setDisplayMessage, displayMessageAnswered)),
		command.WithEffect(ocpp201.ActionGetDisplayMessages, c.displayMessagesQueried, command.Op(getDisplayMessages, displayMessagesRequested)),
		command.WithEffect(ocpp201.ActionClearDisplayMessage, c.displayMessageCleared, command.Op(clearDisplayMessage, displayMessageClearAnswered)),
		command.WithEffect(ocpp201.ActionCustomerInformation, c.customerInformationAnswered,
			command.Op(c.customerInformation, customerInformationSent),
			command.OnNoAnswer[ocpp201.CustomerInformationRequest, ocpp201.CustomerInformationResponse, *customerinfo.Outcome](c.customerInformationUnanswered)),

		// Certificates (A, M).
		command.New(ocpp201.ActionCertificateSigned, command.Op(certificateSigned, certificateSignedAnswered)),
		command.WithEffect(ocpp201.ActionInstallCertificate, c.certificateInstalled, command.Op(installCertificate, certificateInstallAnswered)),
		command.WithEffect(ocpp201.ActionDeleteCertificate, c.certificateDeleted, command.Op(deleteCertificate, certificateDeleteAnswered)),
		command.WithEffect(ocpp201.ActionGetInstalledCertificateIds, c.installedCertificateIds,
			command.Op(getInstalledCertificateIds, installedCertificateIdsGot)),
	)
}

// commands are the operations and effects that need the CSMS's state.
type commands struct{ CommandDeps }

// reply is the Reply of an answer with a status and its optional reason.
func reply[S ~string](m command.Meta, s S, info *ocpp201.StatusInfo) command.Reply {
	r := command.StatusReply(m, s)
	if info != nil {
		r.ReasonCode, r.AdditionalInfo = info.ReasonCode, info.AdditionalInfo
	}
	return r
}

// evse is the EVSEType of an operator's evse_id/connector_id; a connector
// needs its EVSE.
func evse(evseID, connectorID *int32) (*ocpp201.EVSE, error) {
	if evseID == nil {
		if connectorID != nil {
			return nil, command.Invalid("connector_id needs evse_id in OCPP 2.0.1")
		}
		return nil, nil
	}
	return &ocpp201.EVSE{Id: int(*evseID), ConnectorId: command.Int(connectorID)}, nil
}

// Remote control.

func requestStart(_ context.Context, m command.Meta, in *chargeplanev1.RemoteStartRequest) (*ocpp201.RequestStartTransactionRequest, error) {
	if err := command.OnlyIn(m, ocppj.V16, "connector_id", in.ConnectorId != nil); err != nil {
		return nil, err
	}
	typ := cmp.Or(in.GetIdTokenType(), string(ocpp201.IdTokenEnumCentral))
	req := &ocpp201.RequestStartTransactionRequest{EvseId: command.Int(in.EvseId), RemoteStartId: command.NewRequestID(),
		IdToken: ocpp201.IdToken{IdToken: in.GetIdToken(), Type: ocpp201.IdTokenEnum(typ)}}
	if in.ChargingProfile != nil {
		req.ChargingProfile = new(ocpp201.ChargingProfile)
		if err := command.DecodeMessage("charging_profile", in.ChargingProfile, req.ChargingProfile); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// startRequested finds the transaction by the remoteStartId sent, or by
// the id the station named when one was going already (cable first).
func startRequested(a answer[ocpp201.RequestStartTransactionRequest, ocpp201.RequestStartTransactionResponse], _ command.None) (command.RemoteStartReply, error) {
	id := a.Request.RemoteStartId
	return command.RemoteStartReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), RemoteStartID: id,
		TransactionUID: a.Response.TransactionId, Find: store.RemoteStartQuery{StationID: a.StationID, RemoteStartID: &id}}, nil
}

func requestStop(_ context.Context, m command.Meta, in command.RemoteStop) (*ocpp201.RequestStopTransactionRequest, error) {
	uid, err := transactionUID(m, in.Transaction)
	if err != nil {
		return nil, err
	}
	return &ocpp201.RequestStopTransactionRequest{TransactionId: uid}, nil
}

func stopRequested(a answer[ocpp201.RequestStopTransactionRequest, ocpp201.RequestStopTransactionResponse], _ command.None) (command.Reply, error) {
	return reply(a.Meta, a.Response.Status, a.Response.StatusInfo), nil
}

func reset(_ context.Context, _ command.Meta, in *chargeplanev1.ResetRequest) (*ocpp201.ResetRequest, error) {
	typ := ocpp201.ResetEnum(in.GetType())
	switch typ {
	case "":
		typ = ocpp201.ResetOnIdle
	case ocpp201.ResetImmediate, ocpp201.ResetOnIdle:
	default:
		return nil, command.Invalid("OCPP 2.0.1 reset type is Immediate or OnIdle, not %q", typ)
	}
	return &ocpp201.ResetRequest{Type: typ, EvseId: command.Int(in.EvseId)}, nil
}

func resetDone(a answer[ocpp201.ResetRequest, ocpp201.ResetResponse], _ command.None) (command.Reply, error) {
	return reply(a.Meta, a.Response.Status, a.Response.StatusInfo), nil
}

func changeAvailability(_ context.Context, _ command.Meta, in *chargeplanev1.ChangeAvailabilityRequest) (*ocpp201.ChangeAvailabilityRequest, error) {
	e, err := evse(in.EvseId, in.ConnectorId)
	if err != nil {
		return nil, err
	}
	return &ocpp201.ChangeAvailabilityRequest{Evse: e, OperationalStatus: ocpp201.OperationalStatusEnum(in.GetOperationalStatus())}, nil
}

func availabilityChanged(a answer[ocpp201.ChangeAvailabilityRequest, ocpp201.ChangeAvailabilityResponse], _ command.None) (command.Reply, error) {
	return reply(a.Meta, a.Response.Status, a.Response.StatusInfo), nil
}

func unlockConnector(_ context.Context, _ command.Meta, in *chargeplanev1.UnlockConnectorRequest) (*ocpp201.UnlockConnectorRequest, error) {
	if in.EvseId == nil {
		return nil, command.Invalid("evse_id is required in OCPP 2.0.1")
	}
	return &ocpp201.UnlockConnectorRequest{EvseId: int(in.GetEvseId()), ConnectorId: int(in.GetConnectorId())}, nil
}

func connectorUnlocked(a answer[ocpp201.UnlockConnectorRequest, ocpp201.UnlockConnectorResponse], _ command.None) (command.Reply, error) {
	return reply(a.Meta, a.Response.Status, a.Response.StatusInfo), nil
}

func triggerMessage(_ context.Context, _ command.Meta, in *chargeplanev1.TriggerMessageRequest) (*ocpp201.TriggerMessageRequest, error) {
	e, err := evse(in.EvseId, in.ConnectorId)
	if err != nil {
		return nil, err
	}
	return &ocpp201.TriggerMessageRequest{Evse: e, RequestedMessage: ocpp201.MessageTriggerEnum(in.GetRequestedMessage())}, nil
}

func messageTriggered(a answer[ocpp201.TriggerMessageRequest, ocpp201.TriggerMessageResponse], _ command.None) (command.Reply, error) {
	return reply(a.Meta, a.Response.Status, a.Response.StatusInfo), nil
}

func clearCache(context.Context, command.Meta, *chargeplanev1.ClearCacheRequest) (*ocpp201.ClearCacheRequest, error) {
	return &ocpp201.ClearCacheRequest{}, nil
}

func cacheCleared(a answer[ocpp201.ClearCacheRequest, ocpp201.ClearCacheResponse], _ command.None) (command.Reply, error) {
	return reply(a.Meta, a.Response.Status, a.Response.StatusInfo), nil
}

func dataTransfer(_ context.Context, _ command.Meta, in *chargeplanev1.DataTransferRequest) (*ocpp201.DataTransferRequest, error) {
	req := &ocpp201.DataTransferRequest{VendorId: in.GetVendorId(), MessageId: in.GetMessageId()}
	if d := in.GetData(); d != nil {
		b, err := protojson.Marshal(d)
		if err != nil {
			return nil, command.Invalid("data: %v", err)
		}
		req.Data = b
	}
	return req, nil
}

func dataTransferred(a answer[ocpp201.DataTransferRequest, ocpp201.DataTransferResponse], _ command.None) (command.JSONReply, error) {
	out := command.JSONReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo)}
	if d := a.Response.Data; len(d) > 0 && string(d) != "null" {
		out.Data = d
	}
	return out, nil
}

// transactionUID is the station's id of a transaction the caller looked up.
func transactionUID(m command.Meta, t *store.Transaction) (string, error) {
	if t.OCPPVersion != m.Version {
		return "", command.Invalid("transaction %d was recorded under OCPP %s; the station now speaks OCPP %s", t.ID, t.OCPPVersion, m.Version)
	}
	return t.TransactionUID, nil
}

func getTransactionStatus(_ context.Context, m command.Meta, in command.TransactionStatus) (*ocpp201.GetTransactionStatusRequest, error) {
	req := &ocpp201.GetTransactionStatusRequest{}
	if in.Transaction != nil {
		var err error
		if req.TransactionId, err = transactionUID(m, in.Transaction); err != nil {
			return nil, err
		}
	}
	return req, nil
}

func transactionStatus(a answer[ocpp201.GetTransactionStatusRequest, ocpp201.GetTransactionStatusResponse], _ command.None) (command.TransactionStatusReply, error) {
	return command.TransactionStatusReply{CommandID: a.CommandID, MessagesInQueue: a.Response.MessagesInQueue,
		Ongoing: a.Response.OngoingIndicator}, nil
}

func costUpdated(_ context.Context, m command.Meta, in command.CostUpdate) (*ocpp201.CostUpdatedRequest, error) {
	uid, err := transactionUID(m, in.Transaction)
	if err != nil {
		return nil, err
	}
	return &ocpp201.CostUpdatedRequest{TransactionId: uid, TotalCost: in.TotalCost}, nil
}

func costUpdateAnswered(a answer[ocpp201.CostUpdatedRequest, ocpp201.CostUpdatedResponse], _ command.None) (command.Reply, error) {
	return command.Reply{CommandID: a.CommandID}, nil
}

// Device model.

func component(c *chargeplanev1.ComponentRef) (ocpp201.Component, error) {
	e, err := evse(c.EvseId, c.ConnectorId)
	if err != nil {
		return ocpp201.Component{}, err
	}
	return ocpp201.Component{Name: c.GetName(), Instance: c.GetInstance(), Evse: e}, nil
}

func getVariables(_ context.Context, _ command.Meta, in *chargeplanev1.GetVariablesRequest) (*ocpp201.GetVariablesRequest, error) {
	req := &ocpp201.GetVariablesRequest{}
	for i, sel := range in.GetVariables() {
		c, err := component(sel.GetComponent())
		if err != nil {
			return nil, command.Invalid("variables[%d].component: %s", i, command.Describe(err))
		}
		req.GetVariableData = append(req.GetVariableData, ocpp201.GetVariableData{Component: c,
			Variable:      ocpp201.Variable{Name: sel.GetVariable().GetName(), Instance: sel.GetVariable().GetInstance()},
			AttributeType: ocpp201.AttributeEnum(sel.GetAttributeType())})
	}
	return req, nil
}

func variablesGot(a answer[ocpp201.GetVariablesRequest, ocpp201.GetVariablesResponse], _ command.None) (command.VariablesReply, error) {
	out := command.VariablesReply{CommandID: a.CommandID}
	for _, r := range a.Response.GetVariableResult {
		res := variableResult(r.Component, r.Variable, r.AttributeType, string(r.AttributeStatus), r.AttributeStatusInfo)
		// A value is there when the station says so: an accepted empty
		// value is "", a refused one none.
		if r.AttributeValue != "" || r.AttributeStatus == ocpp201.GetVariableStatusAccepted {
			v := r.AttributeValue
			res.AttributeValue = &v
		}
		out.Results = append(out.Results, res)
	}
	return out, nil
}

func setVariables(_ context.Context, _ command.Meta, in *chargeplanev1.SetVariablesRequest) (*ocpp201.SetVariablesRequest, error) {
	req := &ocpp201.SetVariablesRequest{}
	for i, val := range in.GetVariables() {
		c, err := component(val.GetComponent())
		if err != nil {
			return nil, command.Invalid("variables[%d].component: %s", i, command.Describe(err))
		}
		req.SetVariableData = append(req.SetVariableData, ocpp201.SetVariableData{Component: c,
			Variable:      ocpp201.Variable{Name: val.GetVariable().GetName(), Instance: val.GetVariable().GetInstance()},
			AttributeType: ocpp201.AttributeEnum(val.GetAttributeType()), AttributeValue: val.GetAttributeValue()})
	}
	return req, nil
}

func variablesSet(a answer[ocpp201.SetVariablesRequest, ocpp201.SetVariablesResponse], _ command.None) (command.VariablesReply, error) {
	out := command.VariablesReply{CommandID: a.CommandID}
	for _, r := range a.Response.SetVariableResult {
		out.Results = append(out.Results, variableResult(r.Component, r.Variable, r.AttributeType, string(r.AttributeStatus), r.AttributeStatusInfo))
	}
	return out, nil
}

func variableResult(c ocpp201.Component, v ocpp201.Variable, typ ocpp201.AttributeEnum, status string, info *ocpp201.StatusInfo) command.VariableResult {
	r := command.VariableResult{
		Component: command.Component{Name: c.Name, Instance: c.Instance},
		Variable:  command.Variable{Name: v.Name, Instance: v.Instance},
		// The attribute is Actual unless the station says otherwise.
		AttributeType: string(cmp.Or(typ, ocpp201.AttributeActual)), AttributeStatus: status,
	}
	if c.Evse != nil {
		id := c.Evse.Id
		r.Component.EVSEID, r.Component.ConnectorID = &id, c.Evse.ConnectorId
	}
	if info != nil {
		r.ReasonCode, r.AdditionalInfo = info.ReasonCode, info.AdditionalInfo
	}
	return r
}

func getBaseReport(_ context.Context, _ command.Meta, in *chargeplanev1.GetBaseReportRequest) (*ocpp201.GetBaseReportRequest, error) {
	return &ocpp201.GetBaseReportRequest{RequestId: command.RequestID(in.GetRequestId()),
		ReportBase: ocpp201.ReportBaseEnum(cmp.Or(in.GetReportBase(), string(ocpp201.ReportBaseFullInventory)))}, nil
}

// baseReportRequested: the report itself arrives in NotifyReport parts.
func baseReportRequested(a answer[ocpp201.GetBaseReportRequest, ocpp201.GetBaseReportResponse], _ command.None) (command.RequestReply, error) {
	return command.RequestReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), RequestID: a.Request.RequestId}, nil
}

// Firmware and logs.

func (c commands) updateFirmware(_ context.Context, _ command.Meta, in *chargeplanev1.UpdateFirmwareRequest) (*ocpp201.UpdateFirmwareRequest, error) {
	retrieve := command.Time(in.RetrieveTime)
	if retrieve.IsZero() {
		retrieve = command.OCPPTime(c.Now())
	}
	return &ocpp201.UpdateFirmwareRequest{RequestId: command.RequestID(in.GetRequestId()), Retries: command.Int(in.Retries),
		RetryInterval: command.Int(in.RetryInterval),
		Firmware: ocpp201.Firmware{Location: in.GetLocation(), RetrieveDateTime: retrieve, InstallDateTime: command.Time(in.InstallTime),
			SigningCertificate: in.GetSigningCertificate(), Signature: in.GetSignature()}}, nil
}

// firmwareUpdating: the progress arrives in FirmwareStatusNotification.
func firmwareUpdating(a answer[ocpp201.UpdateFirmwareRequest, ocpp201.UpdateFirmwareResponse], _ command.None) (command.RequestReply, error) {
	return command.RequestReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), RequestID: a.Request.RequestId}, nil
}

func getLog(_ context.Context, _ command.Meta, in *chargeplanev1.GetLogRequest) (*ocpp201.GetLogRequest, error) {
	return &ocpp201.GetLogRequest{LogType: ocpp201.LogEnum(cmp.Or(in.GetLogType(), string(ocpp201.LogDiagnosticsLog))),
		RequestId: command.RequestID(in.GetRequestId()), Retries: command.Int(in.Retries), RetryInterval: command.Int(in.RetryInterval),
		Log: ocpp201.LogParameters{RemoteLocation: in.GetLocation(), OldestTimestamp: command.Time(in.OldestTime),
			LatestTimestamp: command.Time(in.LatestTime)}}, nil
}

// logRequested: the upload's progress arrives in LogStatusNotification.
func logRequested(a answer[ocpp201.GetLogRequest, ocpp201.GetLogResponse], _ command.None) (command.RequestReply, error) {
	return command.RequestReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), RequestID: a.Request.RequestId,
		Filename: a.Response.Filename}, nil
}

// Reservations.

// reserveNow records the reservation (its id is the reservation's id at
// the station) before it is sent.
func (c commands) reserveNow(ctx context.Context, m command.Meta, in *chargeplanev1.ReserveNowRequest) (*ocpp201.ReserveNowRequest, error) {
	h, err := reservation.Resolve(ctx, c.Tokens, in.GetIdToken(), in.GetIdTokenType(), in.GetGroupIdToken(), 0)
	if err != nil {
		return nil, err
	}
	r := &store.Reservation{StationID: m.StationID, OCPPVersion: m.Version, IDToken: h.IDToken, IDTokenType: h.Type,
		GroupIDToken: h.Group, ExpiresAt: command.Time(in.ExpiresAt), EVSEID: command.Int(in.EvseId),
		ConnectorType: in.GetConnectorType(), RequestedBy: m.RequestedBy}
	if err := c.Reservations.CreateReservation(ctx, r); err != nil {
		return nil, err
	}
	req := &ocpp201.ReserveNowRequest{Id: int(r.ID), ExpiryDateTime: command.OCPPTime(r.ExpiresAt), EvseId: r.EVSEID,
		ConnectorType: ocpp201.ConnectorEnum(r.ConnectorType), IdToken: ocpp201.IdToken{IdToken: r.IDToken, Type: ocpp201.IdTokenEnum(h.Type)}}
	if h.Group != "" {
		req.GroupIdToken = &ocpp201.IdToken{IdToken: h.Group, Type: ocpp201.IdTokenEnum(h.GroupType)}
	}
	return req, nil
}

func (c commands) reservationAnswered(ctx context.Context, a answer[ocpp201.ReserveNowRequest, ocpp201.ReserveNowResponse]) (*store.Reservation, error) {
	return reservation.Answered(ctx, c.Reservations, a.StationID, a.Request.Id, string(a.Response.Status))
}

func (c commands) reservationUnanswered(ctx context.Context, m command.Meta, req *ocpp201.ReserveNowRequest, err error) error {
	return reservation.Unanswered(ctx, c.Reservations, m.StationID, req.Id, command.Describe(err))
}

func reserved(a answer[ocpp201.ReserveNowRequest, ocpp201.ReserveNowResponse], r *store.Reservation) (command.ReservationReply, error) {
	return command.ReservationReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), Reservation: r}, nil
}

func cancelReservation(_ context.Context, _ command.Meta, in *chargeplanev1.CancelReservationRequest) (*ocpp201.CancelReservationRequest, error) {
	return &ocpp201.CancelReservationRequest{ReservationId: int(in.GetReservationId())}, nil
}

func (c commands) cancellationAnswered(ctx context.Context, a answer[ocpp201.CancelReservationRequest, ocpp201.CancelReservationResponse]) (*store.Reservation, error) {
	if a.Response.Status != ocpp201.CancelReservationStatusAccepted {
		return nil, nil
	}
	return reservation.Answered(ctx, c.Reservations, a.StationID, a.Request.ReservationId, store.ReservationCancelled)
}

func reservationCancelled(a answer[ocpp201.CancelReservationRequest, ocpp201.CancelReservationResponse], r *store.Reservation) (command.ReservationReply, error) {
	return command.ReservationReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), Reservation: r}, nil
}

// Local authorization list.

func getLocalListVersion(context.Context, command.Meta, *chargeplanev1.GetLocalListVersionRequest) (*ocpp201.GetLocalListVersionRequest, error) {
	return &ocpp201.GetLocalListVersionRequest{}, nil
}

func localListVersion(a answer[ocpp201.GetLocalListVersionRequest, ocpp201.GetLocalListVersionResponse], _ command.None) (command.ListVersionReply, error) {
	return command.ListVersionReply{CommandID: a.CommandID, Version: a.Response.VersionNumber}, nil
}

// localListCtrlr is the component whose variables say how much of a list
// a 2.0.1 station takes in one message. The spec's tables name them
// ItemsPerMessage and BytesPerMessage; some stations use the names of
// the spec's prose (…SendLocalList): both are asked for.
const localListCtrlr = "LocalAuthListCtrlr"

var localListLimitVars = map[string]func(*locallist.Limits, int){
	"ItemsPerMessage":              func(l *locallist.Limits, n int) { l.Items = n },
	"ItemsPerMessageSendLocalList": func(l *locallist.Limits, n int) { l.Items = n },
	"BytesPerMessage":              func(l *locallist.Limits, n int) { l.Bytes = n },
	"BytesPerMessageSendLocalList": func(l *locallist.Limits, n int) { l.Bytes = n },
}

func askLocalListLimits(context.Context, command.Meta, locallist.LimitsQuery) (*ocpp201.GetVariablesRequest, error) {
	req := &ocpp201.GetVariablesRequest{}
	for _, name := range []string{"ItemsPerMessage", "BytesPerMessage", "ItemsPerMessageSendLocalList", "BytesPerMessageSendLocalList"} {
		req.GetVariableData = append(req.GetVariableData, ocpp201.GetVariableData{Component: ocpp201.Component{Name: localListCtrlr},
			Variable: ocpp201.Variable{Name: name}})
	}
	return req, nil
}

// localListLimits reads the variables the station knows; a rejected or
// unreadable one says nothing (0).
func localListLimits(a answer[ocpp201.GetVariablesRequest, ocpp201.GetVariablesResponse], _ command.None) (locallist.Limits, error) {
	var l locallist.Limits
	for _, r := range a.Response.GetVariableResult {
		set := localListLimitVars[r.Variable.Name]
		if r.Component.Name != localListCtrlr || set == nil || r.AttributeStatus != ocpp201.GetVariableStatusAccepted {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(r.AttributeValue)); err == nil && n > 0 {
			set(&l, n)
		}
	}
	return l, nil
}

// sendLocalList sends one update of a station's list (api/locallist plans
// them).
func sendLocalList(_ context.Context, _ command.Meta, u locallist.Update) (*ocpp201.SendLocalListRequest, error) {
	req := &ocpp201.SendLocalListRequest{VersionNumber: u.Version, UpdateType: ocpp201.UpdateEnum(u.Type)}
	for _, e := range u.Updated {
		info := &ocpp201.IdTokenInfo{Status: ocpp201.AuthorizationStatusEnum(e.Status)}
		if e.ExpiresAt != nil {
			info.CacheExpiryDateTime = command.OCPPTime(*e.ExpiresAt)
		}
		if e.GroupID != "" {
			info.GroupIdToken = &ocpp201.IdToken{IdToken: e.GroupID, Type: ocpp201.IdTokenEnum(e.GroupType)}
		}
		req.LocalAuthorizationList = append(req.LocalAuthorizationList, ocpp201.AuthorizationData{
			IdToken: ocpp201.IdToken{IdToken: e.IDToken, Type: ocpp201.IdTokenEnum(e.IDTokenType)}, IdTokenInfo: info})
	}
	for _, e := range u.Removed {
		req.LocalAuthorizationList = append(req.LocalAuthorizationList, ocpp201.AuthorizationData{
			IdToken: ocpp201.IdToken{IdToken: e.IDToken, Type: ocpp201.IdTokenEnum(e.IDTokenType)}})
	}
	return req, nil
}

// localListAnswered records the list the station holds once it accepts.
func (c commands) localListAnswered(ctx context.Context, a answer[ocpp201.SendLocalListRequest, ocpp201.SendLocalListResponse]) (*store.LocalListVersion, error) {
	if a.Response.Status != ocpp201.SendLocalListStatusAccepted {
		return nil, nil
	}
	v, err := locallist.Accepted(ctx, c.LocalLists, a.StationID, localListUpdate(a.Request))
	if errors.Is(err, locallist.ErrConflict) {
		return nil, command.Conflict("another local list update of this station was accepted meanwhile: send a Full update")
	}
	return v, err
}

func localListUpdate(req *ocpp201.SendLocalListRequest) locallist.Update {
	u := locallist.Update{Version: req.VersionNumber, Type: string(req.UpdateType)}
	for _, d := range req.LocalAuthorizationList {
		e := store.LocalListEntry{IDToken: d.IdToken.IdToken, IDTokenType: string(d.IdToken.Type)}
		if d.IdTokenInfo == nil {
			u.Removed = append(u.Removed, e)
			continue
		}
		e.Status = string(d.IdTokenInfo.Status)
		if !d.IdTokenInfo.CacheExpiryDateTime.IsZero() {
			exp := d.IdTokenInfo.CacheExpiryDateTime
			e.ExpiresAt = &exp
		}
		if g := d.IdTokenInfo.GroupIdToken; g != nil {
			e.GroupID, e.GroupType = g.IdToken, string(g.Type)
		}
		u.Updated = append(u.Updated, e)
	}
	return u
}

func localListSent(a answer[ocpp201.SendLocalListRequest, ocpp201.SendLocalListResponse], v *store.LocalListVersion) (command.LocalListReply, error) {
	u := localListUpdate(a.Request)
	return command.LocalListReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), Version: u.Version,
		UpdateType: u.Type, Updated: len(u.Updated), Removed: len(u.Removed), Accepted: v}, nil
}

// Smart charging.

func setChargingProfile(_ context.Context, _ command.Meta, in *chargeplanev1.SetChargingProfileRequest) (*ocpp201.SetChargingProfileRequest, error) {
	req := &ocpp201.SetChargingProfileRequest{EvseId: int(in.GetEvseId())}
	if err := command.DecodeMessage("profile", in.GetProfile(), &req.ChargingProfile); err != nil {
		return nil, err
	}
	return req, nil
}

// profileAnswered stores a profile the station accepted, as the station
// does (replacing one of the same id, or of the same EVSE, purpose and
// stack level).
func (c commands) profileAnswered(ctx context.Context, a answer[ocpp201.SetChargingProfileRequest, ocpp201.SetChargingProfileResponse]) (*store.ChargingProfile, error) {
	if a.Response.Status != ocpp201.ChargingProfileStatusAccepted {
		return nil, nil
	}
	p := a.Request.ChargingProfile
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode profile %d: %w", p.Id, err)
	}
	sp := &store.ChargingProfile{StationID: a.StationID, OCPPVersion: a.Version, ProfileID: p.Id, EVSEID: a.Request.EvseId,
		Purpose: string(p.ChargingProfilePurpose), StackLevel: p.StackLevel, TransactionID: p.TransactionId,
		Profile: string(raw), RequestedBy: a.RequestedBy}
	if err := c.Profiles.SaveChargingProfile(ctx, sp); err != nil {
		return nil, err
	}
	if c.Planner != nil && plannedWithin(sp.Purpose) {
		// Evse 0: a station-wide profile bounds every EVSE's schedule.
		c.Planner.Replan(a.StationID, sp.EVSEID)
	}
	return sp, nil
}

func profileSet(a answer[ocpp201.SetChargingProfileRequest, ocpp201.SetChargingProfileResponse], p *store.ChargingProfile) (command.ProfileReply, error) {
	return command.ProfileReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), Profile: p}, nil
}

func clearChargingProfile(_ context.Context, _ command.Meta, in *chargeplanev1.ClearChargingProfileRequest) (*ocpp201.ClearChargingProfileRequest, error) {
	req := &ocpp201.ClearChargingProfileRequest{ChargingProfileId: command.Int(in.ProfileId)}
	if in.EvseId != nil || in.GetPurpose() != "" || in.StackLevel != nil {
		req.ChargingProfileCriteria = &ocpp201.ClearChargingProfile{EvseId: command.Int(in.EvseId),
			ChargingProfilePurpose: ocpp201.ChargingProfilePurposeEnum(in.GetPurpose()), StackLevel: command.Int(in.StackLevel)}
	}
	return req, nil
}

// clearProfilesAnswered forgets the stored profiles the criteria match:
// Accepted, or Unknown (the station has none such either).
func (c commands) clearProfilesAnswered(ctx context.Context, a answer[ocpp201.ClearChargingProfileRequest, ocpp201.ClearChargingProfileResponse]) (int64, error) {
	crit := store.ProfileCriteria{ProfileID: a.Request.ChargingProfileId}
	if k := a.Request.ChargingProfileCriteria; k != nil {
		crit.EVSEID, crit.Purpose, crit.StackLevel = k.EvseId, string(k.ChargingProfilePurpose), k.StackLevel
	}
	removed, err := c.Profiles.ClearChargingProfiles(ctx, a.StationID, crit)
	if err != nil {
		return 0, err
	}
	// The EVSEs that lost a limit their schedules were planned within are
	// those of the profiles removed (the criteria may name one by id alone).
	for _, p := range removed {
		if c.Planner != nil && plannedWithin(p.Purpose) {
			c.Planner.Replan(a.StationID, p.EVSEID)
		}
	}
	return int64(len(removed)), nil
}

func profilesCleared(a answer[ocpp201.ClearChargingProfileRequest, ocpp201.ClearChargingProfileResponse], n int64) (command.ClearProfilesReply, error) {
	return command.ClearProfilesReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), Removed: n}, nil
}

func getCompositeSchedule(_ context.Context, _ command.Meta, in *chargeplanev1.GetCompositeScheduleRequest) (*ocpp201.GetCompositeScheduleRequest, error) {
	return &ocpp201.GetCompositeScheduleRequest{Duration: int(in.GetDuration()), EvseId: int(in.GetEvseId()),
		ChargingRateUnit: ocpp201.ChargingRateUnitEnum(in.GetChargingRateUnit())}, nil
}

func compositeSchedule(a answer[ocpp201.GetCompositeScheduleRequest, ocpp201.GetCompositeScheduleResponse], _ command.None) (command.JSONReply, error) {
	out := command.JSONReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo)}
	if a.Response.Schedule == nil {
		return out, nil
	}
	var err error
	out.Data, err = json.Marshal(a.Response.Schedule)
	return out, err
}

func getChargingProfiles(_ context.Context, _ command.Meta, in *chargeplanev1.GetChargingProfilesRequest) (*ocpp201.GetChargingProfilesRequest, error) {
	crit := ocpp201.ChargingProfileCriterion{ChargingProfilePurpose: ocpp201.ChargingProfilePurposeEnum(in.GetPurpose()),
		StackLevel: command.Int(in.StackLevel)}
	for _, id := range in.GetProfileIds() {
		crit.ChargingProfileId = append(crit.ChargingProfileId, int(id))
	}
	for _, src := range in.GetChargingLimitSources() {
		crit.ChargingLimitSource = append(crit.ChargingLimitSource, ocpp201.ChargingLimitSourceEnum(src))
	}
	return &ocpp201.GetChargingProfilesRequest{RequestId: command.RequestID(in.GetRequestId()), EvseId: command.Int(in.EvseId), ChargingProfile: crit}, nil
}

// chargingProfilesRequested: the profiles arrive in ReportChargingProfiles,
// stored under the request id.
func chargingProfilesRequested(a answer[ocpp201.GetChargingProfilesRequest, ocpp201.GetChargingProfilesResponse], _ command.None) (command.RequestReply, error) {
	return command.RequestReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), RequestID: a.Request.RequestId}, nil
}
