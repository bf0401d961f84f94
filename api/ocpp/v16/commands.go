package v16

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/locallist"
	"github.com/chargeplane/chargeplane/api/reservation"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// CommandDeps are what the 1.6 commands share.
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
	// Configuration keeps each station's configuration keys as last
	// reported (GetConfiguration) or accepted (ChangeConfiguration).
	Configuration ConfigurationStore
	Now           func() time.Time
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

// idTagLen is the longest 1.6 idTag (CiString20).
const idTagLen = 20

// answer is the decoded answer to a 1.6 command.
type answer[Req, Resp any] = command.Answer[Req, Resp]

// Commands is every CSMS-initiated action of OCPP 1.6 (core profile and
// the security extension): its types, what its answer changes, and the
// typed operator operations it carries out. An action without an
// operation is sent only through the generic call; one without an effect
// changes nothing when answered.
func Commands(d CommandDeps) command.Table {
	c := commands{d}
	return command.NewTable(
		command.New(ocpp16.ActionRemoteStartTransaction, command.Op(remoteStart, remoteStarted)),
		command.New(ocpp16.ActionRemoteStopTransaction, command.Op(remoteStop, remoteStopped)),
		command.New(ocpp16.ActionReset, command.Op(reset, resetDone)),
		command.New(ocpp16.ActionChangeAvailability, command.Op(changeAvailability, availabilityChanged)),
		command.New(ocpp16.ActionUnlockConnector, command.Op(unlockConnector, connectorUnlocked)),
		command.New(ocpp16.ActionTriggerMessage, command.Op(triggerMessage, messageTriggered)),
		command.New(ocpp16.ActionClearCache, command.Op(clearCache, cacheCleared)),
		command.New(ocpp16.ActionDataTransfer, command.Op(dataTransfer, dataTransferred)),

		command.WithEffect(ocpp16.ActionGetConfiguration, c.configurationReported, command.Op(getConfiguration, configurationGot),
			command.Op(askLocalListLimits, localListLimits)),
		command.WithEffect(ocpp16.ActionChangeConfiguration, c.configurationAccepted, command.Op(changeConfiguration, configurationChanged),
			command.Op(changePassword, configurationChanged)),

		command.New(ocpp16.ActionUpdateFirmware, command.Op(c.updateFirmware, firmwareUpdating)),
		command.New(ocpp16.ActionGetDiagnostics, command.Op(getDiagnostics, diagnosticsRequested)),

		command.WithEffect(ocpp16.ActionReserveNow, c.reservationAnswered, command.Op(c.reserveNow, reserved),
			command.OnNoAnswer[ocpp16.ReserveNowRequest, ocpp16.ReserveNowResponse, *store.Reservation](c.reservationUnanswered)),
		command.WithEffect(ocpp16.ActionCancelReservation, c.cancellationAnswered, command.Op(cancelReservation, reservationCancelled)),

		command.New(ocpp16.ActionGetLocalListVersion, command.Op(getLocalListVersion, localListVersion)),
		command.WithEffect(ocpp16.ActionSendLocalList, c.localListAnswered, command.Op(sendLocalList, localListSent)),

		command.WithEffect(ocpp16.ActionSetChargingProfile, c.profileAnswered, command.Op(setChargingProfile, profileSet)),
		command.WithEffect(ocpp16.ActionClearChargingProfile, c.clearProfilesAnswered, command.Op(clearChargingProfile, profilesCleared)),
		command.New(ocpp16.ActionGetCompositeSchedule, command.Op(getCompositeSchedule, compositeSchedule)),

		// Security extension (OCPP 1.6 security whitepaper).
		command.New(ocpp16.ActionCertificateSigned, command.Op(certificateSigned, certificateSignedAnswered)),
		command.WithEffect(ocpp16.ActionInstallCertificate, c.certificateInstalled, command.Op(installCertificate, certificateInstallAnswered)),
		command.WithEffect(ocpp16.ActionDeleteCertificate, c.certificateDeleted, command.Op(deleteCertificate, certificateDeleteAnswered)),
		command.WithEffect(ocpp16.ActionGetInstalledCertificateIds, c.installedCertificateIds,
			command.Op(getInstalledCertificateIds, installedCertificateIdsGot)),
		command.New(ocpp16.ActionExtendedTriggerMessage, command.Op(renewCertificate, renewalTriggered)),
		command.New(ocpp16.ActionSignedUpdateFirmware, command.Op(c.signedUpdateFirmware, signedFirmwareUpdating)),
		command.New(ocpp16.ActionGetLog, command.Op(uploadLog, logUploading)),
	)
}

// commands are the operations and effects that need the CSMS's state.
type commands struct{ CommandDeps }

// Remote control.

func remoteStart(_ context.Context, m command.Meta, in *chargeplanev1.RemoteStartRequest) (*ocpp16.RemoteStartTransactionRequest, error) {
	if err := errors.Join(command.OnlyIn(m, ocppj.V201, "evse_id", in.EvseId != nil),
		command.OnlyIn(m, ocppj.V201, "id_token_type", in.GetIdTokenType() != "")); err != nil {
		return nil, err
	}
	req := &ocpp16.RemoteStartTransactionRequest{ConnectorId: command.Int(in.ConnectorId), IdTag: in.GetIdToken()}
	if in.ChargingProfile != nil {
		req.ChargingProfile = new(ocpp16.ChargingProfile)
		if err := command.DecodeMessage("charging_profile", in.ChargingProfile, req.ChargingProfile); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// remoteStarted finds the transaction by its idTag and connector: 1.6 has
// no id to tie it to the command.
func remoteStarted(a answer[ocpp16.RemoteStartTransactionRequest, ocpp16.RemoteStartTransactionResponse], _ command.None) (command.RemoteStartReply, error) {
	q := store.RemoteStartQuery{StationID: a.StationID, IDTag: a.Request.IdTag}
	if a.Request.ConnectorId != nil {
		q.ConnectorID = *a.Request.ConnectorId
	}
	return command.RemoteStartReply{Reply: command.StatusReply(a.Meta, a.Response.Status), Find: q}, nil
}

// remoteStop names the transaction by the number the station knows it by.
func remoteStop(_ context.Context, m command.Meta, in command.RemoteStop) (*ocpp16.RemoteStopTransactionRequest, error) {
	t := in.Transaction
	if t.OCPPVersion != m.Version {
		return nil, command.Invalid("transaction %d was recorded under OCPP %s; the station now speaks OCPP %s", t.ID, t.OCPPVersion, m.Version)
	}
	id, ok := store.OCPP16TransactionID(t.TransactionUID)
	if !ok {
		return nil, command.Precondition("transaction %d has no 1.6 transactionId the station knows", t.ID)
	}
	return &ocpp16.RemoteStopTransactionRequest{TransactionId: id}, nil
}

func remoteStopped(a answer[ocpp16.RemoteStopTransactionRequest, ocpp16.RemoteStopTransactionResponse], _ command.None) (command.Reply, error) {
	return command.StatusReply(a.Meta, a.Response.Status), nil
}

func reset(_ context.Context, m command.Meta, in *chargeplanev1.ResetRequest) (*ocpp16.ResetRequest, error) {
	if err := command.OnlyIn(m, ocppj.V201, "evse_id", in.EvseId != nil); err != nil {
		return nil, err
	}
	typ := ocpp16.ResetRequestType(in.GetType())
	switch typ {
	case "":
		typ = ocpp16.ResetRequestTypeSoft
	case ocpp16.ResetRequestTypeHard, ocpp16.ResetRequestTypeSoft:
	default:
		return nil, command.Invalid("OCPP 1.6 reset type is Hard or Soft, not %q", typ)
	}
	return &ocpp16.ResetRequest{Type: typ}, nil
}

func resetDone(a answer[ocpp16.ResetRequest, ocpp16.ResetResponse], _ command.None) (command.Reply, error) {
	return command.StatusReply(a.Meta, a.Response.Status), nil
}

func changeAvailability(_ context.Context, m command.Meta, in *chargeplanev1.ChangeAvailabilityRequest) (*ocpp16.ChangeAvailabilityRequest, error) {
	if err := command.OnlyIn(m, ocppj.V201, "evse_id", in.EvseId != nil); err != nil {
		return nil, err
	}
	return &ocpp16.ChangeAvailabilityRequest{ConnectorId: int(in.GetConnectorId()),
		Type: ocpp16.ChangeAvailabilityRequestType(in.GetOperationalStatus())}, nil
}

func availabilityChanged(a answer[ocpp16.ChangeAvailabilityRequest, ocpp16.ChangeAvailabilityResponse], _ command.None) (command.Reply, error) {
	return command.StatusReply(a.Meta, a.Response.Status), nil
}

func unlockConnector(_ context.Context, m command.Meta, in *chargeplanev1.UnlockConnectorRequest) (*ocpp16.UnlockConnectorRequest, error) {
	if err := command.OnlyIn(m, ocppj.V201, "evse_id", in.EvseId != nil); err != nil {
		return nil, err
	}
	return &ocpp16.UnlockConnectorRequest{ConnectorId: int(in.GetConnectorId())}, nil
}

func connectorUnlocked(a answer[ocpp16.UnlockConnectorRequest, ocpp16.UnlockConnectorResponse], _ command.None) (command.Reply, error) {
	return command.StatusReply(a.Meta, a.Response.Status), nil
}

func triggerMessage(_ context.Context, m command.Meta, in *chargeplanev1.TriggerMessageRequest) (*ocpp16.TriggerMessageRequest, error) {
	if err := command.OnlyIn(m, ocppj.V201, "evse_id", in.EvseId != nil); err != nil {
		return nil, err
	}
	return &ocpp16.TriggerMessageRequest{RequestedMessage: ocpp16.RequestedMessage(in.GetRequestedMessage()),
		ConnectorId: command.Int(in.ConnectorId)}, nil
}

func messageTriggered(a answer[ocpp16.TriggerMessageRequest, ocpp16.TriggerMessageResponse], _ command.None) (command.Reply, error) {
	return command.StatusReply(a.Meta, a.Response.Status), nil
}

func clearCache(context.Context, command.Meta, *chargeplanev1.ClearCacheRequest) (*ocpp16.ClearCacheRequest, error) {
	return &ocpp16.ClearCacheRequest{}, nil
}

func cacheCleared(a answer[ocpp16.ClearCacheRequest, ocpp16.ClearCacheResponse], _ command.None) (command.Reply, error) {
	return command.StatusReply(a.Meta, a.Response.Status), nil
}

func dataTransfer(_ context.Context, _ command.Meta, in *chargeplanev1.DataTransferRequest) (*ocpp16.DataTransferRequest, error) {
	req := &ocpp16.DataTransferRequest{VendorId: in.GetVendorId(), MessageId: in.GetMessageId()}
	if d := in.GetData(); d != nil {
		s, ok := d.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil, command.Invalid("OCPP 1.6 DataTransfer data must be a string")
		}
		req.Data = s.StringValue
	}
	return req, nil
}

func dataTransferred(a answer[ocpp16.DataTransferRequest, ocpp16.DataTransferResponse], _ command.None) (command.JSONReply, error) {
	out := command.JSONReply{Reply: command.StatusReply(a.Meta, a.Response.Status)}
	if a.Response.Data != "" {
		out.Data, _ = json.Marshal(a.Response.Data)
	}
	return out, nil
}

// Configuration.

func getConfiguration(_ context.Context, _ command.Meta, in *chargeplanev1.GetConfigurationRequest) (*ocpp16.GetConfigurationRequest, error) {
	return &ocpp16.GetConfigurationRequest{Key: in.GetKeys()}, nil
}

func configurationGot(a answer[ocpp16.GetConfigurationRequest, ocpp16.GetConfigurationResponse], _ command.None) (command.ConfigurationReply, error) {
	out := command.ConfigurationReply{CommandID: a.CommandID, UnknownKeys: a.Response.UnknownKey}
	for _, k := range a.Response.ConfigurationKey {
		key := command.ConfigurationKey{Key: k.Key, Readonly: k.Readonly}
		if k.Value != "" {
			key.Value = &k.Value
		}
		out.Keys = append(out.Keys, key)
	}
	return out, nil
}

func changeConfiguration(_ context.Context, _ command.Meta, in *chargeplanev1.ChangeConfigurationRequest) (*ocpp16.ChangeConfigurationRequest, error) {
	return &ocpp16.ChangeConfigurationRequest{Key: in.GetKey(), Value: in.GetValue()}, nil
}

func configurationChanged(a answer[ocpp16.ChangeConfigurationRequest, ocpp16.ChangeConfigurationResponse], _ command.None) (command.Reply, error) {
	return command.StatusReply(a.Meta, a.Response.Status), nil
}

// Firmware and diagnostics.

func (c commands) updateFirmware(_ context.Context, m command.Meta, in *chargeplanev1.UpdateFirmwareRequest) (*ocpp16.UpdateFirmwareRequest, error) {
	if err := errors.Join(command.OnlyIn(m, ocppj.V201, "install_time", in.InstallTime != nil),
		command.OnlyIn(m, ocppj.V201, "signing_certificate", in.GetSigningCertificate() != ""),
		command.OnlyIn(m, ocppj.V201, "signature", in.GetSignature() != ""),
		command.OnlyIn(m, ocppj.V201, "request_id", in.GetRequestId() != 0)); err != nil {
		return nil, err
	}
	req := &ocpp16.UpdateFirmwareRequest{Location: in.GetLocation(), RetrieveDate: command.Time(in.RetrieveTime)}
	if req.RetrieveDate.IsZero() {
		req.RetrieveDate = command.OCPPTime(c.Now())
	}
	if in.Retries != nil {
		r := float64(in.GetRetries())
		req.Retries = &r
	}
	if in.RetryInterval != nil {
		r := float64(in.GetRetryInterval())
		req.RetryInterval = &r
	}
	return req, nil
}

// firmwareUpdating: 1.6 answers with an empty payload, the acknowledgement
// is all.
func firmwareUpdating(a answer[ocpp16.UpdateFirmwareRequest, ocpp16.UpdateFirmwareResponse], _ command.None) (command.RequestReply, error) {
	return command.RequestReply{Reply: command.Reply{CommandID: a.CommandID, Status: "Accepted"}}, nil
}

// getDiagnostics is the 1.6 form of a log upload.
func getDiagnostics(_ context.Context, m command.Meta, in *chargeplanev1.GetLogRequest) (*ocpp16.GetDiagnosticsRequest, error) {
	if err := errors.Join(command.OnlyIn(m, ocppj.V201, "request_id", in.GetRequestId() != 0),
		command.OnlyIn(m, ocppj.V201, "log_type SecurityLog", in.GetLogType() == "SecurityLog")); err != nil {
		return nil, err
	}
	return &ocpp16.GetDiagnosticsRequest{Location: in.GetLocation(), Retries: command.Int(in.Retries),
		RetryInterval: command.Int(in.RetryInterval), StartTime: command.Time(in.OldestTime), StopTime: command.Time(in.LatestTime)}, nil
}

func diagnosticsRequested(a answer[ocpp16.GetDiagnosticsRequest, ocpp16.GetDiagnosticsResponse], _ command.None) (command.RequestReply, error) {
	return command.RequestReply{Reply: command.Reply{CommandID: a.CommandID, Status: "Accepted"}, Filename: a.Response.FileName}, nil
}

// Reservations.

// reserveNow records the reservation (its id is the reservationId) before
// it is sent.
func (c commands) reserveNow(ctx context.Context, m command.Meta, in *chargeplanev1.ReserveNowRequest) (*ocpp16.ReserveNowRequest, error) {
	if err := errors.Join(command.OnlyIn(m, ocppj.V201, "connector_type", in.GetConnectorType() != ""),
		command.OnlyIn(m, ocppj.V201, "id_token_type", in.GetIdTokenType() != "")); err != nil {
		return nil, err
	}
	if len(in.GetIdToken()) > idTagLen || len(in.GetGroupIdToken()) > idTagLen {
		return nil, command.Invalid("OCPP 1.6 id tags are at most %d characters", idTagLen)
	}
	h, err := reservation.Resolve(ctx, c.Tokens, in.GetIdToken(), "", in.GetGroupIdToken(), idTagLen)
	if err != nil {
		return nil, err
	}
	r := &store.Reservation{StationID: m.StationID, OCPPVersion: m.Version, IDToken: h.IDToken, GroupIDToken: h.Group,
		ExpiresAt: command.Time(in.ExpiresAt), ConnectorID: int(in.GetEvseId()), RequestedBy: m.RequestedBy}
	if err := c.Reservations.CreateReservation(ctx, r); err != nil {
		return nil, err
	}
	return &ocpp16.ReserveNowRequest{ConnectorId: r.ConnectorID, ExpiryDate: command.OCPPTime(r.ExpiresAt), IdTag: r.IDToken,
		ParentIdTag: h.Group, ReservationId: int(r.ID)}, nil
}

func (c commands) reservationAnswered(ctx context.Context, a answer[ocpp16.ReserveNowRequest, ocpp16.ReserveNowResponse]) (*store.Reservation, error) {
	return reservation.Answered(ctx, c.Reservations, a.StationID, a.Request.ReservationId, string(a.Response.Status))
}

func (c commands) reservationUnanswered(ctx context.Context, m command.Meta, req *ocpp16.ReserveNowRequest, err error) error {
	return reservation.Unanswered(ctx, c.Reservations, m.StationID, req.ReservationId, command.Describe(err))
}

func reserved(a answer[ocpp16.ReserveNowRequest, ocpp16.ReserveNowResponse], r *store.Reservation) (command.ReservationReply, error) {
	return command.ReservationReply{Reply: command.StatusReply(a.Meta, a.Response.Status), Reservation: r}, nil
}

func cancelReservation(_ context.Context, _ command.Meta, in *chargeplanev1.CancelReservationRequest) (*ocpp16.CancelReservationRequest, error) {
	return &ocpp16.CancelReservationRequest{ReservationId: int(in.GetReservationId())}, nil
}

func (c commands) cancellationAnswered(ctx context.Context, a answer[ocpp16.CancelReservationRequest, ocpp16.CancelReservationResponse]) (*store.Reservation, error) {
	if a.Response.Status != ocpp16.CancelReservationResponseStatusAccepted {
		return nil, nil
	}
	return reservation.Answered(ctx, c.Reservations, a.StationID, a.Request.ReservationId, store.ReservationCancelled)
}

func reservationCancelled(a answer[ocpp16.CancelReservationRequest, ocpp16.CancelReservationResponse], r *store.Reservation) (command.ReservationReply, error) {
	return command.ReservationReply{Reply: command.StatusReply(a.Meta, a.Response.Status), Reservation: r}, nil
}

// Local authorization list.

func getLocalListVersion(context.Context, command.Meta, *chargeplanev1.GetLocalListVersionRequest) (*ocpp16.GetLocalListVersionRequest, error) {
	return &ocpp16.GetLocalListVersionRequest{}, nil
}

func localListVersion(a answer[ocpp16.GetLocalListVersionRequest, ocpp16.GetLocalListVersionResponse], _ command.None) (command.ListVersionReply, error) {
	return command.ListVersionReply{CommandID: a.CommandID, Version: a.Response.ListVersion}, nil
}

// The configuration keys that say how much of a list a 1.6 station takes.
const (
	localAuthListMaxLength = "LocalAuthListMaxLength"
	sendLocalListMaxLength = "SendLocalListMaxLength"
)

func askLocalListLimits(context.Context, command.Meta, locallist.LimitsQuery) (*ocpp16.GetConfigurationRequest, error) {
	return &ocpp16.GetConfigurationRequest{Key: []string{localAuthListMaxLength, sendLocalListMaxLength}}, nil
}

// localListLimits reads the keys the station knows; an unknown or
// unreadable one says nothing (0).
func localListLimits(a answer[ocpp16.GetConfigurationRequest, ocpp16.GetConfigurationResponse], _ command.None) (locallist.Limits, error) {
	var l locallist.Limits
	for _, k := range a.Response.ConfigurationKey {
		n, err := strconv.Atoi(strings.TrimSpace(k.Value))
		if err != nil || n <= 0 {
			continue
		}
		switch k.Key {
		case localAuthListMaxLength:
			l.Entries = n
		case sendLocalListMaxLength:
			l.Items = n
		}
	}
	return l, nil
}

// sendLocalList sends one update of a station's list (api/locallist plans
// them).
func sendLocalList(_ context.Context, _ command.Meta, u locallist.Update) (*ocpp16.SendLocalListRequest, error) {
	req := &ocpp16.SendLocalListRequest{ListVersion: u.Version, UpdateType: ocpp16.UpdateType(u.Type)}
	for _, e := range u.Updated {
		info := &ocpp16.IdTagInfo{Status: ocpp16.AuthorizationStatus(e.Status), ParentIdTag: e.GroupID}
		if e.ExpiresAt != nil {
			info.ExpiryDate = command.OCPPTime(*e.ExpiresAt)
		}
		req.LocalAuthorizationList = append(req.LocalAuthorizationList, ocpp16.AuthorizationData{IdTag: e.IDToken, IdTagInfo: info})
	}
	for _, e := range u.Removed {
		req.LocalAuthorizationList = append(req.LocalAuthorizationList, ocpp16.AuthorizationData{IdTag: e.IDToken})
	}
	return req, nil
}

// localListAnswered records the list the station holds once it accepts.
func (c commands) localListAnswered(ctx context.Context, a answer[ocpp16.SendLocalListRequest, ocpp16.SendLocalListResponse]) (*store.LocalListVersion, error) {
	if a.Response.Status != ocpp16.SendLocalListResponseStatusAccepted {
		return nil, nil
	}
	v, err := locallist.Accepted(ctx, c.LocalLists, a.StationID, localListUpdate(a.Request))
	if errors.Is(err, locallist.ErrConflict) {
		return nil, command.Conflict("another local list update of this station was accepted meanwhile: send a Full update")
	}
	return v, err
}

func localListUpdate(req *ocpp16.SendLocalListRequest) locallist.Update {
	u := locallist.Update{Version: req.ListVersion, Type: string(req.UpdateType)}
	for _, d := range req.LocalAuthorizationList {
		e := store.LocalListEntry{IDToken: d.IdTag}
		if d.IdTagInfo == nil {
			u.Removed = append(u.Removed, e)
			continue
		}
		e.Status, e.GroupID = string(d.IdTagInfo.Status), d.IdTagInfo.ParentIdTag
		if !d.IdTagInfo.ExpiryDate.IsZero() {
			exp := d.IdTagInfo.ExpiryDate
			e.ExpiresAt = &exp
		}
		u.Updated = append(u.Updated, e)
	}
	return u
}

func localListSent(a answer[ocpp16.SendLocalListRequest, ocpp16.SendLocalListResponse], v *store.LocalListVersion) (command.LocalListReply, error) {
	u := localListUpdate(a.Request)
	return command.LocalListReply{Reply: command.StatusReply(a.Meta, a.Response.Status), Version: u.Version, UpdateType: u.Type,
		Updated: len(u.Updated), Removed: len(u.Removed), Accepted: v}, nil
}

// Smart charging.

func setChargingProfile(_ context.Context, _ command.Meta, in *chargeplanev1.SetChargingProfileRequest) (*ocpp16.SetChargingProfileRequest, error) {
	req := &ocpp16.SetChargingProfileRequest{ConnectorId: int(in.GetEvseId())}
	if err := command.DecodeMessage("profile", in.GetProfile(), &req.CsChargingProfiles); err != nil {
		return nil, err
	}
	return req, nil
}

// profileAnswered stores a profile the station accepted, as the station
// does (replacing one of the same id, or of the same connector, purpose
// and stack level).
func (c commands) profileAnswered(ctx context.Context, a answer[ocpp16.SetChargingProfileRequest, ocpp16.SetChargingProfileResponse]) (*store.ChargingProfile, error) {
	if a.Response.Status != ocpp16.SetChargingProfileResponseStatusAccepted {
		return nil, nil
	}
	p := a.Request.CsChargingProfiles
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	sp := &store.ChargingProfile{StationID: a.StationID, OCPPVersion: a.Version, ProfileID: p.ChargingProfileId,
		EVSEID: a.Request.ConnectorId, Purpose: string(p.ChargingProfilePurpose), StackLevel: p.StackLevel,
		Profile: string(raw), RequestedBy: a.RequestedBy}
	if p.TransactionId != nil {
		sp.TransactionID = strconv.Itoa(*p.TransactionId)
	}
	if err := c.Profiles.SaveChargingProfile(ctx, sp); err != nil {
		return nil, err
	}
	return sp, nil
}

func profileSet(a answer[ocpp16.SetChargingProfileRequest, ocpp16.SetChargingProfileResponse], p *store.ChargingProfile) (command.ProfileReply, error) {
	return command.ProfileReply{Reply: command.StatusReply(a.Meta, a.Response.Status), Profile: p}, nil
}

func clearChargingProfile(_ context.Context, _ command.Meta, in *chargeplanev1.ClearChargingProfileRequest) (*ocpp16.ClearChargingProfileRequest, error) {
	return &ocpp16.ClearChargingProfileRequest{Id: command.Int(in.ProfileId), ConnectorId: command.Int(in.EvseId),
		ChargingProfilePurpose: ocpp16.ChargingProfilePurpose(in.GetPurpose()), StackLevel: command.Int(in.StackLevel)}, nil
}

// clearProfilesAnswered forgets the stored profiles the criteria match:
// Accepted, or Unknown (the station has none such either).
func (c commands) clearProfilesAnswered(ctx context.Context, a answer[ocpp16.ClearChargingProfileRequest, ocpp16.ClearChargingProfileResponse]) (int64, error) {
	r := a.Request
	removed, err := c.Profiles.ClearChargingProfiles(ctx, a.StationID, store.ProfileCriteria{ProfileID: r.Id, EVSEID: r.ConnectorId,
		Purpose: string(r.ChargingProfilePurpose), StackLevel: r.StackLevel})
	return int64(len(removed)), err
}

func profilesCleared(a answer[ocpp16.ClearChargingProfileRequest, ocpp16.ClearChargingProfileResponse], n int64) (command.ClearProfilesReply, error) {
	return command.ClearProfilesReply{Reply: command.StatusReply(a.Meta, a.Response.Status), Removed: n}, nil
}

func getCompositeSchedule(_ context.Context, _ command.Meta, in *chargeplanev1.GetCompositeScheduleRequest) (*ocpp16.GetCompositeScheduleRequest, error) {
	return &ocpp16.GetCompositeScheduleRequest{ConnectorId: int(in.GetEvseId()), Duration: int(in.GetDuration()),
		ChargingRateUnit: ocpp16.ChargingRateUnit(in.GetChargingRateUnit())}, nil
}

// compositeSchedule passes on the schedule's parts, which 1.6 puts beside
// the status.
func compositeSchedule(a answer[ocpp16.GetCompositeScheduleRequest, ocpp16.GetCompositeScheduleResponse], _ command.None) (command.JSONReply, error) {
	r := a.Response
	out := command.JSONReply{Reply: command.StatusReply(a.Meta, r.Status)}
	if r.ConnectorId == nil && r.ScheduleStart.IsZero() && r.ChargingSchedule == nil {
		return out, nil
	}
	schedule := *r
	schedule.Status = "" // left out: it is the reply's
	b, err := json.Marshal(schedule)
	if err != nil {
		return out, err
	}
	var parts map[string]json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil {
		return out, err
	}
	delete(parts, "status")
	out.Data, err = json.Marshal(parts)
	return out, err
}
