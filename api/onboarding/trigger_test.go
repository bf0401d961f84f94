package onboarding

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC)

// TestTriggeredActions: every requestedMessage of the official enums maps
// to the action the station answers it with, in both versions and the 1.6
// security whitepaper's ExtendedTriggerMessage.
func TestTriggeredActions(t *testing.T) {
	cases := []struct {
		trigger, message string
		want             []string
	}{
		// 1.6 TriggerMessage
		{ActionTriggerMessage, "BootNotification", []string{"BootNotification"}},
		{ActionTriggerMessage, "DiagnosticsStatusNotification", []string{"DiagnosticsStatusNotification"}},
		{ActionTriggerMessage, "FirmwareStatusNotification", []string{"FirmwareStatusNotification"}},
		{ActionTriggerMessage, "Heartbeat", []string{"Heartbeat"}},
		{ActionTriggerMessage, "MeterValues", []string{"MeterValues"}},
		{ActionTriggerMessage, "StatusNotification", []string{"StatusNotification"}},
		// 2.0.1 TriggerMessage
		{ActionTriggerMessage, "LogStatusNotification", []string{"LogStatusNotification"}},
		{ActionTriggerMessage, "SignChargingStationCertificate", []string{"SignCertificate"}},
		{ActionTriggerMessage, "SignV2GCertificate", []string{"SignCertificate"}},
		{ActionTriggerMessage, "SignCombinedCertificate", []string{"SignCertificate"}},
		{ActionTriggerMessage, "TransactionEvent", []string{"TransactionEvent"}},
		{ActionTriggerMessage, "PublishFirmwareStatusNotification", []string{"PublishFirmwareStatusNotification"}},
		// 1.6 ExtendedTriggerMessage
		{ActionExtendedTriggerMessage, "SignChargePointCertificate", []string{"SignCertificate"}},
		{ActionExtendedTriggerMessage, "FirmwareStatusNotification", []string{"SignedFirmwareStatusNotification", "FirmwareStatusNotification"}},
		{ActionExtendedTriggerMessage, "LogStatusNotification", []string{"LogStatusNotification"}},
		{ActionExtendedTriggerMessage, "StatusNotification", []string{"StatusNotification"}},
		// Not triggers, or not messages a trigger names.
		{ActionExtendedTriggerMessage, "DiagnosticsStatusNotification", nil},
		{ActionTriggerMessage, "SignChargePointCertificate", nil},
		{ActionTriggerMessage, "Authorize", nil},
		{"GetBaseReport", "StatusNotification", nil},
		{"Reset", "BootNotification", nil},
	}
	for _, c := range cases {
		if got := TriggeredActions(c.trigger, c.message); !slices.Equal(got, c.want) {
			t.Errorf("TriggeredActions(%s, %s) = %v, want %v", c.trigger, c.message, got, c.want)
		}
	}
}

// TestNeedsTrigger: only a Pending station's refused message of an action
// some trigger asks for is worth a look at the history.
func TestNeedsTrigger(t *testing.T) {
	cases := []struct {
		registration, action string
		want                 bool
	}{
		{"Pending", "StatusNotification", true},
		{"Pending", "Heartbeat", true},
		{"Pending", "SignCertificate", true},
		{"Pending", "DiagnosticsStatusNotification", true},
		{"Pending", "SignedFirmwareStatusNotification", true},
		{"Pending", "BootNotification", false}, // always processed
		{"Pending", "NotifyReport", true},      // after GetBaseReport / GetReport
		{"Pending", "Authorize", false},        // no trigger asks for it
		{"Pending", "DataTransfer", false},
		{"Pending", "StartTransaction", false},
		{"Rejected", "StatusNotification", false}, // B03: a Rejected station sends nothing
		{"Accepted", "StatusNotification", false}, // processed anyway
		{"", "StatusNotification", false},
	}
	for _, c := range cases {
		if got := NeedsTrigger(c.registration, c.action); got != c.want {
			t.Errorf("NeedsTrigger(%q, %s) = %v, want %v", c.registration, c.action, got, c.want)
		}
	}
}

// TestTriggerAllows: an accepted (or not yet answered) trigger allows the
// message it asked for during TriggerWindow, and nothing else.
func TestTriggerAllows(t *testing.T) {
	accepted := Trigger{Action: ActionTriggerMessage, RequestedMessage: "StatusNotification", Answered: true, Status: "Accepted", At: t0}
	with := func(f func(*Trigger)) Trigger { c := accepted; f(&c); return c }
	report := Trigger{Action: ActionGetBaseReport, Answered: true, Status: "Accepted", At: t0}
	cases := []struct {
		name   string
		t      Trigger
		action string
		at     time.Time
		want   bool
	}{
		{"accepted, right after", accepted, "StatusNotification", t0.Add(time.Second), true},
		{"accepted, at the window's end", accepted, "StatusNotification", t0.Add(TriggerWindow), true},
		{"accepted, after the window", accepted, "StatusNotification", t0.Add(TriggerWindow + time.Millisecond), false},
		{"another action", accepted, "MeterValues", t0.Add(time.Second), false},
		{"rejected", with(func(t *Trigger) { t.Status = "Rejected" }), "StatusNotification", t0.Add(time.Second), false},
		{"not implemented", with(func(t *Trigger) { t.Status = "NotImplemented" }), "StatusNotification", t0.Add(time.Second), false},
		{"answer not recorded yet", with(func(t *Trigger) { t.Answered, t.Status = false, "" }), "StatusNotification", t0.Add(time.Second), true},
		{"unanswered, after the window", with(func(t *Trigger) { t.Answered, t.Status = false, "" }), "StatusNotification", t0.Add(TriggerWindow + time.Second), false},
		{"recorded by a clock slightly ahead", accepted, "StatusNotification", t0.Add(-10 * time.Second), true},
		{"recorded in the future", accepted, "StatusNotification", t0.Add(-time.Hour), false},
		{"a certificate", with(func(t *Trigger) { t.RequestedMessage = "SignChargingStationCertificate" }), "SignCertificate", t0.Add(time.Minute), true},
		{"not a trigger", with(func(t *Trigger) { t.Action = "GetBaseReport" }), "StatusNotification", t0.Add(time.Second), false},
		// Report requests allow NotifyReport, for the longer ReportWindow.
		{"base report, within its window", report, "NotifyReport", t0.Add(ReportWindow), true},
		{"report, within its window", with(func(t *Trigger) { *t = report; t.Action = ActionGetReport }), "NotifyReport", t0.Add(time.Minute), true},
		{"base report, after its window", report, "NotifyReport", t0.Add(ReportWindow + time.Millisecond), false},
		{"base report, another action", report, "StatusNotification", t0.Add(time.Second), false},
		{"base report not supported", with(func(t *Trigger) { *t = report; t.Status = "NotSupported" }), "NotifyReport", t0.Add(time.Second), false},
		{"base report, answer not recorded yet", with(func(t *Trigger) { *t = report; t.Answered, t.Status = false, "" }), "NotifyReport", t0.Add(time.Second), true},
		{"a trigger does not allow a report", accepted, "NotifyReport", t0.Add(time.Second), false},
	}
	for _, c := range cases {
		if got := c.t.Allows(c.action, c.at); got != c.want {
			t.Errorf("%s: Allows(%s) = %v, want %v", c.name, c.action, got, c.want)
		}
	}
	if Triggered("StatusNotification", nil, t0) {
		t.Error("no trigger allowed a message")
	}
	mixed := []Trigger{with(func(t *Trigger) { t.Status = "Rejected" }), with(func(t *Trigger) { t.RequestedMessage = "Heartbeat" })}
	if !Triggered("Heartbeat", mixed, t0) || Triggered("StatusNotification", mixed, t0) {
		t.Error("Triggered does not take exactly the triggers that allow the action")
	}
}

// TestTriggerWindowBounded: the allowance is short; a trigger is not a
// standing permission.
func TestTriggerWindowBounded(t *testing.T) {
	if TriggerWindow <= 0 || TriggerWindow > 15*time.Minute {
		t.Fatalf("TriggerWindow %v: want a few minutes", TriggerWindow)
	}
	if ReportWindow < TriggerWindow || ReportWindow > time.Hour || HistoryWindow() < ReportWindow {
		t.Fatalf("ReportWindow %v, HistoryWindow %v: want under an hour, and read", ReportWindow, HistoryWindow())
	}
}
