// Package tariff prices charging sessions: a simple tariff (per kWh, per
// minute, per session, in one currency) attached to a station or to one of
// its EVSEs (1.6: connectors), the cost of a transaction so far or in the
// end, and the final cost kept on the transaction.
package tariff

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Tariff is a price list.
type Tariff struct {
	// Currency is an ISO 4217 code (EUR).
	Currency   string
	PerKWh     float64
	PerMinute  float64
	PerSession float64
}

// MaxPrice bounds each price: far above any real one, low enough that a
// session's cost stays exact in a float64 to the cent.
const MaxPrice = 1e6

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// Validate says what is wrong with t, if anything.
func (t Tariff) Validate() error {
	if !currencyCode.MatchString(t.Currency) {
		return fmt.Errorf("currency %q is not an ISO 4217 code (three capital letters)", t.Currency)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"per_kwh", t.PerKWh}, {"per_minute", t.PerMinute}, {"per_session", t.PerSession}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > MaxPrice {
			return fmt.Errorf("%s must be between 0 and %g", p.name, float64(MaxPrice))
		}
	}
	return nil
}

// Cost is what energyWh over d costs: the session fee, the energy and the
// time (to the second), rounded to the cent.
func (t Tariff) Cost(energyWh float64, d time.Duration) float64 {
	c := t.PerSession + t.PerKWh*max(energyWh, 0)/1000 + t.PerMinute*max(d, 0).Seconds()/60
	// Half a cent rounds up: first to a millionth, so that binary
	// fractions (16.775 is 16.77499…) do not decide.
	return math.Round(math.Round(c*1e6)/1e4) / 100
}

// For picks the tariff of an EVSE: its own, else the station's (EVSE 0).
func For(ts []store.Tariff, evseID int) (Tariff, bool) {
	var station *store.Tariff
	for i := range ts {
		switch ts[i].EVSEID {
		case evseID:
			return of(ts[i]), true
		case 0:
			station = &ts[i]
		}
	}
	if station == nil {
		return Tariff{}, false
	}
	return of(*station), true
}

func of(t store.Tariff) Tariff {
	return Tariff{Currency: t.Currency, PerKWh: t.PerKWh, PerMinute: t.PerMinute, PerSession: t.PerSession}
}

// Price is an amount in a currency.
type Price struct {
	Amount   float64
	Currency string
}

// Store reads tariffs and keeps final costs.
type Store interface {
	ListTariffs(ctx context.Context, stationID string) ([]store.Tariff, error)
	SetTransactionCost(ctx context.Context, id int64, cost float64, currency string) error
}

// Coster prices transactions by their station's tariffs.
type Coster struct {
	Store Store
	Now   func() time.Time
}

// ErrNoTariff: neither the transaction's EVSE nor its station has a tariff.
var ErrNoTariff = errors.New("tariff: no tariff applies")

// Cost is what t costs so far (in the end, once ended): its energy, and
// its time up to its stop or now.
func (c Coster) Cost(ctx context.Context, t *store.Transaction) (Price, error) {
	_, p, err := c.Quote(ctx, t)
	return p, err
}

// Quote is Cost with the tariff that priced it.
func (c Coster) Quote(ctx context.Context, t *store.Transaction) (Tariff, Price, error) {
	ts, err := c.Store.ListTariffs(ctx, t.StationID)
	if err != nil {
		return Tariff{}, Price{}, err
	}
	evse := t.EVSEID
	if t.OCPPVersion == ocppj.V16 {
		evse = t.ConnectorID
	}
	tr, ok := For(ts, evse)
	if !ok {
		return Tariff{}, Price{}, ErrNoTariff
	}
	end := time.Now()
	if c.Now != nil {
		end = c.Now()
	}
	if t.StoppedAt != nil {
		end = *t.StoppedAt
	}
	var wh float64
	if t.EnergyWh != nil {
		wh = *t.EnergyWh
	}
	return tr, Price{Amount: tr.Cost(wh, end.Sub(t.StartedAt)), Currency: tr.Currency}, nil
}

// Settle keeps the cost of an ended transaction on it; a transaction
// without a tariff keeps none. Settling again (a retried or late message)
// replaces it with what is known now.
func (c Coster) Settle(ctx context.Context, t *store.Transaction) (Price, error) {
	p, err := c.Cost(ctx, t)
	if err != nil {
		return Price{}, err
	}
	if err := c.Store.SetTransactionCost(ctx, t.ID, p.Amount, p.Currency); err != nil {
		return Price{}, err
	}
	return p, nil
}
