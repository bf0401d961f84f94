package store

import (
	"context"
	"testing"
	"time"
)

// TestRunningCostClaims: the priced active transactions are those of
// connected stations with a tariff, paged by id; a claim is won once per
// interval, by one caller, and only while the transaction is active.
func TestRunningCostClaims(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		t0 := clk.Now()
		start := func(station string, connector int) int64 {
			t.Helper()
			res, err := s.StartTransaction16(ctx, StartTransaction16{StationID: station, ConnectorID: connector, IDTag: "TAG", Timestamp: t0})
			if err != nil {
				t.Fatal(err)
			}
			return res.Transaction.ID
		}
		connect := func(station string) {
			t.Helper()
			ev := ConnectionEvent{StationID: station, GatewayID: "gw", ConnectionID: "c-" + station, At: t0}
			if _, err := s.RecordAdmission(ctx, ev); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.MarkConnected(ctx, ev); err != nil || !ok {
				t.Fatalf("connect %s: %v %v", station, ok, err)
			}
		}
		for _, id := range []string{"priced", "priced2", "free", "offline"} {
			mustCreateStation(t, s, id)
			if id != "offline" {
				connect(id)
			}
			if id != "free" {
				if err := s.PutTariff(ctx, &Tariff{StationID: id, EVSEID: 1, Currency: "EUR", PerKWh: 1}); err != nil {
					t.Fatal(err)
				}
			}
		}
		a, b := start("priced", 1), start("priced2", 1)
		start("free", 1)
		start("offline", 1)
		ended := start("priced", 2)
		if _, err := s.StopTransaction16(ctx, StopTransaction16{StationID: "priced", TransactionID: ended, Timestamp: t0}); err != nil {
			t.Fatal(err)
		}

		page, err := s.PricedActiveTransactions(ctx, 0, 1)
		if err != nil || len(page) != 1 || page[0].ID != a {
			t.Fatalf("first page %v %v, want transaction %d", page, err, a)
		}
		page, err = s.PricedActiveTransactions(ctx, a, 10)
		if err != nil || len(page) != 1 || page[0].ID != b {
			t.Fatalf("second page %v %v, want transaction %d", page, err, b)
		}

		claim := func(id int64, cost float64, now time.Time) bool {
			t.Helper()
			ok, err := s.ClaimRunningCost(ctx, id, cost, now, now.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !claim(a, 1.25, t0) || claim(a, 1.25, t0) || claim(a, 1.5, t0.Add(59*time.Second)) {
			t.Error("a claim was won twice within its interval")
		}
		if !claim(a, 1.25, t0.Add(time.Minute)) {
			t.Error("the claim was not won again once its interval was over")
		}
		if claim(ended, 1.25, t0) {
			t.Error("an ended transaction was claimed")
		}
		before := mustGetTransaction(t, s, a).UpdatedAt
		next := t0.Add(time.Minute + time.Second)
		if err := s.RecordRunningCostSent(ctx, a, 1.25, next); err != nil {
			t.Fatal(err)
		}
		got := mustGetTransaction(t, s, a)
		if got.RunningCostSent == nil || *got.RunningCostSent != 1.25 || got.RunningCostDue == nil ||
			!got.RunningCostDue.Equal(next.UTC().Truncate(time.Microsecond)) {
			t.Errorf("after sending: sent %v due %v", got.RunningCostSent, got.RunningCostDue)
		}
		if !got.UpdatedAt.Equal(before) {
			t.Errorf("sending the running cost moved updated_at from %v to %v", before, got.UpdatedAt)
		}
		if claim(a, 1.25, next) {
			t.Error("the cost just sent was claimed again (an instance that read the transaction before the send)")
		}
		if !claim(a, 1.5, next) {
			t.Error("a new cost was not claimed once the send ended the claim")
		}
	})
}

func mustGetTransaction(t *testing.T, s *Store, id int64) *Transaction {
	t.Helper()
	var tx Transaction
	if err := s.db.Where("id = ?", id).Take(&tx).Error; err != nil {
		t.Fatal(err)
	}
	return &tx
}
