package runningcost

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// DeviceModels reads what stations reported of their configuration: the
// 2.0.1 device model, the 1.6 configuration keys.
type DeviceModels interface {
	LatestDeviceModel(ctx context.Context, stationID string) (*store.DeviceModelReport, error)
	GetConfigurationKey(ctx context.Context, stationID, key string) (*store.ConfigurationKey, error)
}

// CommandSender sends through the command table, so that every message
// and every question is in the station's command history.
type CommandSender struct {
	Commands *command.Sender
	Store    DeviceModels
}

// CostUpdated implements Sender.
func (s CommandSender) CostUpdated(ctx context.Context, t *store.Transaction, cost float64) error {
	_, err := command.Do[command.Reply](ctx, s.Commands, t.StationID, RequestedBy, command.CostUpdate{Transaction: t, TotalCost: cost})
	return err
}

// CostMessage implements Sender.
func (s CommandSender) CostMessage(ctx context.Context, stationID, messageID, data string) (string, error) {
	r, err := command.Do[command.JSONReply](ctx, s.Commands, stationID, RequestedBy, &chargeplanev1.DataTransferRequest{
		StationId: stationID, VendorId: VendorID, MessageId: messageID, Data: structpb.NewStringValue(data)})
	if err != nil {
		return "", err
	}
	return r.Status, nil
}

// Support implements Sender. What the station last reported answers when
// it holds the setting (a 2.0.1 station's device model, a 1.6 station's
// kept CustomDisplayCostAndPrice, which an accepted ChangeConfiguration
// updates too); otherwise the station is asked (GetVariables,
// GetConfiguration), and a 1.6 answer is kept for the next time.
func (s CommandSender) Support(ctx context.Context, stationID string, v ocppj.Version) (Support, error) {
	switch v {
	case ocppj.V201:
		dm, err := s.Store.LatestDeviceModel(ctx, stationID)
		switch {
		case err == nil:
			if sup := FromDeviceModel(dm.Data); sup != Unknown {
				return sup, nil
			}
		case !errors.Is(err, store.ErrNotFound):
			return Unknown, err
		}
		r, err := command.Do[command.VariablesReply](ctx, s.Commands, stationID, RequestedBy, &chargeplanev1.GetVariablesRequest{
			StationId: stationID, Variables: []*chargeplanev1.VariableSelector{{
				Component: &chargeplanev1.ComponentRef{Name: TariffCostCtrlr},
				Variable:  &chargeplanev1.VariableRef{Name: EnabledVariable, Instance: CostInstance},
			}}})
		if err != nil {
			return Unknown, err
		}
		for _, res := range r.Results {
			if res.AttributeStatus == "Accepted" && res.AttributeValue != nil {
				return FromValue(*res.AttributeValue), nil
			}
		}
		return Unknown, nil
	case ocppj.V16:
		k, err := s.Store.GetConfigurationKey(ctx, stationID, CustomDisplayCostAndPrice)
		switch {
		case err == nil:
			// A value awaiting a reboot is not yet the station's: ask.
			if k.Value != nil && !k.AwaitingReboot {
				if sup := FromValue(*k.Value); sup != Unknown {
					return sup, nil
				}
			}
		case !errors.Is(err, store.ErrNotFound):
			return Unknown, err
		}
		r, err := command.Do[command.ConfigurationReply](ctx, s.Commands, stationID, RequestedBy,
			&chargeplanev1.GetConfigurationRequest{StationId: stationID, Keys: []string{CustomDisplayCostAndPrice}})
		if err != nil {
			return Unknown, err
		}
		for _, k := range r.Keys {
			if strings.EqualFold(k.Key, CustomDisplayCostAndPrice) && k.Value != nil {
				return FromValue(*k.Value), nil
			}
		}
		return Unknown, nil
	}
	return Unknown, fmt.Errorf("runningcost: OCPP %s has no running cost", v)
}
