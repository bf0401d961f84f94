package ocpp

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/redact"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// TestNetworkProfileAndPublishCommands: the 2.0.1 SetNetworkProfile,
// PublishFirmware and UnpublishFirmware rows of the command table, typed
// and through the generic call, on a real store. An accepted network
// profile is kept in its slot without its secrets, the same whichever way
// it was sent; a refused one changes nothing.
func TestNetworkProfileAndPublishCommands(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			st := openStore(t, db)
			ctx := context.Background()
			createStations(t, st, "TYPED", "GENERIC")
			c := &stationCaller{t: t, v: ocppj.V201, schemas: reg, answers: map[string]string{
				"SetNetworkProfile": `{"status":"Accepted"}`, "PublishFirmware": `{"status":"Accepted"}`,
				"UnpublishFirmware": `{"status":"Unpublished"}`,
			}}
			s := tableSender(c, st)

			vpn, err := structpb.NewStruct(map[string]any{"server": "vpn.example", "user": "cs", "password": "vpn-secret-1", "key": "vpn-key-2", "type": "IPSec"})
			if err != nil {
				t.Fatal(err)
			}
			r, err := command.Do[command.NetworkProfileReply](ctx, s, "TYPED", "op", &chargeplanev1.SetNetworkProfileRequest{StationId: "TYPED",
				ConfigurationSlot: 2, CsmsUrl: "wss://csms.example/ocpp", SecurityProfile: i32(2), Vpn: vpn})
			if err != nil || r.Status != "Accepted" || r.Profile == nil {
				t.Fatalf("typed SetNetworkProfile: %+v %v", r, err)
			}
			var sent struct {
				ConfigurationSlot int
				ConnectionData    map[string]any
			}
			if err := json.Unmarshal(c.last(), &sent); err != nil {
				t.Fatal(err)
			}
			cd := sent.ConnectionData
			if sent.ConfigurationSlot != 2 || cd["ocppCsmsUrl"] != "wss://csms.example/ocpp" || cd["securityProfile"] != 2.0 ||
				cd["ocppVersion"] != "OCPP20" || cd["ocppTransport"] != "JSON" || cd["ocppInterface"] != "Wired0" || cd["messageTimeout"] != 30.0 ||
				!strings.Contains(string(c.last()), "vpn-secret-1") {
				t.Errorf("sent %s", c.last())
			}
			if _, err := s.Call(ctx, command.Request{StationID: "GENERIC", Action: "SetNetworkProfile", Payload: c.last(), RequestedBy: "op"}); err != nil {
				t.Fatal(err)
			}
			kept := func(station string) []store.NetworkProfile {
				ps, err := st.ListNetworkProfiles(ctx, station)
				if err != nil {
					t.Fatal(err)
				}
				return ps
			}
			typed, generic := kept("TYPED"), kept("GENERIC")
			if len(typed) != 1 || len(generic) != 1 {
				t.Fatalf("kept typed %+v, generic %+v", typed, generic)
			}
			for _, p := range []store.NetworkProfile{typed[0], generic[0]} {
				if p.Slot != 2 || p.SecurityProfile != 2 || p.CSMSURL != "wss://csms.example/ocpp" || p.RequestedBy != "op" || p.CommandID == "" ||
					strings.Contains(p.ConnectionData, "vpn-secret-1") || strings.Contains(p.ConnectionData, "vpn-key-2") ||
					!strings.Contains(p.ConnectionData, redact.Marker) || !strings.Contains(p.ConnectionData, "vpn.example") {
					t.Errorf("kept %+v", p)
				}
			}
			if typed[0].ConnectionData != generic[0].ConnectionData {
				t.Errorf("typed kept %s, generic %s", typed[0].ConnectionData, generic[0].ConnectionData)
			}

			// A refused profile leaves the slot as it was.
			c.answers["SetNetworkProfile"] = `{"status":"Rejected","statusInfo":{"reasonCode":"InvalidURL"}}`
			r, err = command.Do[command.NetworkProfileReply](ctx, s, "TYPED", "op", &chargeplanev1.SetNetworkProfileRequest{StationId: "TYPED",
				ConfigurationSlot: 2, CsmsUrl: "wss://other.example/ocpp", SecurityProfile: i32(3)})
			if err != nil || r.Status != "Rejected" || r.ReasonCode != "InvalidURL" || r.Profile != nil {
				t.Errorf("rejected SetNetworkProfile: %+v %v", r, err)
			}
			if p := kept("TYPED"); len(p) != 1 || p[0].CSMSURL != "wss://csms.example/ocpp" {
				t.Errorf("after a refusal: %+v", p)
			}

			// PublishFirmware carries its request id back; the progress is
			// the station's PublishFirmwareStatusNotification.
			const md5 = "0123456789abcdef0123456789abcdef"
			pr, err := command.Do[command.RequestReply](ctx, s, "TYPED", "op", &chargeplanev1.PublishFirmwareRequest{StationId: "TYPED",
				Location: "https://fw.example/v2.bin", Checksum: md5, Retries: i32(3), RetryInterval: i32(60)})
			if err != nil || pr.Status != "Accepted" || pr.RequestID <= 0 {
				t.Fatalf("PublishFirmware: %+v %v", pr, err)
			}
			var pub map[string]any
			if err := json.Unmarshal(c.last(), &pub); err != nil {
				t.Fatal(err)
			}
			if pub["location"] != "https://fw.example/v2.bin" || pub["checksum"] != md5 || pub["retries"] != 3.0 ||
				pub["retryInterval"] != 60.0 || pub["requestId"] != float64(pr.RequestID) {
				t.Errorf("PublishFirmware sent %s", c.last())
			}
			ur, err := command.Do[command.Reply](ctx, s, "TYPED", "op", &chargeplanev1.UnpublishFirmwareRequest{StationId: "TYPED", Checksum: md5})
			if err != nil || ur.Status != "Unpublished" || string(c.last()) != `{"checksum":"`+md5+`"}` {
				t.Errorf("UnpublishFirmware: %+v %v, sent %s", ur, err, c.last())
			}
		})
	}
}
