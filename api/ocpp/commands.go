package ocpp

import (
	"time"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/customerinfo"
	"github.com/chargeplane/chargeplane/api/displaymessage"
	"github.com/chargeplane/chargeplane/api/ocpp/v16"
	"github.com/chargeplane/chargeplane/api/ocpp/v201"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// CommandTables are the command tables of every version, the CSMS-side
// counterpart of the route tables (see api/command and each version's
// commands.go); now nil means time.Now.
func CommandTables(st *store.Store, now func() time.Time) map[ocppj.Version]command.Table {
	return PlanningCommandTables(st, now, nil)
}

// PlanningCommandTables are CommandTables whose answers to the operator's
// 2.0.1 ChargingStationMaxProfile and TxDefaultProfile, set or cleared,
// have planner (nil: none) plan the EV schedules within them again.
func PlanningCommandTables(st *store.Store, now func() time.Time, planner v201.Replanner) map[ocppj.Version]command.Table {
	if now == nil {
		now = time.Now
	}
	return map[ocppj.Version]command.Table{
		ocppj.V16: v16.Commands(v16.CommandDeps{Tokens: st, Reservations: st, LocalLists: st, Profiles: st, Inventory: st, Configuration: st,
			Now: now}),
		ocppj.V201: v201.Commands(v201.CommandDeps{Tokens: st, Reservations: st, LocalLists: st, Profiles: st, Inventory: st, Monitors: st,
			DisplayMessages: displaymessage.Messages{Store: st, Now: now}, Customers: customerinfo.Requests{Store: st},
			NetworkProfiles: st, Planner: planner, Now: now}),
	}
}
