package onboarding

import (
	"slices"
	"time"
)

// A Pending station may send what the CSMS asked it for: OCPP 2.0.1
// B02.FR.02 (while Pending the station sends no requests "unless
// requested by the CSMS", i.e. by TriggerMessage) and OCPP 1.6 §4.2 (the
// Central System may read or configure a Pending Charge Point, which
// sends nothing else on its own). The rules below say which answer a
// trigger allows and for how long; the router finds the triggers in the
// command history, which every core instance shares.

// TriggerWindow is how long after a trigger was accepted (or, while its
// answer is not recorded yet, sent) the Pending station may send what it
// asked for. A triggered message normally follows its TriggerMessage
// answer within seconds, but some take longer: a SignCertificate waits
// for the station to generate a key pair, and a StatusNotification or
// MeterValues without a connector comes once per connector. Five minutes
// covers those; longer would let one operator action open the door wider
// than it was meant to, and a Pending station that missed it is simply
// triggered again.
const TriggerWindow = 5 * time.Minute

// Trigger actions: the CSMS commands whose accepted answer allows a
// Pending station a message (the 1.6 security whitepaper's
// ExtendedTriggerMessage as well as TriggerMessage of both versions).
const (
	ActionTriggerMessage         = "TriggerMessage"
	ActionExtendedTriggerMessage = "ExtendedTriggerMessage"
)

// Report requests: the 2.0.1 commands that read a station's device model
// (B07, B08; B02.FR.02 lets the CSMS read a Pending station), answered by
// NotifyReport parts. Taken from a Pending station only after one: the
// station chooses its parts, and anyone may connect under a pending id.
const (
	ActionGetBaseReport = "GetBaseReport"
	ActionGetReport     = "GetReport"
)

// ReportWindow is how long after a report request was sent (accepted, or
// not answered yet) the Pending station may send
// NotifyReport parts: a full inventory of a large station comes in many
// parts and may take minutes, more than TriggerWindow.
const ReportWindow = 30 * time.Minute

// reportAnswers maps a report request to what the station answers it with.
var reportAnswers = map[string][]string{
	ActionGetBaseReport: {"NotifyReport"},
	ActionGetReport:     {"NotifyReport"},
}

// IsReportRequest reports whether action is a report request (its CALL
// names no requestedMessage).
func IsReportRequest(action string) bool { return reportAnswers[action] != nil }

// TriggerActions are the commands to look for in the history.
func TriggerActions() []string {
	return []string{ActionTriggerMessage, ActionExtendedTriggerMessage, ActionGetBaseReport, ActionGetReport}
}

// HistoryWindow is how far back the history holds commands that may
// still allow something: the longest window.
func HistoryWindow() time.Duration { return max(TriggerWindow, ReportWindow) }

// triggered maps a trigger's requestedMessage to the actions the station
// answers it with. The names of 1.6 and 2.0.1 TriggerMessage do not
// collide (1.6 has DiagnosticsStatusNotification, 2.0.1 the Sign*
// certificates), so one table serves both; ExtendedTriggerMessage differs
// in two names and has its own.
var triggered = map[string]map[string][]string{
	ActionTriggerMessage: {
		"BootNotification":                  {"BootNotification"},
		"Heartbeat":                         {"Heartbeat"},
		"StatusNotification":                {"StatusNotification"},
		"MeterValues":                       {"MeterValues"},
		"FirmwareStatusNotification":        {"FirmwareStatusNotification"},
		"DiagnosticsStatusNotification":     {"DiagnosticsStatusNotification"}, // 1.6
		"LogStatusNotification":             {"LogStatusNotification"},         // 2.0.1
		"TransactionEvent":                  {"TransactionEvent"},              // 2.0.1, triggerReason Trigger
		"SignChargingStationCertificate":    {"SignCertificate"},               // 2.0.1 A02/A03
		"SignV2GCertificate":                {"SignCertificate"},
		"SignCombinedCertificate":           {"SignCertificate"},
		"PublishFirmwareStatusNotification": {"PublishFirmwareStatusNotification"},
	},
	ActionExtendedTriggerMessage: {
		"BootNotification":           {"BootNotification"},
		"Heartbeat":                  {"Heartbeat"},
		"StatusNotification":         {"StatusNotification"},
		"MeterValues":                {"MeterValues"},
		"LogStatusNotification":      {"LogStatusNotification"},
		"SignChargePointCertificate": {"SignCertificate"},
		// The whitepaper's firmware status is that of a signed update
		// (SignedUpdateFirmware) or of a plain one.
		"FirmwareStatusNotification": {"SignedFirmwareStatusNotification", "FirmwareStatusNotification"},
	},
}

// TriggeredActions lists the actions a station answers a trigger
// (TriggerMessage or ExtendedTriggerMessage) for requestedMessage with;
// nil if the command or the message is not one.
func TriggeredActions(triggerAction, requestedMessage string) []string {
	return triggered[triggerAction][requestedMessage]
}

// triggerable holds every action some trigger or report request allows.
var triggerable = func() map[string]bool {
	m := map[string]bool{}
	for _, actions := range reportAnswers {
		for _, a := range actions {
			m[a] = true
		}
	}
	for _, byMessage := range triggered {
		for _, actions := range byMessage {
			for _, a := range actions {
				m[a] = true
			}
		}
	}
	return m
}()

// NeedsTrigger reports whether a CALL of action from a station whose last
// BootNotification was answered registration is processed only if the
// CSMS triggered it: Processes refuses it, but the station is Pending and
// some trigger asks for action. Only then is the history worth reading,
// so an accepted station, a Rejected one, or an action no trigger asks
// for (Authorize, DataTransfer) costs nothing.
func NeedsTrigger(registration, action string) bool {
	return State(registration) == Pending && !Processes(registration, action) && triggerable[action]
}

// Trigger is one trigger (or report request) the CSMS sent the station,
// as the command history holds it. Everything in it comes from the CSMS's own record:
// only the operator creates a trigger, the station only answers it.
type Trigger struct {
	// Action is the command: TriggerMessage or ExtendedTriggerMessage, or
	// a report request (GetBaseReport, GetReport).
	Action string
	// RequestedMessage is what the CSMS asked for ("" for a report
	// request).
	RequestedMessage string
	// Answered: the station's CALLRESULT is recorded, with Status its
	// status. Not answered: the command is still pending.
	Answered bool
	Status   string
	// At is when the answer was recorded, or the command sent while it
	// is pending.
	At time.Time
}

// Allows reports whether t lets a Pending station send a CALL of action
// at now. A trigger still pending counts: the station answers before it
// sends the triggered message, but its answer goes to the core instance
// that sent the trigger while the message may reach another one first,
// so the message can overtake the answer's record. A trigger the station
// answered other than Accepted (Rejected, NotImplemented), or whose
// command ended without an answer, allows nothing.
func (t Trigger) Allows(action string, now time.Time) bool {
	if t.Answered && t.Status != "Accepted" {
		return false
	}
	window, allowed := TriggerWindow, TriggeredActions(t.Action, t.RequestedMessage)
	if IsReportRequest(t.Action) {
		window, allowed = ReportWindow, reportAnswers[t.Action]
	}
	if now.Before(t.At.Add(-clockSkew)) || now.Sub(t.At) > window {
		return false
	}
	return slices.Contains(allowed, action)
}

// clockSkew tolerates a trigger recorded by a core instance whose clock
// is slightly ahead of this one's; anything further in the future is not
// trusted.
const clockSkew = 30 * time.Second

// Triggered reports whether any of triggers allows action at now.
func Triggered(action string, triggers []Trigger, now time.Time) bool {
	return slices.ContainsFunc(triggers, func(t Trigger) bool { return t.Allows(action, now) })
}
