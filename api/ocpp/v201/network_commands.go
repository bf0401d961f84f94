package v201

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/redact"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// Network profiles (B09) and firmware publishing on a local controller
// (L03, L04).

// NetworkProfileStore keeps the network profiles stations accepted.
type NetworkProfileStore interface {
	SaveNetworkProfile(ctx context.Context, p *store.NetworkProfile) error
}

// DefaultMessageTimeout is the connectionData.messageTimeout sent when the
// operator gives none: the spec's suggested starting point.
const DefaultMessageTimeout = 30

// setNetworkProfile maps the operator's profile; the operator service has
// settled its security profile against the station's.
func setNetworkProfile(_ context.Context, _ command.Meta, in *chargeplanev1.SetNetworkProfileRequest) (*ocpp201.SetNetworkProfileRequest, error) {
	conn := ocpp201.NetworkConnectionProfile{OcppVersion: ocpp201.OCPPVersionOCPP20, OcppTransport: ocpp201.OCPPTransportJSON,
		OcppCsmsUrl: in.GetCsmsUrl(), MessageTimeout: int(cmp.Or(in.GetMessageTimeout(), DefaultMessageTimeout)),
		SecurityProfile: int(in.GetSecurityProfile()),
		OcppInterface:   ocpp201.OCPPInterfaceEnum(cmp.Or(in.GetOcppInterface(), string(ocpp201.OCPPInterfaceWired0)))}
	if in.Vpn != nil {
		conn.Vpn = new(ocpp201.VPN)
		if err := command.DecodeMessage("vpn", in.Vpn, conn.Vpn); err != nil {
			return nil, err
		}
	}
	if in.Apn != nil {
		conn.Apn = new(ocpp201.APN)
		if err := command.DecodeMessage("apn", in.Apn, conn.Apn); err != nil {
			return nil, err
		}
	}
	return &ocpp201.SetNetworkProfileRequest{ConfigurationSlot: int(in.GetConfigurationSlot()), ConnectionData: conn}, nil
}

// networkProfileAnswered keeps an accepted profile in its slot, without
// its secrets.
func (c commands) networkProfileAnswered(ctx context.Context, a answer[ocpp201.SetNetworkProfileRequest, ocpp201.SetNetworkProfileResponse]) (*store.NetworkProfile, error) {
	if a.Response.Status != ocpp201.SetNetworkProfileStatusAccepted {
		return nil, nil
	}
	raw, err := json.Marshal(a.Request.ConnectionData)
	if err != nil {
		return nil, fmt.Errorf("encode network profile: %w", err)
	}
	raw, _ = redact.JSON(raw)
	p := &store.NetworkProfile{StationID: a.StationID, Slot: a.Request.ConfigurationSlot,
		SecurityProfile: a.Request.ConnectionData.SecurityProfile, CSMSURL: a.Request.ConnectionData.OcppCsmsUrl,
		ConnectionData: string(raw), RequestedBy: a.RequestedBy, CommandID: a.CommandID}
	if err := c.NetworkProfiles.SaveNetworkProfile(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

func networkProfileSet(a answer[ocpp201.SetNetworkProfileRequest, ocpp201.SetNetworkProfileResponse], p *store.NetworkProfile) (command.NetworkProfileReply, error) {
	return command.NetworkProfileReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), Profile: p}, nil
}

func publishFirmware(_ context.Context, _ command.Meta, in *chargeplanev1.PublishFirmwareRequest) (*ocpp201.PublishFirmwareRequest, error) {
	return &ocpp201.PublishFirmwareRequest{Location: in.GetLocation(), Checksum: in.GetChecksum(),
		RequestId: command.RequestID(in.GetRequestId()), Retries: command.Int(in.Retries), RetryInterval: command.Int(in.RetryInterval)}, nil
}

// firmwarePublishing: the progress arrives in
// PublishFirmwareStatusNotification, kept as status reports of kind
// publish.
func firmwarePublishing(a answer[ocpp201.PublishFirmwareRequest, ocpp201.PublishFirmwareResponse], _ command.None) (command.RequestReply, error) {
	return command.RequestReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), RequestID: a.Request.RequestId}, nil
}

func unpublishFirmware(_ context.Context, _ command.Meta, in *chargeplanev1.UnpublishFirmwareRequest) (*ocpp201.UnpublishFirmwareRequest, error) {
	return &ocpp201.UnpublishFirmwareRequest{Checksum: in.GetChecksum()}, nil
}

func firmwareUnpublished(a answer[ocpp201.UnpublishFirmwareRequest, ocpp201.UnpublishFirmwareResponse], _ command.None) (command.Reply, error) {
	return command.StatusReply(a.Meta, a.Response.Status), nil
}
