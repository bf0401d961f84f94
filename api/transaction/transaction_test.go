package transaction

import (
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// session is a 2.0.1 session's events: started with a token on EVSE 2,
// stopped with another token, readings throughout.
func session() []Event {
	return []Event{
		{Type: EventStarted, SeqNo: 0, At: t0, EVSEID: 2, IDToken: "AAA", IDTokenType: "ISO14443", AuthStatus: "Accepted",
			RemoteStartID: ptr(7), Register: []Reading{{Wh: 1000, Context: "Transaction.Begin"}}},
		{Type: EventUpdated, SeqNo: 1, At: t0.Add(10 * time.Minute), Offline: true, EVSEID: 2, ConnectorID: 1,
			Register: []Reading{{Wh: 1500, Context: "Sample.Periodic"}}},
		{Type: EventUpdated, SeqNo: 2, At: t0.Add(20 * time.Minute), Register: []Reading{{Wh: 2000, Context: "Sample.Periodic"}}},
		{Type: EventEnded, SeqNo: 3, At: t0.Add(time.Hour), IDToken: "BBB", IDTokenType: "ISO14443", AuthStatus: "Accepted",
			StoppedReason: "EVDisconnected", Register: []Reading{{Wh: 2900}, {Wh: 3000}}},
	}
}

func merged(order []int) Record {
	evs := session()
	r := New(evs[order[0]])
	for _, i := range order {
		r.Merge(evs[i])
	}
	return r
}

func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

func TestMergeDoesNotDependOnOrder(t *testing.T) {
	want := Record{
		StartedAt: t0, StartedSeen: true, StoppedAt: ptr(t0.Add(time.Hour)), Status: Ended, StopReason: "EVDisconnected",
		SeqNo: 3, EVSEID: 2, ConnectorID: 1, IDToken: "AAA", IDTokenType: "ISO14443", AuthStatus: "Accepted", StopIDToken: "BBB",
		Offline: true, RemoteStartID: ptr(7),
		MeterStartWh: ptr(1000.0), MeterStopWh: ptr(3000.0), MeterStartReported: true, MeterStopReported: true,
	}
	for _, order := range permutations(len(session())) {
		if got := merged(order); !reflect.DeepEqual(got, want) {
			t.Errorf("order %v:\n got %+v\nwant %+v", order, got, want)
		}
	}
}

func TestMergeNewestLocationWins(t *testing.T) {
	r := New(Event{SeqNo: 0, EVSEID: 1, ConnectorID: 1})
	for _, ev := range []Event{{SeqNo: 0, EVSEID: 1, ConnectorID: 1}, {SeqNo: 2, EVSEID: 3, ConnectorID: 2}, {SeqNo: 1, EVSEID: 4, ConnectorID: 4}} {
		r.Merge(ev)
	}
	if r.EVSEID != 3 || r.ConnectorID != 2 {
		t.Fatalf("EVSE %d connector %d, want the newest event's 3/2", r.EVSEID, r.ConnectorID)
	}
}

func TestMergeRetryChangesNothing(t *testing.T) {
	evs := session()
	once := merged([]int{0, 1, 2, 3})
	twice := once
	for _, ev := range evs {
		twice.Merge(ev)
	}
	if !reflect.DeepEqual(once, twice) {
		t.Fatalf("merging the events again changed the record:\n%+v\n%+v", once, twice)
	}
}

func TestMergeWithoutStart(t *testing.T) {
	// Heard of only from later events: the start is provisional, the
	// earliest event's time, and no start reading is made up.
	evs := session()
	r := New(evs[3])
	r.Merge(evs[3])
	r.Merge(evs[2])
	if r.StartedSeen || !r.StartedAt.Equal(evs[2].At) || r.MeterStartWh != nil || r.IDToken != "BBB" || r.StopIDToken != "BBB" {
		t.Fatalf("%+v", r)
	}
	// The Started event, when it comes, decides the start and the token.
	r.Merge(evs[0])
	if !r.StartedSeen || !r.StartedAt.Equal(t0) || r.IDToken != "AAA" || *r.MeterStartWh != 1000 {
		t.Fatalf("after Started: %+v", r)
	}
}

func TestMergeMeterReadings(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ev          Event
		start, stop *float64
	}{
		{"Started: first reading is the start", Event{Type: EventStarted, Register: []Reading{{Wh: 5}, {Wh: 6}}}, ptr(5.0), nil},
		{"Started with a Begin reading", Event{Type: EventStarted, Register: []Reading{{Wh: 5}, {Wh: 6, Context: ContextBegin}}}, ptr(6.0), nil},
		{"Ended: last reading is the stop", Event{Type: EventEnded, Register: []Reading{{Wh: 5}, {Wh: 6}}}, nil, ptr(6.0)},
		{"Ended with an End reading", Event{Type: EventEnded, Register: []Reading{{Wh: 5, Context: ContextEnd}, {Wh: 6}}}, nil, ptr(5.0)},
		{"Updated: periodic readings are neither", Event{Type: EventUpdated, Register: []Reading{{Wh: 5}}}, nil, nil},
		{"Updated carrying an End reading", Event{Type: EventUpdated, Register: []Reading{{Wh: 9, Context: ContextEnd}}}, nil, ptr(9.0)},
		{"no readings", Event{Type: EventEnded}, nil, nil},
	} {
		r := New(tc.ev)
		r.Merge(tc.ev)
		if !reflect.DeepEqual(r.MeterStartWh, tc.start) || r.MeterStartReported != (tc.start != nil) ||
			!reflect.DeepEqual(r.MeterStopWh, tc.stop) || r.MeterStopReported != (tc.stop != nil) {
			t.Errorf("%s: start %v (%v) stop %v (%v)", tc.name, r.MeterStartWh, r.MeterStartReported, r.MeterStopWh, r.MeterStopReported)
		}
	}
}

func TestEndedWithoutReasonIsLocal(t *testing.T) {
	ev := Event{Type: EventEnded, At: t0}
	r := New(ev)
	r.Merge(ev)
	if r.Status != Ended || r.StopReason != DefaultStopReason || !r.StoppedAt.Equal(t0) {
		t.Fatalf("%+v", r)
	}
}

func TestStop16(t *testing.T) {
	r := Start16(1, "AAA", "Central", "Accepted", t0, 100)
	if r.Status != Active || !r.StartedSeen || *r.MeterStartWh != 100 || !r.MeterStartReported {
		t.Fatalf("started: %+v", r)
	}
	if !r.Stop16(t0.Add(time.Hour), 900, "", "BBB") {
		t.Fatal("first stop refused")
	}
	if r.Status != Ended || r.StopReason != DefaultStopReason || *r.MeterStopWh != 900 || !r.MeterStopReported || r.StopIDToken != "BBB" {
		t.Fatalf("stopped: %+v", r)
	}
	before := r
	if r.Stop16(t0.Add(2*time.Hour), 950, "Remote", "CCC") || !reflect.DeepEqual(r, before) {
		t.Fatalf("a second stop changed the record: %+v", r)
	}
}

func TestUnknown16StartsAtEarliestReading(t *testing.T) {
	stop := t0.Add(time.Hour)
	if r := Unknown16("A", stop, []time.Time{t0.Add(30 * time.Minute), {}, t0.Add(10 * time.Minute)}); !r.StartedAt.Equal(t0.Add(10*time.Minute)) || r.StartedSeen || r.Status != Active {
		t.Fatalf("%+v", r)
	}
	if r := Unknown16("A", stop, nil); !r.StartedAt.Equal(stop) {
		t.Fatalf("without readings: %+v", r)
	}
}

func TestIsRegister(t *testing.T) {
	if !IsRegister(RegisterMeasurand, "", RegisterLocation) {
		t.Fatal("the register is not the register")
	}
	for _, c := range [][3]string{{"Energy.Active.Export.Register", "", "Outlet"}, {RegisterMeasurand, "L1", "Outlet"}, {RegisterMeasurand, "", "Inlet"}} {
		if IsRegister(c[0], c[1], c[2]) {
			t.Errorf("%v counted as the register", c)
		}
	}
}
