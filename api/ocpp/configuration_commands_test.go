package ocpp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/locallist"
	"github.com/chargeplane/chargeplane/api/ocpp/v16"
	"github.com/chargeplane/chargeplane/api/redact"
	"github.com/chargeplane/chargeplane/api/runningcost"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// valueOf shows a kept value, or <none>.
func valueOf(p *string) string {
	if p == nil {
		return "<none>"
	}
	return *p
}

// configuration is the station's kept 1.6 keys, one "key=value
// readonly reboot @minute" each, by key.
func configuration(t *testing.T, st *store.Store, station string) []string {
	t.Helper()
	keys, err := st.ListConfiguration(context.Background(), station)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, k := range keys {
		s := k.Key + "=" + valueOf(k.Value)
		if k.Readonly {
			s += " ro"
		}
		if k.AwaitingReboot {
			s += " reboot"
		}
		out = append(out, fmt.Sprintf("%s @%d", s, int(k.ReportedAt.Sub(testNow).Minutes())))
	}
	return out
}

func wantConfiguration(t *testing.T, st *store.Store, station, when string, want ...string) {
	t.Helper()
	if got := configuration(t, st, station); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: kept\n  %q\nwant\n  %q", when, got, want)
	}
}

// TestConfigurationKept16: every answered 1.6 GetConfiguration (the typed
// operation, the local list's question, the generic call) and accepted
// ChangeConfiguration leaves the station's configuration kept as it last
// reported it, through the command table on a real store: a full answer
// replaces it, one to named keys updates those and forgets the unknown
// ones, a secret's value is never kept, and the bounds hold against a
// charger that breaks them. The running cost then reads the kept
// CustomDisplayCostAndPrice instead of asking.
func TestConfigurationKept16(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	const secret, wifi = "00112233445566778899AABBCCDDEEFF", "wifi-secret-7"
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			st := openStore(t, db)
			ctx := context.Background()
			createStations(t, st, "CS", "GENERIC", "ASKS")
			minute := 0
			c := &stationCaller{t: t, v: ocppj.V16, schemas: reg, answers: map[string]string{}}
			s := command.NewSender(c, CommandTables(st, func() time.Time { return testNow.Add(time.Duration(minute) * time.Minute) }), quietLogger())
			get := func(answer string, keys ...string) {
				t.Helper()
				c.answers["GetConfiguration"] = answer
				if _, err := command.Do[command.ConfigurationReply](ctx, s, "CS", "op",
					&chargeplanev1.GetConfigurationRequest{StationId: "CS", Keys: keys}); err != nil {
					t.Fatal(err)
				}
			}
			change := func(key, value, status string) {
				t.Helper()
				c.answers["ChangeConfiguration"] = `{"status":"` + status + `"}`
				if r, err := command.Do[command.Reply](ctx, s, "CS", "op",
					&chargeplanev1.ChangeConfigurationRequest{StationId: "CS", Key: key, Value: value}); err != nil || r.Status != status {
					t.Fatalf("ChangeConfiguration %s: %+v %v", key, r, err)
				}
			}

			// A full answer: every key as reported, secrets without their
			// value, a key sent without value kept without one.
			full := `{"configurationKey":[{"key":"HeartbeatInterval","readonly":false,"value":"300"},` +
				`{"key":"NumberOfConnectors","readonly":true,"value":"2"},{"key":"AuthorizationKey","readonly":false,"value":"` + secret + `"},` +
				`{"key":"WifiPassword","readonly":false,"value":"` + wifi + `"},{"key":"ChargeProfileMaxStackLevel","readonly":true}]}`
			get(full)
			wantConfiguration(t, st, "CS", "full answer", "AuthorizationKey="+redact.Marker+" @0", "ChargeProfileMaxStackLevel=<none> ro @0",
				"HeartbeatInterval=300 @0", "NumberOfConnectors=2 ro @0", "WifiPassword="+redact.Marker+" @0")
			// The same answer through the generic call keeps the same.
			if _, err := s.Call(ctx, command.Request{StationID: "GENERIC", Action: "GetConfiguration", Payload: c.last(), RequestedBy: "op"}); err != nil {
				t.Fatal(err)
			}
			if a, b := configuration(t, st, "CS"), configuration(t, st, "GENERIC"); fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("typed kept %q, generic %q", a, b)
			}

			// Named keys: those reported are updated, the unknown ones
			// forgotten, the others left as they were.
			minute = 1
			get(`{"configurationKey":[{"key":"heartbeatinterval","readonly":false,"value":"60"}],"unknownKey":["NumberOfConnectors","NoSuchKey"]}`,
				"heartbeatinterval", "NumberOfConnectors", "NoSuchKey")
			wantConfiguration(t, st, "CS", "partial answer", "AuthorizationKey="+redact.Marker+" @0", "ChargeProfileMaxStackLevel=<none> ro @0",
				"heartbeatinterval=60 @1", "WifiPassword="+redact.Marker+" @0")

			// The local list's question is a GetConfiguration too.
			minute = 2
			c.answers["GetConfiguration"] = `{"configurationKey":[{"key":"LocalAuthListMaxLength","readonly":true,"value":"100"}],"unknownKey":["SendLocalListMaxLength"]}`
			if l, err := command.Do[locallist.Limits](ctx, s, "CS", "op", locallist.LimitsQuery{}); err != nil || l.Entries != 100 {
				t.Fatalf("limits %+v %v", l, err)
			}
			wantConfiguration(t, st, "CS", "local list question", "AuthorizationKey="+redact.Marker+" @0", "ChargeProfileMaxStackLevel=<none> ro @0",
				"heartbeatinterval=60 @1", "LocalAuthListMaxLength=100 ro @2", "WifiPassword="+redact.Marker+" @0")

			// ChangeConfiguration: Accepted keeps the value (readonly as
			// reported), RebootRequired keeps it as awaiting the reboot,
			// Rejected and NotSupported change nothing; a key not kept
			// before is added.
			minute = 3
			change("HEARTBEATINTERVAL", "120", "Accepted")
			change("LocalAuthListMaxLength", "5", "Rejected")
			change("MeterValueSampleInterval", "30", "Accepted")
			change("ConnectionTimeOut", "90", "RebootRequired")
			change("Unsupported", "1", "NotSupported")
			change("WifiPassword", "new-"+wifi, "Accepted")
			wantConfiguration(t, st, "CS", "changes", "AuthorizationKey="+redact.Marker+" @0", "ChargeProfileMaxStackLevel=<none> ro @0",
				"ConnectionTimeOut=90 reboot @3", "heartbeatinterval=120 @3", "LocalAuthListMaxLength=100 ro @2",
				"MeterValueSampleInterval=30 @3", "WifiPassword="+redact.Marker+" @3")
			// The station's next report of the key says what it has.
			minute = 4
			get(`{"configurationKey":[{"key":"ConnectionTimeOut","readonly":false,"value":"90"}]}`, "ConnectionTimeOut")
			// A URL's password is not kept either, and a NUL in an unknown
			// key (PostgreSQL text cannot hold it) does not fail the answer.
			get(`{"configurationKey":[{"key":"FtpServer","readonly":false,"value":"ftp://fw:ftp-pw-9@files.example/up"}],"unknownKey":["Gone\u0000"]}`,
				"FtpServer", "Gone")
			if got := configuration(t, st, "CS"); !strings.Contains(fmt.Sprint(got), "FtpServer=ftp://fw:"+redact.Marker+"@files.example/up @4") {
				t.Errorf("URL key kept as %q", got)
			}
			// The password rotation sends ChangeConfiguration too.
			if r, err := command.Do[command.Reply](ctx, s, "CS", "op", command.PasswordChange{Password: "new-station-password"}); err != nil || r.Status != "Accepted" {
				t.Fatalf("password change: %+v %v", r, err)
			}
			keys, err := st.ListConfiguration(ctx, "CS")
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if v := valueOf(k.Value); strings.Contains(v, secret) || strings.Contains(v, wifi) || strings.Contains(v, "ftp-pw-9") || strings.Contains(strings.ToLower(v), strings.ToLower(fmt.Sprintf("%X", "new-station"))) {
					t.Errorf("secret kept: %+v %s", k, v)
				}
			}

			// A full answer replaces everything kept.
			minute = 5
			get(`{"configurationKey":[{"key":"HeartbeatInterval","readonly":false,"value":"120"},{"key":"ConnectionTimeOut","readonly":false,"value":"90"}]}`)
			wantConfiguration(t, st, "CS", "second full answer", "ConnectionTimeOut=90 @5", "HeartbeatInterval=120 @5")

			// The running cost reads the kept key and asks nothing; a
			// station without it kept is asked, and its answer kept.
			rc := runningcost.CommandSender{Commands: s, Store: st}
			change(runningcost.CustomDisplayCostAndPrice, "true", "Accepted")
			sent := len(c.sent)
			if sup, err := rc.Support(ctx, "CS", ocppj.V16); err != nil || sup != runningcost.Shown || len(c.sent) != sent {
				t.Errorf("support from the kept key: %v %v, %d CALLs", sup, err, len(c.sent)-sent)
			}
			change(runningcost.CustomDisplayCostAndPrice, "false", "Accepted")
			sent = len(c.sent)
			if sup, err := rc.Support(ctx, "CS", ocppj.V16); err != nil || sup != runningcost.NotShown || len(c.sent) != sent {
				t.Errorf("support after the change: %v %v, %d CALLs", sup, err, len(c.sent)-sent)
			}
			c.answers["GetConfiguration"] = `{"configurationKey":[{"key":"CustomDisplayCostAndPrice","readonly":true,"value":"true"}]}`
			for i := range 2 {
				sent = len(c.sent)
				if sup, err := rc.Support(ctx, "ASKS", ocppj.V16); err != nil || sup != runningcost.Shown || len(c.sent) != sent+1-i {
					t.Errorf("support %d of a station without the key kept: %v %v, %d CALLs", i, sup, err, len(c.sent)-sent)
				}
			}
		})
	}
}

// TestConfigurationBounds16: what a charger sends past the bounds is not
// kept whole: a full answer keeps its first v16.MaxConfigurationKeys keys,
// a value is cut to v16.MaxConfigurationValueLen characters, a key longer
// than its CiString50 is left out, and a new key of a later answer past
// the limit is not kept while the kept ones still change.
func TestConfigurationBounds16(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			st := openStore(t, db)
			ctx := context.Background()
			createStations(t, st, "CS")
			c := &stationCaller{t: t, v: ocppj.V16, schemas: reg, answers: map[string]string{}, offSchema: true}
			s := tableSender(c, st)
			var b strings.Builder
			b.WriteString(`{"configurationKey":[{"key":"Long","readonly":false,"value":"` + strings.Repeat("é", v16.MaxConfigurationValueLen+20) + `"},` +
				`{"key":"` + strings.Repeat("K", v16.MaxConfigurationKeyLen+1) + `","readonly":false,"value":"1"},` +
				`{"key":"Nul\u0000Key","readonly":false,"value":"a\u0000b"}`)
			for i := range v16.MaxConfigurationKeys + 5 {
				fmt.Fprintf(&b, `,{"key":"Key%04d","readonly":false,"value":"%d"}`, i, i)
			}
			b.WriteString(`]}`)
			c.answers["GetConfiguration"] = b.String()
			if _, err := command.Do[command.ConfigurationReply](ctx, s, "CS", "op", &chargeplanev1.GetConfigurationRequest{StationId: "CS"}); err != nil {
				t.Fatal(err)
			}
			keys, err := st.ListConfiguration(ctx, "CS")
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != v16.MaxConfigurationKeys {
				t.Fatalf("kept %d keys, want %d", len(keys), v16.MaxConfigurationKeys)
			}
			got := map[string]string{}
			for _, k := range keys {
				got[k.Key] = valueOf(k.Value)
			}
			if v := got["Long"]; v != strings.Repeat("é", v16.MaxConfigurationValueLen) {
				t.Errorf("long value kept as %d characters", len([]rune(v)))
			}
			if v, ok := got["NulKey"]; !ok || v != "ab" {
				t.Errorf("NUL kept: %q %v", v, ok)
			}
			if _, ok := got[strings.Repeat("K", v16.MaxConfigurationKeyLen+1)]; ok {
				t.Error("a key past CiString50 kept")
			}
			last := fmt.Sprintf("Key%04d", v16.MaxConfigurationKeys-3) // the 1,000th: Long, NulKey, Key0000…
			if _, ok := got[last]; !ok {
				t.Errorf("%s not kept", last)
			}
			if _, ok := got[fmt.Sprintf("Key%04d", v16.MaxConfigurationKeys-2)]; ok {
				t.Error("a key past the limit kept")
			}

			// At the limit: a new key is not kept, a kept one still changes.
			c.answers["GetConfiguration"] = `{"configurationKey":[{"key":"Key0001","readonly":true,"value":"new"},{"key":"Brand","readonly":false,"value":"x"}]}`
			if _, err := command.Do[command.ConfigurationReply](ctx, s, "CS", "op",
				&chargeplanev1.GetConfigurationRequest{StationId: "CS", Keys: []string{"Key0001", "Brand"}}); err != nil {
				t.Fatal(err)
			}
			if k, err := st.GetConfigurationKey(ctx, "CS", "key0001"); err != nil || valueOf(k.Value) != "new" || !k.Readonly {
				t.Errorf("Key0001: %+v %v", k, err)
			}
			if k, err := st.GetConfigurationKey(ctx, "CS", "Brand"); err == nil {
				t.Errorf("a new key past the limit kept: %+v", k)
			}
		})
	}
}
