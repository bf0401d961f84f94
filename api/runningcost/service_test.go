package runningcost

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/api/tariff"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func TestFromDeviceModel(t *testing.T) {
	entry := func(component, variable, instance, typ, value string) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"component": map[string]any{"name": component},
			"variable":          map[string]any{"name": variable, "instance": instance},
			"variableAttribute": []any{map[string]any{"type": typ, "value": value}}})
		return b
	}
	for _, c := range []struct {
		name    string
		entries []json.RawMessage
		want    Support
	}{
		{"nothing reported", nil, Unknown},
		{"enabled", []json.RawMessage{entry("TariffCostCtrlr", "Enabled", "Cost", "Actual", "true")}, Shown},
		{"names any case, no type", []json.RawMessage{entry("tariffcostctrlr", "ENABLED", "cost", "", "True")}, Shown},
		{"disabled", []json.RawMessage{entry("TariffCostCtrlr", "Enabled", "Cost", "Actual", "false")}, NotShown},
		{"only tariffs shown", []json.RawMessage{entry("TariffCostCtrlr", "Enabled", "Tariff", "Actual", "true")}, Unknown},
		{"a target is not the value", []json.RawMessage{entry("TariffCostCtrlr", "Enabled", "Cost", "Target", "true")}, Unknown},
		{"the last of a repeated variable holds", []json.RawMessage{entry("TariffCostCtrlr", "Enabled", "Cost", "Actual", "true"),
			entry("TariffCostCtrlr", "Enabled", "Cost", "Actual", "false")}, NotShown},
		{"unreadable entries skipped", []json.RawMessage{json.RawMessage(`[`), entry("TariffCostCtrlr", "Enabled", "Cost", "Actual", "true")}, Shown},
	} {
		if got := FromDeviceModel(c.entries); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestDue(t *testing.T) {
	sent := func(c float64) *float64 { return &c }
	tx201 := func(s *float64) *store.Transaction {
		return &store.Transaction{OCPPVersion: ocppj.V201, RunningCostSent: s}
	}
	for _, c := range []struct {
		name    string
		t       *store.Transaction
		cost    float64
		support Support
		send16  bool
		want    bool
	}{
		{"never sent", tx201(nil), 0, Shown, false, true},
		{"never sent, support not known yet", tx201(nil), 1, Unknown, false, true},
		{"changed", tx201(sent(1)), 1.5, Shown, false, true},
		{"unchanged", tx201(sent(1.5)), 1.5, Shown, false, false},
		{"station does not show it", tx201(nil), 1, NotShown, false, false},
		{"1.6 without the cost messages", &store.Transaction{OCPPVersion: ocppj.V16}, 1, Shown, false, false},
		{"1.6 with them", &store.Transaction{OCPPVersion: ocppj.V16}, 1, Shown, true, true},
		{"unknown version", &store.Transaction{}, 1, Shown, true, false},
	} {
		if got := Due(c.t, c.cost, c.support, c.send16); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// fakes: one station set, a clock, and what was sent.

type fakeStore struct {
	mu     sync.Mutex
	txs    []store.Transaction
	due    map[int64]time.Time
	sent   map[int64]float64
	claims int
}

func (f *fakeStore) PricedActiveTransactions(_ context.Context, after int64, limit int) ([]store.Transaction, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Transaction
	for _, t := range f.txs {
		if t.ID > after && len(out) < limit {
			if c, ok := f.sent[t.ID]; ok {
				t.RunningCostSent = &c
			}
			out = append(out, t)
		}
	}
	return out, nil
}

func (f *fakeStore) ClaimRunningCost(_ context.Context, id int64, cost float64, now, until time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.claims++
	if d, ok := f.due[id]; ok && now.Before(d) {
		return false, nil
	}
	if sent, ok := f.sent[id]; ok && sent == cost {
		return false, nil
	}
	f.due[id] = until
	return true, nil
}

func (f *fakeStore) RecordRunningCostSent(_ context.Context, id int64, cost float64, next time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent[id] = cost
	f.due[id] = next
	return nil
}

// fakeCoster prices every transaction of a station with a tariff at
// cost[id], counting the quotes per station.
type fakeCoster struct {
	mu     sync.Mutex
	cost   map[int64]float64
	quoted map[string]int
}

func (c *fakeCoster) quotes(station string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.quoted[station]
}

func (c *fakeCoster) Quote(_ context.Context, t *store.Transaction) (tariff.Tariff, tariff.Price, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.quoted == nil {
		c.quoted = map[string]int{}
	}
	c.quoted[t.StationID]++
	p, ok := c.cost[t.ID]
	if !ok {
		return tariff.Tariff{}, tariff.Price{}, tariff.ErrNoTariff
	}
	return tariff.Tariff{Currency: "EUR", PerKWh: 0.5}, tariff.Price{Amount: p, Currency: "EUR"}, nil
}

type sentMsg struct {
	station, action string
	cost            float64
	data            string
}

type fakeSender struct {
	mu      sync.Mutex
	support map[string]Support
	asked   map[string]int
	msgs    []sentMsg
	fail    error
	// slow, when set, is how long a question takes to answer.
	slow time.Duration
}

func (s *fakeSender) CostUpdated(_ context.Context, t *store.Transaction, cost float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.msgs = append(s.msgs, sentMsg{station: t.StationID, action: "CostUpdated", cost: cost})
	return nil
}

func (s *fakeSender) CostMessage(_ context.Context, stationID, messageID, data string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, sentMsg{station: stationID, action: messageID, data: data})
	return "Accepted", nil
}

func (s *fakeSender) Support(_ context.Context, stationID string, _ ocppj.Version) (Support, error) {
	s.mu.Lock()
	s.asked[stationID]++
	slow := s.slow
	s.mu.Unlock()
	time.Sleep(slow)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.support[stationID], nil
}

func (s *fakeSender) take() []sentMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.msgs
	s.msgs = nil
	return out
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newFixture(interval time.Duration) (*Service, *fakeStore, *fakeCoster, *fakeSender, *clock) {
	st := &fakeStore{due: map[int64]time.Time{}, sent: map[int64]float64{}, txs: []store.Transaction{
		{ID: 1, StationID: "SHOWS", OCPPVersion: ocppj.V201, TransactionUID: "A"},
		{ID: 2, StationID: "HIDES", OCPPVersion: ocppj.V201, TransactionUID: "B"},
		{ID: 3, StationID: "SILENT", OCPPVersion: ocppj.V201, TransactionUID: "C"},
		{ID: 4, StationID: "SHOWS", OCPPVersion: ocppj.V201, TransactionUID: "D"}, // no tariff applies
		{ID: 5, StationID: "OLD", OCPPVersion: ocppj.V16, TransactionUID: "5"},
	}}
	co := &fakeCoster{cost: map[int64]float64{1: 1, 2: 1, 3: 1, 5: 2}}
	se := &fakeSender{support: map[string]Support{"SHOWS": Shown, "HIDES": NotShown, "OLD": Shown}, asked: map[string]int{}}
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := New(Config{Store: st, Costs: co, Sender: se, Now: clk.now, Interval: interval, Send16: true, PerSweep: 2})
	return s, st, co, se, clk
}

// sweepAll sweeps until the cursor is back at the start (PerSweep is 2).
func sweepAll(s *Service) {
	for {
		s.Sweep(context.Background())
		if s.cursor == 0 {
			return
		}
	}
}

// TestSweep: only transactions priced by a tariff, on stations that say
// they show the cost, get it; once per change; at most once per interval
// however many instances sweep; 1.6 by the California Pricing message.
func TestSweep(t *testing.T) {
	s, st, co, se, clk := newFixture(time.Minute)
	sweepAll(s)
	got := se.take()
	if len(got) != 2 || got[0].station == got[1].station {
		t.Fatalf("first sweep sent %+v, want one CostUpdated to SHOWS and one RunningCost to OLD", got)
	}
	for _, m := range got {
		switch m.station {
		case "SHOWS":
			if m.action != "CostUpdated" || m.cost != 1 {
				t.Errorf("SHOWS got %+v", m)
			}
		case "OLD":
			var d map[string]any
			if err := json.Unmarshal([]byte(m.data), &d); err != nil || m.action != "RunningCost" || d["transactionId"] != float64(5) ||
				d["cost"] != float64(2) || d["state"] != "Charging" || d["chargingPrice"].(map[string]any)["kWhPrice"] != 0.5 {
				t.Errorf("OLD got %+v (%v)", m, err)
			}
		default:
			t.Errorf("%s got %+v", m.station, m)
		}
	}
	if st.sent[1] != 1 || st.sent[5] != 2 || len(st.sent) != 2 {
		t.Errorf("recorded as sent: %v", st.sent)
	}

	// The next interval: unchanged costs are not sent again, and what the
	// stations said is remembered, not asked again.
	clk.add(time.Minute)
	claims, hidesQuoted := st.claims, co.quotes("HIDES")
	sweepAll(s)
	if n := co.quotes("HIDES") - hidesQuoted; n != 0 {
		t.Errorf("a station known not to show costs was priced %d times", n)
	}
	if got := se.take(); len(got) != 0 {
		t.Errorf("unchanged costs sent again: %+v", got)
	}
	if st.claims != claims {
		t.Errorf("unchanged costs claimed %d times", st.claims-claims)
	}
	if se.asked["SHOWS"] != 1 || se.asked["HIDES"] != 1 || se.asked["SILENT"] != 1 {
		t.Errorf("asked %v, want each station once", se.asked)
	}

	// A change within the same interval waits for the claim to run out.
	co.mu.Lock()
	co.cost[1] = 1.25
	co.mu.Unlock()
	clk.add(10 * time.Second)
	st.due[1] = clk.now().Add(50 * time.Second) // claimed by another instance
	sweepAll(s)
	if got := se.take(); len(got) != 0 {
		t.Errorf("sent within another instance's claim: %+v", got)
	}
	clk.add(time.Minute)
	sweepAll(s)
	if got := se.take(); len(got) != 1 || got[0].cost != 1.25 {
		t.Errorf("changed cost: sent %+v", got)
	}

	// A failed send is tried again at the next interval.
	co.mu.Lock()
	co.cost[1] = 2
	co.mu.Unlock()
	se.fail = errors.New("timeout")
	clk.add(time.Minute)
	sweepAll(s)
	se.fail = nil
	if got := se.take(); len(got) != 0 || st.sent[1] != 1.25 {
		t.Errorf("failed send: %+v, recorded %v", got, st.sent[1])
	}
	clk.add(time.Minute)
	sweepAll(s)
	if got := se.take(); len(got) != 1 || got[0].cost != 2 {
		t.Errorf("retry: sent %+v", got)
	}

	// Two instances sweeping at once send each update once.
	other := New(Config{Store: st, Costs: co, Sender: se, Now: clk.now, Interval: time.Minute, Send16: true})
	co.mu.Lock()
	co.cost[1] = 3
	co.mu.Unlock()
	clk.add(time.Minute)
	var wg sync.WaitGroup
	for _, svc := range []*Service{s, other} {
		wg.Add(1)
		go func() { defer wg.Done(); sweepAll(svc) }()
	}
	wg.Wait()
	if got := se.take(); len(got) != 1 || got[0].cost != 3 {
		t.Errorf("two instances sent %+v", got)
	}
}

// TestSweepDisabled: an interval of 0 sends nothing and starts no sweeper.
func TestSweepDisabled(t *testing.T) {
	s, st, _, se, _ := newFixture(0)
	ctx, cancel := context.WithCancel(context.Background())
	s.Start(ctx)
	s.Sweep(ctx)
	cancel()
	s.Wait()
	if got := se.take(); len(got) != 0 || st.claims != 0 {
		t.Errorf("disabled: sent %+v, %d claims", got, st.claims)
	}
}

// TestFinalCost: a 1.6 station that shows costs gets the final cost of
// what it stopped; a 2.0.1 one never gets it this way (its Ended event's
// answer carries it).
func TestFinalCost(t *testing.T) {
	s, _, _, se, _ := newFixture(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	s.Start(ctx)
	s.Ended(store.Transaction{ID: 5, StationID: "OLD", OCPPVersion: ocppj.V16}, tariff.Price{Amount: 8, Currency: "EUR"})
	s.Ended(store.Transaction{ID: 1, StationID: "SHOWS", OCPPVersion: ocppj.V201}, tariff.Price{Amount: 8, Currency: "EUR"})
	// Sent in the background: stopping first would drop it, as a shutdown
	// does. The 2.0.1 one is refused before Ended returns.
	var got []sentMsg
	for deadline := time.Now().Add(5 * time.Second); len(got) == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		got = se.take()
	}
	cancel()
	s.Wait()
	got = append(got, se.take()...)
	if len(got) != 1 || got[0].action != "FinalCost" || got[0].station != "OLD" {
		t.Fatalf("sent %+v", got)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(got[0].data), &d); err != nil || d["transactionId"] != float64(5) || d["cost"] != float64(8) ||
		d["priceText"] != "Total 8.00 EUR" {
		t.Errorf("FinalCost data %s (%v)", got[0].data, err)
	}
}

// TestFinalCostWaitsForASlot: a final cost that comes while sweeps hold
// every send slot is sent once one is free, not dropped.
func TestFinalCostWaitsForASlot(t *testing.T) {
	s, _, _, se, _ := newFixture(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	s.Start(ctx)
	for range cap(s.slots) {
		s.slots <- struct{}{} // a sweep's sends under way
	}
	s.Ended(store.Transaction{ID: 5, StationID: "OLD", OCPPVersion: ocppj.V16}, tariff.Price{Amount: 8, Currency: "EUR"})
	time.Sleep(50 * time.Millisecond)
	if got := se.take(); len(got) != 0 {
		t.Fatalf("sent without a slot: %+v", got)
	}
	for range cap(s.slots) {
		<-s.slots
	}
	deadline := time.Now().Add(5 * time.Second)
	var got []sentMsg
	for len(got) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		got = se.take()
	}
	cancel()
	s.Wait()
	if len(got) != 1 || got[0].action != "FinalCost" {
		t.Errorf("sent %+v, want the final cost once a slot was free", got)
	}
}

// TestOneQuestionPerStation: a station whose transactions are swept at
// once is asked whether it shows costs once, not once per transaction.
func TestOneQuestionPerStation(t *testing.T) {
	s, st, co, se, _ := newFixture(time.Minute)
	st.txs = []store.Transaction{
		{ID: 6, StationID: "TWO-EVSES", OCPPVersion: ocppj.V201, TransactionUID: "E", EVSEID: 1},
		{ID: 7, StationID: "TWO-EVSES", OCPPVersion: ocppj.V201, TransactionUID: "F", EVSEID: 2},
	}
	co.cost[6], co.cost[7] = 1, 2
	se.support["TWO-EVSES"], se.slow = Shown, 100*time.Millisecond
	s.Sweep(context.Background())
	if n := se.asked["TWO-EVSES"]; n != 1 {
		t.Errorf("asked %d times, want once", n)
	}
	if got := se.take(); len(got) != 2 {
		t.Errorf("sent %+v, want both costs", got)
	}
}
