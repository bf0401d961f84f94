package onboarding

import (
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]State{"": Accepted, "Accepted": Accepted, "Pending": Pending, "Rejected": Rejected} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Parse("Blocked"); err == nil {
		t.Error("Parse(Blocked) accepted an unknown state")
	}
}

func TestBootStatus(t *testing.T) {
	for s, want := range map[State]string{"": "Accepted", Accepted: "Accepted", Pending: "Pending", Rejected: "Rejected"} {
		if got := s.BootStatus(); got != want {
			t.Errorf("%q.BootStatus() = %q, want %q", s, got, want)
		}
	}
}

func TestRefusal(t *testing.T) {
	cases := []struct {
		s       State
		blocked bool
		refused bool
	}{
		{Accepted, false, false},
		{Pending, false, false},
		{Rejected, false, true},
		{Accepted, true, true},
		{Pending, true, true},
	}
	for _, c := range cases {
		if got := Refusal(c.s, c.blocked) != ""; got != c.refused {
			t.Errorf("Refusal(%q, blocked %v) refused = %v, want %v", c.s, c.blocked, got, c.refused)
		}
	}
}

func TestTransitions(t *testing.T) {
	if slices.Contains(RejectableFrom(), Accepted) {
		t.Error("an accepted station may be rejected: it must be blocked instead, keeping its history")
	}
	for _, s := range []State{Pending, Rejected} {
		if !slices.Contains(AcceptableFrom(), s) {
			t.Errorf("a %s station cannot be accepted", s)
		}
	}
	if !slices.Contains(RejectableFrom(), Pending) {
		t.Error("a pending station cannot be rejected")
	}
}

// A Pending station may only boot (what the CSMS asked it for is
// NeedsTrigger's); a Rejected one too.
func TestProcesses(t *testing.T) {
	for _, c := range []struct {
		registration, action string
		want                 bool
	}{
		{"Pending", "BootNotification", true},
		{"Pending", "NotifyReport", false}, // only after a report request
		{"Pending", "StatusNotification", false},
		{"Pending", "TransactionEvent", false},
		{"Pending", "Authorize", false},
		{"Rejected", "BootNotification", true},
		{"Rejected", "NotifyReport", false},
		{"Accepted", "TransactionEvent", true},
		{"", "Heartbeat", true},
	} {
		if got := Processes(c.registration, c.action); got != c.want {
			t.Errorf("Processes(%q, %q) = %v, want %v", c.registration, c.action, got, c.want)
		}
	}
}
