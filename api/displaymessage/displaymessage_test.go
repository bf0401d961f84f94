package displaymessage

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
)

func msg(id int, priority, state string) store.DisplayMessage {
	return store.DisplayMessage{MessageID: id, Priority: priority, State: state}
}

func ids(ms []store.DisplayMessage) []int {
	out := []int{}
	for _, m := range ms {
		out = append(out, m.MessageID)
	}
	return out
}

func TestQueryMatches(t *testing.T) {
	m := msg(3, "InFront", "Charging")
	for _, tc := range []struct {
		q    Query
		want bool
	}{
		{Query{}, true},
		{Query{IDs: []int{1, 3}}, true},
		{Query{IDs: []int{1, 2}}, false},
		{Query{Priority: "InFront"}, true},
		{Query{Priority: "AlwaysFront"}, false},
		{Query{State: "Charging", Priority: "InFront", IDs: []int{3}}, true},
		{Query{State: "Idle"}, false},
	} {
		if got := tc.q.Matches(m); got != tc.want {
			t.Errorf("%+v matches %+v = %v, want %v", tc.q, m, got, tc.want)
		}
	}
}

// A report replaces exactly what its request covered.
func TestReconcile(t *testing.T) {
	current := []store.DisplayMessage{msg(1, "NormalCycle", ""), msg(2, "InFront", ""), msg(3, "InFront", "Charging")}
	for _, tc := range []struct {
		name           string
		q              *Query
		reported       []store.DisplayMessage
		upsert, remove []int
	}{
		{"unknown request: only held", nil, []store.DisplayMessage{msg(9, "InFront", "")}, []int{9}, nil},
		{"all: the report is everything", &Query{}, []store.DisplayMessage{msg(2, "InFront", "")}, []int{2}, []int{1, 3}},
		{"by priority: others untouched", &Query{Priority: "InFront"}, []store.DisplayMessage{msg(3, "InFront", "Charging")}, []int{3}, []int{2}},
		{"by id, none reported (Unknown)", &Query{IDs: []int{1, 7}}, nil, []int{}, []int{1}},
		{"an id twice: the last", &Query{}, []store.DisplayMessage{msg(4, "InFront", ""), msg(4, "AlwaysFront", "")}, []int{4}, []int{1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Reconcile(current, tc.q, tc.reported)
			if got := ids(e.Upsert); !slices.Equal(got, tc.upsert) {
				t.Errorf("upsert %v, want %v", got, tc.upsert)
			}
			if !slices.Equal(e.Remove, tc.remove) {
				t.Errorf("remove %v, want %v", e.Remove, tc.remove)
			}
		})
	}
	if e := Reconcile(nil, &Query{}, []store.DisplayMessage{msg(4, "InFront", ""), msg(4, "AlwaysFront", "")}); e.Upsert[0].Priority != "AlwaysFront" {
		t.Errorf("a repeated id keeps %+v, want the last", e.Upsert[0])
	}
}

func TestFromInfo(t *testing.T) {
	raw := json.RawMessage(`{"id":5,"priority":"AlwaysFront","state":"Idle","startDateTime":"2025-01-01T10:00:00Z",` +
		`"endDateTime":"2025-01-02T10:00:00Z","transactionId":"T1","message":{"format":"UTF8","content":"Hi"},"customData":{"vendorId":"x"}}`)
	m, err := FromInfo(raw, store.DisplayMessageSet)
	if err != nil {
		t.Fatal(err)
	}
	if m.MessageID != 5 || m.Priority != "AlwaysFront" || m.State != "Idle" || m.TransactionID != "T1" || m.Source != "set" ||
		m.StartAt == nil || m.StartAt.Hour() != 10 || m.EndAt == nil || m.EndAt.Day() != 2 || m.Info != string(raw) {
		t.Errorf("FromInfo = %+v", m)
	}
	if m, err := FromInfo(json.RawMessage(`{"id":1,"priority":"InFront","message":{"format":"URI","content":"u"}}`), "reported"); err != nil ||
		m.StartAt != nil || m.EndAt != nil {
		t.Errorf("without times = %+v %v", m, err)
	}
	if _, err := FromInfo(json.RawMessage(`{"id":"x"}`), "set"); err == nil {
		t.Error("an undecodable MessageInfo was accepted")
	}
}

func TestShown(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	ms := []store.DisplayMessage{{MessageID: 1}, {MessageID: 2, EndAt: &past}, {MessageID: 3, EndAt: &now}, {MessageID: 4, EndAt: &future}}
	if got := ids(Shown(ms, now)); !slices.Equal(got, []int{1, 4}) {
		t.Errorf("shown %v, want [1 4]", got)
	}
}

// memStore is Store in memory: the rules above, applied through Messages,
// without a database (the store's own tests cover the SQL).
type memStore struct {
	msgs    map[int]store.DisplayMessage
	queries map[int]string
	reports map[int]*store.DeviceModelReport
}

func newMemStore() *memStore {
	return &memStore{msgs: map[int]store.DisplayMessage{}, queries: map[int]string{}, reports: map[int]*store.DeviceModelReport{}}
}

func (s *memStore) ListDisplayMessages(context.Context, string) ([]store.DisplayMessage, error) {
	out := []store.DisplayMessage{}
	for _, m := range s.msgs {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b store.DisplayMessage) int { return a.MessageID - b.MessageID })
	return out, nil
}

func (s *memStore) EditDisplayMessages(ctx context.Context, id string, plan func([]store.DisplayMessage) (store.DisplayMessageEdit, error)) error {
	cur, _ := s.ListDisplayMessages(ctx, id)
	e, err := plan(cur)
	if err != nil {
		return err
	}
	for _, r := range e.Remove {
		delete(s.msgs, r)
	}
	for _, m := range e.Upsert {
		s.msgs[m.MessageID] = m
	}
	return nil
}

func (s *memStore) SaveDisplayMessageQuery(_ context.Context, _ string, requestID int, criteria string) error {
	s.queries[requestID] = criteria
	return nil
}

func (s *memStore) DisplayMessageQuery(_ context.Context, _ string, requestID int) (string, error) {
	if c, ok := s.queries[requestID]; ok {
		return c, nil
	}
	return "", store.ErrNotFound
}

func (s *memStore) Report(_ context.Context, _, _ string, requestID int) (*store.DeviceModelReport, error) {
	if r, ok := s.reports[requestID]; ok {
		return r, nil
	}
	return nil, store.ErrNotFound
}

func info(id int, priority string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id":%d,"priority":%q,"message":{"format":"UTF8","content":"m%d"}}`, id, priority, id))
}

// The answer and the report of one request may come in either order; the
// outcome is the same.
func TestMessagesEitherOrder(t *testing.T) {
	ctx := context.Background()
	for _, reportFirst := range []bool{false, true} {
		t.Run(fmt.Sprint("reportFirst=", reportFirst), func(t *testing.T) {
			st := newMemStore()
			s := Messages{Store: st}
			for _, m := range []json.RawMessage{info(1, "InFront"), info(2, "NormalCycle"), info(3, "InFront")} {
				if _, err := s.Set(ctx, "CS", m); err != nil {
					t.Fatal(err)
				}
			}
			report := func() {
				st.reports[7] = &store.DeviceModelReport{Data: []json.RawMessage{info(3, "InFront"), info(4, "InFront")}}
				if err := s.Reported(ctx, "CS", 7); err != nil {
					t.Fatal(err)
				}
			}
			if reportFirst {
				report()
			}
			if err := s.Queried(ctx, "CS", 7, Query{Priority: "InFront"}, true); err != nil {
				t.Fatal(err)
			}
			if !reportFirst {
				if got := ids(must(s.Current(ctx, "CS"))); !slices.Equal(got, []int{1, 2, 3}) {
					t.Errorf("before the report: %v", got)
				}
				report()
			}
			got := must(s.Current(ctx, "CS"))
			if !slices.Equal(ids(got), []int{2, 3, 4}) || got[1].Source != store.DisplayMessageReported || got[0].Source != store.DisplayMessageSet {
				t.Errorf("after the report: %+v", got)
			}

			if err := s.Cleared(ctx, "CS", 3); err != nil {
				t.Fatal(err)
			}
			if err := s.Queried(ctx, "CS", 8, Query{IDs: []int{4}}, false); err != nil {
				t.Fatal(err)
			}
			if got := ids(must(s.Current(ctx, "CS"))); !slices.Equal(got, []int{2}) {
				t.Errorf("after clear 3 and Unknown for 4: %v", got)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
