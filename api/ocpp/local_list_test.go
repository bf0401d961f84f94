package ocpp

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/operator"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// TestLocalListSplit: the operator's SendLocalList asks the station for
// its limits through the command table, and a list longer than a message
// takes goes in several, each schema-valid and within the limits (items,
// and the bytes a 2.0.1 station states); the store ends holding the whole
// list under the last part's version. A station that refuses the question
// gets the list in one message.
func TestLocalListSplit(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	const tokens, items, bytes = 7, 3, 500
	for _, db := range databases {
		for _, v := range ocppj.Versions {
			t.Run(db+"/"+v.String(), func(t *testing.T) {
				st := openStore(t, db)
				ctx := context.Background()
				if err := st.CreateStation(ctx, &store.Station{ID: "CS"}); err != nil {
					t.Fatal(err)
				}
				exp := testNow.Add(24 * time.Hour)
				for i := range tokens {
					if err := st.CreateIDToken(ctx, &store.IDToken{Value: fmt.Sprintf("TOKEN-%02d", i), ExpiresAt: &exp}); err != nil {
						t.Fatal(err)
					}
				}
				c := &stationCaller{t: t, v: v, schemas: reg, answers: map[string]string{
					"SendLocalList":    `{"status":"Accepted"}`,
					"GetConfiguration": `{"configurationKey":[{"key":"SendLocalListMaxLength","readonly":true,"value":"3"},{"key":"LocalAuthListMaxLength","readonly":true,"value":"100"}]}`,
					"GetVariables": fmt.Sprintf(`{"getVariableResult":[`+
						`{"attributeStatus":"Accepted","attributeValue":"%d","component":{"name":"LocalAuthListCtrlr"},"variable":{"name":"ItemsPerMessage"}},`+
						`{"attributeStatus":"Accepted","attributeValue":"%d","component":{"name":"LocalAuthListCtrlr"},"variable":{"name":"BytesPerMessage"}},`+
						`{"attributeStatus":"UnknownVariable","component":{"name":"LocalAuthListCtrlr"},"variable":{"name":"ItemsPerMessageSendLocalList"}},`+
						`{"attributeStatus":"UnknownVariable","component":{"name":"LocalAuthListCtrlr"},"variable":{"name":"BytesPerMessageSendLocalList"}}]}`, items, bytes),
				}}
				s := tableSender(c, st)
				svc := operator.NewLocalListService(s, st, func() time.Time { return testNow }, quietLogger())

				resp, err := svc.SendLocalList(ctx, &chargeplanev1.SendLocalListRequest{StationId: "CS", UpdateType: "Full"})
				if err != nil {
					t.Fatal(err)
				}
				if resp.GetMessages() < 3 || resp.GetMessages() != resp.GetPlannedMessages() || resp.GetStatus() != "Accepted" ||
					resp.GetUpdated() != tokens || resp.GetVersion() != resp.GetMessages() || resp.GetAcceptedAt() == nil {
					t.Errorf("answer %v", resp)
				}
				var versions []string
				entries := 0
				for i, r := range c.sent {
					if i == 0 {
						if r.Action != map[ocppj.Version]string{ocppj.V16: "GetConfiguration", ocppj.V201: "GetVariables"}[v] {
							t.Errorf("first CALL %s, want the limits question", r.Action)
						}
						continue
					}
					raw := r.Payload.(json.RawMessage)
					var p struct {
						ListVersion, VersionNumber int
						UpdateType                 string
						LocalAuthorizationList     []json.RawMessage
					}
					if err := json.Unmarshal(raw, &p); err != nil || r.Action != "SendLocalList" {
						t.Fatalf("CALL %d: %s %s %v", i, r.Action, raw, err)
					}
					versions = append(versions, fmt.Sprintf("%d %s", p.ListVersion+p.VersionNumber, p.UpdateType))
					if n := len(p.LocalAuthorizationList); n > items || n == 0 {
						t.Errorf("part %d has %d entries, limit %d", i, n, items)
					}
					if v == ocppj.V201 && len(raw) > bytes {
						t.Errorf("part %d is %d bytes, limit %d", i, len(raw), bytes)
					}
					entries += len(p.LocalAuthorizationList)
				}
				if entries != tokens || versions[0] != "1 Full" || versions[1] != "2 Differential" {
					t.Errorf("sent %d entries in %v", entries, versions)
				}
				ver, held, err := st.LocalListState(ctx, "CS")
				if err != nil || ver.Version != len(versions) || ver.Entries != tokens || len(held) != tokens {
					t.Errorf("held version %+v, %d entries %v", ver, len(held), err)
				}

				// A station that refuses the question: one message.
				delete(c.answers, "GetConfiguration")
				delete(c.answers, "GetVariables")
				c.sent = nil
				c.errFor = map[string]error{"GetConfiguration": &command.ChargerError{Code: "NotSupported"},
					"GetVariables": &command.ChargerError{Code: "NotSupported"}}
				resp, err = svc.SendLocalList(ctx, &chargeplanev1.SendLocalListRequest{StationId: "CS", UpdateType: "Full"})
				if err != nil || resp.GetMessages() != 1 || resp.GetUpdated() != tokens || len(c.sent) != 2 {
					t.Errorf("without limits: %v %v, %d CALLs", resp, err, len(c.sent))
				}
			})
		}
	}
}
