package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestCustomerInformation: over REST, in both deployments, a customer's
// data is asked of a strict 2.0.1 charger (the CustomerInformation it gets
// is checked against its schema) and of the CSMS in one request: the
// answer carries the CSMS's export (the token and the session charged
// with it); the token is gone and the session keeps its energy under a
// pseudonym; the station's report, sent in two parts, is the request's
// result; the request is in the audit trail; a request naming nobody is
// refused before anything is sent.
func TestCustomerInformation(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t)
			ctx := testCtx(t)
			c := dialCtlCharger(ctx, t, sys, v201, "gdpr")
			c.answerWith(func(string, json.RawMessage) (any, error) { return map[string]any{"status": "Accepted"}, nil })
			tok := "C" + strings.ToUpper(uuid.NewString()[:8])
			if code, out := ctlREST(ctx, t, sys, "POST", "/api/v1/id-tokens", map[string]any{"value": tok, "type": "ISO14443"}); code != http.StatusCreated {
				t.Fatalf("create token: %d %v", code, out)
			}

			start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			txID := "TX-" + uuid.NewString()[:18]
			for seq, ev := range []struct {
				typ string
				kwh float64
			}{{"Started", 10}, {"Ended", 16}} {
				at := start.Add(time.Duration(seq) * time.Minute).Format(time.RFC3339)
				req := map[string]any{"eventType": ev.typ, "timestamp": at, "triggerReason": "Authorized", "seqNo": seq,
					"transactionInfo": map[string]any{"transactionId": txID}, "evse": map[string]any{"id": 1, "connectorId": 1},
					"meterValue": []any{map[string]any{"timestamp": at, "sampledValue": []any{
						map[string]any{"value": ev.kwh, "unitOfMeasure": map[string]any{"unit": "kWh"}}}}}}
				if seq == 0 {
					req["idToken"] = map[string]any{"idToken": tok, "type": "ISO14443"}
				}
				if err := call(ctx, c.Client, "TransactionEvent", req, &map[string]any{}); err != nil {
					t.Fatal(err)
				}
			}

			base := "/api/v1/stations/" + c.id + "/customer-information"
			code, out := ctlREST(ctx, t, sys, "POST", base, map[string]any{"requestId": 17, "report": true, "clear": true,
				"idToken": tok, "exportCsmsData": true, "clearCsmsData": true})
			if code != http.StatusOK || out["status"] != "Accepted" {
				t.Fatalf("customer information: %d %v", code, out)
			}
			if rc := c.next(ctx, t); rc.action != "CustomerInformation" || !ctlSameJSON(t, rc.payload, map[string]any{"requestId": 17,
				"report": true, "clear": true, "idToken": map[string]any{"idToken": tok, "type": "ISO14443"}}) {
				t.Errorf("charger received %s %s", rc.action, rc.payload)
			}
			res, _ := out["result"].(map[string]any)
			pseudonym, _ := res["idToken"].(string)
			if !strings.HasPrefix(pseudonym, "erased-") || res["tokensDeleted"] != float64(1) || res["sessionsPseudonymised"] != float64(1) {
				t.Errorf("result %v", res)
			}
			export, _ := res["csmsData"].(map[string]any)
			toks, _ := export["idTokens"].([]any)
			txs, _ := export["transactions"].([]any)
			if len(toks) != 1 || toks[0].(map[string]any)["value"] != tok || len(txs) != 1 {
				t.Fatalf("export %v", export)
			}
			session := txs[0].(map[string]any)
			if session["transactionId"] != txID || session["energyWh"] != float64(6000) {
				t.Errorf("exported session %v", session)
			}

			// The CSMS no longer knows the token; the session is billed all the same.
			if code, out := ctlREST(ctx, t, sys, "GET", "/api/v1/transactions?idToken="+tok, nil); code != http.StatusOK || len(out["transactions"].([]any)) != 0 {
				t.Errorf("sessions of the erased token: %d %v", code, out)
			}
			code, tx := ctlREST(ctx, t, sys, "GET", fmt.Sprintf("/api/v1/transactions/%v", session["id"]), nil)
			if code != http.StatusOK || tx["idToken"] != pseudonym || tx["energyWh"] != float64(6000) {
				t.Errorf("the session after erasure: %d %v", code, tx)
			}
			code, out = ctlREST(ctx, t, sys, "GET", "/api/v1/id-tokens", nil)
			if code != http.StatusOK || strings.Contains(fmt.Sprint(out), tok) {
				t.Errorf("id tokens after erasure: %d %v", code, out)
			}

			for i, part := range []map[string]any{
				{"requestId": 17, "seqNo": 0, "tbc": true, "generatedAt": start.Format(time.RFC3339), "data": "card " + tok + ": "},
				{"requestId": 17, "seqNo": 1, "generatedAt": start.Format(time.RFC3339), "data": "1 session, cleared"},
			} {
				if err := call(ctx, c.Client, "NotifyCustomerInformation", part, &map[string]any{}); err != nil {
					t.Fatalf("NotifyCustomerInformation part %d: %v", i, err)
				}
			}
			code, got := ctlREST(ctx, t, sys, "GET", base+"/17", nil)
			res, _ = got["result"].(map[string]any)
			if code != http.StatusOK || res["stationReportComplete"] != true || res["stationReport"] != "card "+tok+": 1 session, cleared" ||
				res["status"] != "Accepted" || res["csmsData"] != nil || res["idToken"] != pseudonym {
				t.Errorf("the request's result: %d %v", code, got)
			}
			if code, list := ctlREST(ctx, t, sys, "GET", base, nil); code != http.StatusOK || list["total"] != "1" {
				t.Errorf("requests: %d %v", code, list)
			}

			code, audit := ctlREST(ctx, t, sys, "GET", "/api/v1/audit?stationId="+c.id, nil)
			recs, _ := audit["records"].([]any)
			found := false
			for _, r := range recs {
				if r := r.(map[string]any); r["method"] == "CustomerInformationService/CustomerInformation" && r["outcome"] == "ok" {
					found = true
				}
			}
			if code != http.StatusOK || !found {
				t.Errorf("audit trail: %d %v", code, audit)
			}

			for _, bad := range []map[string]any{{"report": true}, {"idToken": tok}, {"report": true, "customerIdentifier": "x", "clearCsmsData": true}} {
				if code, out := ctlREST(ctx, t, sys, "POST", base, bad); code != http.StatusBadRequest {
					t.Errorf("bad %v: %d %v", bad, code, out)
				}
			}
			if code, out := ctlREST(ctx, t, sys, "POST", base, map[string]any{"requestId": 17, "report": true, "customerIdentifier": "x"}); code != http.StatusConflict {
				t.Errorf("request id used again: %d %v", code, out)
			}
			c.none(t)
		})
	}
}
