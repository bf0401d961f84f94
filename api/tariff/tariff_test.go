package tariff

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func TestCost(t *testing.T) {
	tr := Tariff{Currency: "EUR", PerKWh: 0.39, PerMinute: 0.05, PerSession: 1}
	cases := []struct {
		wh   float64
		d    time.Duration
		want float64
	}{
		{0, 0, 1},
		{10_000, 0, 4.9},                              // 1 + 3.90
		{10_000, 30 * time.Minute, 6.4},               // + 1.50
		{1234, 90 * time.Second, 1.56},                // 1 + 0.48126 + 0.075 = 1.55626
		{-50, -time.Minute, 1},                        // nonsense counts as nothing
		{25_000, 2*time.Hour + 30*time.Second, 16.78}, // 1 + 9.75 + 6.025
	}
	for _, c := range cases {
		if got := tr.Cost(c.wh, c.d); got != c.want {
			t.Errorf("Cost(%g Wh, %v) = %g, want %g", c.wh, c.d, got, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	good := Tariff{Currency: "EUR", PerKWh: 0.3}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Tariff{{Currency: "eur"}, {Currency: "EURO"}, {Currency: ""}, {Currency: "EUR", PerKWh: -1},
		{Currency: "EUR", PerMinute: 2e6}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestFor(t *testing.T) {
	ts := []store.Tariff{{EVSEID: 0, Currency: "EUR", PerKWh: 0.3}, {EVSEID: 2, Currency: "EUR", PerKWh: 0.5}}
	if tr, ok := For(ts, 2); !ok || tr.PerKWh != 0.5 {
		t.Errorf("EVSE 2: %+v %v", tr, ok)
	}
	if tr, ok := For(ts, 1); !ok || tr.PerKWh != 0.3 {
		t.Errorf("EVSE 1 falls back to the station: %+v %v", tr, ok)
	}
	if _, ok := For(ts[1:], 1); ok {
		t.Error("no station tariff, no EVSE tariff: found one")
	}
}

type memStore struct {
	ts   []store.Tariff
	cost map[int64]Price
}

func (m *memStore) ListTariffs(context.Context, string) ([]store.Tariff, error) { return m.ts, nil }
func (m *memStore) SetTransactionCost(_ context.Context, id int64, c float64, cur string) error {
	m.cost[id] = Price{c, cur}
	return nil
}

func TestCoster(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	m := &memStore{ts: []store.Tariff{{EVSEID: 1, Currency: "CHF", PerMinute: 0.1}}, cost: map[int64]Price{}}
	c := Coster{Store: m, Now: func() time.Time { return now }}
	wh := 5000.0
	// 1.6: the connector picks the tariff; active, so priced up to now.
	tx := &store.Transaction{ID: 7, OCPPVersion: ocppj.V16, ConnectorID: 1, StartedAt: now.Add(-10 * time.Minute), EnergyWh: &wh}
	if p, err := c.Cost(context.Background(), tx); err != nil || p != (Price{1, "CHF"}) {
		t.Errorf("running cost %+v %v", p, err)
	}
	stop := now.Add(-5 * time.Minute)
	tx.StoppedAt = &stop
	if p, err := c.Settle(context.Background(), tx); err != nil || p != (Price{0.5, "CHF"}) || m.cost[7] != p {
		t.Errorf("final cost %+v %v, kept %+v", p, err, m.cost)
	}
	tx2 := &store.Transaction{ID: 8, OCPPVersion: ocppj.V201, EVSEID: 2, StartedAt: now}
	if _, err := c.Settle(context.Background(), tx2); !errors.Is(err, ErrNoTariff) || len(m.cost) != 1 {
		t.Errorf("no tariff: %v %+v", err, m.cost)
	}
}
