package ocpp

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// TestTransactionCommands201: GetTransactionStatus and CostUpdated name the
// transaction by the station's id, go out schema-valid, and their answers
// come back the same through the typed operation and the generic call; a
// transaction recorded under another version is refused.
func TestTransactionCommands201(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			st := openStore(t, db)
			ctx := context.Background()
			c := &stationCaller{t: t, v: ocppj.V201, schemas: reg, answers: map[string]string{
				"GetTransactionStatus": `{"messagesInQueue":true,"ongoingIndicator":false}`, "CostUpdated": `{}`,
			}}
			s := tableSender(c, st)
			tx := &store.Transaction{ID: 12, TransactionUID: "TX-12", OCPPVersion: ocppj.V201}

			r, err := command.Do[command.TransactionStatusReply](ctx, s, "CS", "op", command.TransactionStatus{Transaction: tx})
			if err != nil || !r.MessagesInQueue || r.Ongoing == nil || *r.Ongoing || r.CommandID == "" {
				t.Fatalf("GetTransactionStatus = %+v %v", r, err)
			}
			if got := string(c.last()); got != `{"transactionId":"TX-12"}` {
				t.Errorf("sent %s", got)
			}
			if r, err := command.Do[command.TransactionStatusReply](ctx, s, "CS", "op", command.TransactionStatus{}); err != nil ||
				r.Ongoing != nil && string(c.last()) != `{}` {
				t.Errorf("GetTransactionStatus of any = %+v %v, sent %s", r, err, c.last())
			}
			res, err := s.Call(ctx, command.Request{StationID: "CS", Action: "GetTransactionStatus", Payload: json.RawMessage(`{"transactionId":"TX-12"}`)})
			if err != nil || string(res.Payload) != c.answers["GetTransactionStatus"] {
				t.Errorf("generic GetTransactionStatus = %+v %v", res, err)
			}

			if _, err := command.Do[command.Reply](ctx, s, "CS", "op", command.CostUpdate{Transaction: tx, TotalCost: 3.5}); err != nil {
				t.Fatal(err)
			}
			if got := string(c.last()); got != `{"totalCost":3.5,"transactionId":"TX-12"}` {
				t.Errorf("sent %s", got)
			}

			old := &store.Transaction{ID: 13, TransactionUID: "13", OCPPVersion: ocppj.V16}
			var invalid *command.InvalidError
			if _, err := command.Do[command.Reply](ctx, s, "CS", "op", command.CostUpdate{Transaction: old}); !errors.As(err, &invalid) {
				t.Errorf("cost of a 1.6 transaction: %v", err)
			}
		})
	}
}
