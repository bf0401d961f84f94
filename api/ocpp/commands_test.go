package ocpp

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/locallist"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Each version's command table binds exactly the actions the CSMS sends in
// that version, so the generic call can send every one and nothing else.
func TestCommandTablesCoverCSMSActions(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	for v, table := range CommandTables(nil, nil) {
		var want []string
		for _, a := range reg.Actions(v) {
			if reg.IsCSMSAction(v, a) {
				want = append(want, a)
			}
		}
		got := table.Actions()
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("OCPP %s table %v, want the CSMS actions %v", v, got, want)
		}
	}
}

// tableSender sends through the command tables on st to the station
// stand-in c, at testNow.
func tableSender(c *stationCaller, st *store.Store) *command.Sender {
	return command.NewSender(c, CommandTables(st, func() time.Time { return testNow }), quietLogger())
}

// createStations registers ids on st.
func createStations(t *testing.T, st *store.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := st.CreateStation(context.Background(), &store.Station{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
}

// stationCaller is the dispatcher seen by the tables: every station is
// connected in one version, every payload is checked against the official
// request schema, and each action gets the answer set for it (or err).
type stationCaller struct {
	t       *testing.T
	v       ocppj.Version
	schemas *schema.Registry

	mu      sync.Mutex
	answers map[string]string
	err     error
	// errFor is the outcome of an action instead of an answer.
	errFor map[string]error
	// offSchema lets answers break their schema, as a real charger's may
	// (the dispatcher passes them on with a warning).
	offSchema bool
	sent      []command.Request
}

func (c *stationCaller) Version(context.Context, string) (ocppj.Version, error)   { return c.v, nil }
func (c *stationCaller) Connected(context.Context, string) (ocppj.Version, error) { return c.v, nil }

func (c *stationCaller) Check(v ocppj.Version, action string, payload json.RawMessage) error {
	return command.NewDispatcher(command.Deps{Schemas: c.schemas}).Check(v, action, payload)
}

func (c *stationCaller) Call(_ context.Context, r command.Request) (*command.Result, error) {
	payload, err := json.Marshal(r.Payload)
	if raw, ok := r.Payload.(json.RawMessage); ok {
		payload, err = raw, nil
	}
	if err != nil {
		return nil, err
	}
	if err := c.Check(c.v, r.Action, payload); err != nil {
		c.t.Errorf("%s sent a payload its schema refuses: %v", r.Action, err)
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, command.Request{StationID: r.StationID, Action: r.Action, Payload: json.RawMessage(payload)})
	if c.err != nil {
		return nil, c.err
	}
	if err := c.errFor[r.Action]; err != nil {
		return nil, err
	}
	ans, ok := c.answers[r.Action]
	if !ok {
		c.t.Fatalf("no answer set for %s", r.Action)
	}
	if err := c.schemas.ValidateResponse(c.v, r.Action, []byte(ans)); err != nil && !c.offSchema {
		c.t.Fatalf("the test's answer to %s violates its schema: %v", r.Action, err)
	}
	return &command.Result{CommandID: uuid.NewString(), Payload: json.RawMessage(ans)}, nil
}

// last is the payload of the last CALL sent.
func (c *stationCaller) last() json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent[len(c.sent)-1].Payload.(json.RawMessage)
}

// An answer to a command sent through the generic call has the effects it
// has through the command's typed operation: the typed operation runs on
// one station, the same payload goes through the generic call to another,
// and both end in the same stored state.
func TestGenericCallHasTheTypedEffects(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range databases {
		for _, v := range ocppj.Versions {
			t.Run(db+"/"+v.String(), func(t *testing.T) {
				st := openStore(t, db)
				ctx := context.Background()
				createStations(t, st, "TYPED", "GENERIC")
				for _, tok := range []*store.IDToken{{Value: "TOKA", GroupID: ptrTo("GRP")}, {Value: "GRP", Type: "Local"}, {Value: "TOKB", Status: store.IDTokenBlocked}} {
					if err := st.CreateIDToken(ctx, tok); err != nil {
						t.Fatal(err)
					}
				}
				c := &stationCaller{t: t, v: v, schemas: reg, answers: map[string]string{
					"SetChargingProfile": `{"status":"Accepted"}`, "ClearChargingProfile": `{"status":"Accepted"}`,
					"SendLocalList": `{"status":"Accepted"}`, "ReserveNow": `{"status":"Accepted"}`,
					"CancelReservation": `{"status":"Accepted"}`,
				}}
				s := tableSender(c, st)

				// typed runs the operation on TYPED, then sends what it sent
				// to GENERIC through the generic call; it returns the typed
				// reply.
				typed := func(in any, check func(typed, generic string)) any {
					t.Helper()
					if _, err := command.Do[any](ctx, s, "TYPED", "op", in); err == nil {
						t.Fatal("an operation answered for the wrong result type")
					}
					reply, err := doTyped(ctx, s, in)
					if err != nil {
						t.Fatalf("typed %T: %v", in, err)
					}
					action := c.sent[len(c.sent)-1].Action
					if _, err := s.Call(ctx, command.Request{StationID: "GENERIC", Action: action, Payload: c.last(), RequestedBy: "op"}); err != nil {
						t.Fatalf("generic %s: %v", action, err)
					}
					check("TYPED", "GENERIC")
					return reply
				}

				profile := map[string]any{"chargingProfileId": 7, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
					"chargingProfileKind": "Relative", "chargingSchedule": map[string]any{"chargingRateUnit": "A",
						"chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 16}}}}
				if v == ocppj.V201 {
					profile = map[string]any{"id": 7, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
						"chargingProfileKind": "Relative", "chargingSchedule": []any{map[string]any{"id": 1, "chargingRateUnit": "A",
							"chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 16}}}}}
				}
				pb, err := structpb.NewStruct(profile)
				if err != nil {
					t.Fatal(err)
				}
				profiles := func(station string) string {
					rows, err := st.ListChargingProfiles(ctx, station, store.ChargingProfileFilter{})
					if err != nil {
						t.Fatal(err)
					}
					var out []string
					for _, p := range rows {
						out = append(out, fmt.Sprintf("%s %s id=%d evse=%d %s/%d by %s %s", p.Source, p.OCPPVersion, p.ProfileID, p.EVSEID,
							p.Purpose, p.StackLevel, p.RequestedBy, p.Profile))
					}
					return fmt.Sprint(out)
				}
				typed(&chargeplanev1.SetChargingProfileRequest{StationId: "TYPED", EvseId: 1, Profile: pb}, func(a, b string) {
					if pa, pb := profiles(a), profiles(b); pa != pb || pa == "[]" {
						t.Errorf("SetChargingProfile stored\n typed:   %s\n generic: %s", pa, pb)
					}
				})
				cleared := typed(&chargeplanev1.ClearChargingProfileRequest{StationId: "TYPED", ProfileId: i32(7)}, func(a, b string) {
					if pa, pb := profiles(a), profiles(b); pa != "[]" || pb != "[]" {
						t.Errorf("ClearChargingProfile left\n typed:   %s\n generic: %s", pa, pb)
					}
				})
				// The reply counts the stored profiles the clear removed.
				if r, ok := cleared.(command.ClearProfilesReply); !ok || r.Removed != 1 {
					t.Errorf("ClearChargingProfile replied %+v", cleared)
				}

				// The list a station should hold, planned as the operator
				// service plans it (api/locallist).
				plan := func(station, typ string) locallist.Update {
					t.Helper()
					cur, held, err := st.LocalListState(ctx, station)
					if err != nil {
						t.Fatal(err)
					}
					tokens, err := st.AllIDTokens(ctx)
					if err != nil {
						t.Fatal(err)
					}
					u, err := locallist.Next(cur, held, locallist.Desired(tokens, locallist.ShapeOf(v), testNow), typ)
					if err != nil {
						t.Fatalf("%s: plan on top of the accepted list: %v", station, err)
					}
					return u
				}
				heldList := func(station string) string {
					ver, err := st.GetLocalListVersion(ctx, station)
					if err != nil {
						t.Fatal(err)
					}
					next := plan(station, locallist.Differential)
					return fmt.Sprintf("version %d (%s, %d entries), then %d to update and %d to remove",
						ver.Version, ver.UpdateType, ver.Entries, len(next.Updated), len(next.Removed))
				}
				typed(plan("TYPED", locallist.Full), func(a, b string) {
					if la, lb := heldList(a), heldList(b); la != lb || la != "version 1 (Full, 3 entries), then 0 to update and 0 to remove" {
						t.Errorf("SendLocalList recorded\n typed:   %s\n generic: %s", la, lb)
					}
				})

				// A reservation is made on each station; one is cancelled by
				// the typed operation, the other through the generic call.
				expires := timestamppb.New(testNow.Add(time.Hour))
				var ids []int64
				for _, station := range []string{"TYPED", "GENERIC"} {
					r, err := command.Do[command.ReservationReply](ctx, s, station, "op",
						&chargeplanev1.ReserveNowRequest{StationId: station, IdToken: "TOKA", ExpiresAt: expires})
					if err != nil || r.Reservation == nil || r.Reservation.Status != store.ReservationAccepted {
						t.Fatalf("ReserveNow on %s: %+v %v", station, r, err)
					}
					ids = append(ids, r.Reservation.ID)
				}
				if _, err := command.Do[command.ReservationReply](ctx, s, "TYPED", "op",
					&chargeplanev1.CancelReservationRequest{StationId: "TYPED", ReservationId: ids[0]}); err != nil {
					t.Fatal(err)
				}
				payload := json.RawMessage(fmt.Sprintf(`{"reservationId":%d}`, ids[1]))
				if _, err := s.Call(ctx, command.Request{StationID: "GENERIC", Action: "CancelReservation", Payload: payload}); err != nil {
					t.Fatal(err)
				}
				for i, station := range []string{"TYPED", "GENERIC"} {
					if r, err := st.GetReservation(ctx, station, ids[i]); err != nil || r.Status != store.ReservationCancelled {
						t.Errorf("reservation %d of %s after CancelReservation: %+v %v", ids[i], station, r, err)
					}
				}

				// No answer: the reservation made for the command is failed,
				// whichever way it was sent.
				c.err = fmt.Errorf("%w: lost", command.ErrTimeout)
				if _, err := command.Do[command.ReservationReply](ctx, s, "TYPED", "op",
					&chargeplanev1.ReserveNowRequest{StationId: "TYPED", IdToken: "TOKB", ExpiresAt: expires}); err == nil {
					t.Fatal("ReserveNow without an answer succeeded")
				}
				rows, err := st.ListReservations(ctx, "TYPED", store.ReservationFilter{})
				if err != nil || len(rows) != 2 || rows[0].Status != store.ReservationFailed || rows[0].Error == "" {
					t.Errorf("unanswered reservation: %+v %v", rows, err)
				}
			})
		}
	}
}

// doTyped runs the typed operation of in with the reply type its table
// binds it to.
func doTyped(ctx context.Context, s *command.Sender, in any) (any, error) {
	switch in.(type) {
	case *chargeplanev1.SetChargingProfileRequest:
		return command.Do[command.ProfileReply](ctx, s, "TYPED", "op", in)
	case *chargeplanev1.ClearChargingProfileRequest:
		return command.Do[command.ClearProfilesReply](ctx, s, "TYPED", "op", in)
	case locallist.Update:
		return command.Do[command.LocalListReply](ctx, s, "TYPED", "op", in)
	}
	return nil, fmt.Errorf("no reply type for %T", in)
}

func i32(v int32) *int32 { return &v }
