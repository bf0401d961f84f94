package runningcost

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/api/tariff"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// The OCA application note "OCPP & California Pricing Requirements" gives
// OCPP 1.6 the cost messages 2.0.1 has, as DataTransfer from the CSMS
// with this vendorId; the data is a JSON object written into the
// DataTransfer's data string.
const (
	VendorID           = "org.openchargealliance.costmsg"
	MessageRunningCost = "RunningCost"
	MessageFinalCost   = "FinalCost"
)

// chargingPrice is the tariff as the note's messages state it.
type chargingPrice struct {
	KWhPrice  float64 `json:"kWhPrice"`
	HourPrice float64 `json:"hourPrice"`
	FlatFee   float64 `json:"flatFee"`
}

// runningCost is the data of a RunningCost message.
type runningCost struct {
	TransactionID int64  `json:"transactionId"`
	Timestamp     string `json:"timestamp"`
	// MeterValue is the energy register now, in Wh.
	MeterValue    int64         `json:"meterValue"`
	Cost          float64       `json:"cost"`
	State         string        `json:"state"`
	ChargingPrice chargingPrice `json:"chargingPrice"`
}

// finalCost is the data of a FinalCost message.
type finalCost struct {
	TransactionID int64   `json:"transactionId"`
	Cost          float64 `json:"cost"`
	PriceText     string  `json:"priceText"`
}

// RunningCostData is the RunningCost data of a 1.6 transaction priced p
// by tr at now. The state is always Charging: the tariffs know no idle
// fee.
func RunningCostData(t *store.Transaction, tr tariff.Tariff, p tariff.Price, now time.Time) (string, error) {
	var meter float64
	switch {
	case t.MeterStopWh != nil: // the latest reading while active
		meter = *t.MeterStopWh
	case t.MeterStartWh != nil:
		meter = *t.MeterStartWh
	}
	return marshal(runningCost{TransactionID: t.ID, Timestamp: now.UTC().Format(time.RFC3339), MeterValue: int64(meter),
		Cost: p.Amount, State: "Charging",
		ChargingPrice: chargingPrice{KWhPrice: tr.PerKWh, HourPrice: tr.PerMinute * 60, FlatFee: tr.PerSession}})
}

// FinalCostData is the FinalCost data of an ended 1.6 transaction; the
// text is what the station shows beside the amount.
func FinalCostData(t *store.Transaction, p tariff.Price) (string, error) {
	return marshal(finalCost{TransactionID: t.ID, Cost: p.Amount,
		PriceText: "Total " + strconv.FormatFloat(p.Amount, 'f', 2, 64) + " " + p.Currency})
}

func marshal(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("runningcost: %w", err)
	}
	return string(b), nil
}

// Ended sends a 1.6 station the final cost of a transaction it just
// stopped, FinalCostDelay later, off the station's message path: it never
// blocks; it waits for a send slot when a sweep holds them all, and does
// nothing unless Send16 is on, the service runs and fewer than 1,024 final
// costs wait (then it is logged). Only the core instance that handled the
// stop sends it.
func (s *Service) Ended(t store.Transaction, p tariff.Price) {
	if !s.cfg.Send16 || t.OCPPVersion != ocppj.V16 {
		return
	}
	log := s.log.With("station", t.StationID, "transaction", t.TransactionUID)
	s.mu.Lock()
	ctx := s.runCtx
	if ctx == nil || ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	select {
	case s.finals <- struct{}{}:
	default:
		s.mu.Unlock()
		log.Warn("final cost not sent: too many final costs waiting")
		return
	}
	s.running.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.running.Done()
		defer func() { <-s.finals }()
		if d := s.cfg.FinalCostDelay; d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return
			}
		}
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-s.slots }()
		sup, cached := s.cachedSupport(t.StationID, t.OCPPVersion)
		if !cached {
			sup = s.readSupport(ctx, t.StationID, t.OCPPVersion)
		}
		if sup != Shown {
			return
		}
		data, err := FinalCostData(&t, p)
		if err == nil {
			err = s.costMessage(ctx, t.StationID, MessageFinalCost, data)
		}
		if err != nil {
			log.Warn("final cost not delivered", "cost", p.Amount, "err", err)
			return
		}
		log.Debug("final cost sent", "cost", p.Amount, "currency", p.Currency)
	}()
}
