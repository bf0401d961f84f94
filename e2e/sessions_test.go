package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chargeplane/chargeplane/pkg/chargepoint"
)

// TestSessions runs complete charging sessions over real sockets, in both
// deployments and both protocol versions, with strict chargers: the
// operator creates id tokens over REST, the chargers authorize, start,
// send meter values and stop, every transaction message is sent twice
// (a retry with a new message id), and the REST API must show each
// session once, with the right energy and exactly one set of samples.
func TestSessions(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t)
			toks := createSessionTokens(testCtx(t), t, sys)
			t.Run("1.6", func(t *testing.T) { testSession16(t, sys, toks) })
			t.Run("2.0.1", func(t *testing.T) { testSession201(t, sys, toks) })
		})
	}
}

// sessionTokens are id token values created over REST for one system.
type sessionTokens struct {
	accepted, blocked, expired, limited, unknown string
}

// apiIDToken is the REST view of chargeplane.v1.IdToken.
type apiIDToken struct {
	ID                    string     `json:"id"`
	Value                 string     `json:"value"`
	Type                  string     `json:"type"`
	Status                string     `json:"status"`
	ExpiresAt             *time.Time `json:"expiresAt"`
	MaxActiveTransactions *int       `json:"maxActiveTransactions"`
}

func createSessionTokens(ctx context.Context, t *testing.T, sys *system) sessionTokens {
	t.Helper()
	// 1.6 idTags are at most 20 characters.
	suffix := strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", "")[:10])
	toks := sessionTokens{
		accepted: "ACC" + suffix,
		blocked:  "BLK" + suffix,
		expired:  "EXP" + suffix,
		limited:  "LIM" + suffix,
		unknown:  "UNK" + suffix,
	}
	create := func(body map[string]any) apiIDToken {
		t.Helper()
		code, _, raw, err := sys.rest.do(ctx, http.MethodPost, "/api/v1/id-tokens", body, true)
		if err != nil || code != http.StatusCreated {
			t.Fatalf("POST /api/v1/id-tokens %v: %d %s %v", body, code, raw, err)
		}
		var tok apiIDToken
		if err := decodeAPI(raw, &tok); err != nil {
			t.Fatalf("id token %s: %v", raw, err)
		}
		if tok.ID == "" || tok.Value != body["value"] {
			t.Fatalf("created id token %+v from %v", tok, body)
		}
		return tok
	}
	create(map[string]any{"value": toks.accepted, "type": "ISO14443"})
	create(map[string]any{"value": toks.blocked, "status": "Blocked"})
	// Accepted as stored, but its expiry has passed: chargers get Expired.
	exp := create(map[string]any{"value": toks.expired, "expiresAt": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)})
	if exp.Status != "Accepted" || exp.ExpiresAt == nil {
		t.Errorf("expired token as created = %+v", exp)
	}
	lim := create(map[string]any{"value": toks.limited, "maxActiveTransactions": 1})
	if lim.MaxActiveTransactions == nil || *lim.MaxActiveTransactions != 1 {
		t.Errorf("limited token as created = %+v", lim)
	}

	// The API refuses what a charger could never send, and duplicates.
	for _, bad := range []struct {
		body map[string]any
		code int
	}{
		{map[string]any{"value": strings.ToLower(toks.accepted)}, http.StatusConflict},
		{map[string]any{"value": strings.Repeat("X", 37)}, http.StatusBadRequest},
		{map[string]any{"value": "OK1", "status": "Maybe"}, http.StatusBadRequest},
		{map[string]any{"value": "OK2", "type": "Magic"}, http.StatusBadRequest},
	} {
		code, _, raw, err := sys.rest.do(ctx, http.MethodPost, "/api/v1/id-tokens", bad.body, true)
		if err != nil || code != bad.code {
			t.Errorf("POST /api/v1/id-tokens %v: %d %s %v, want %d", bad.body, code, raw, err, bad.code)
		}
	}
	return toks
}

// apiTransaction is the REST view of chargeplane.v1.Transaction. The id is
// an int64, which proto3 JSON writes as a string.
type apiTransaction struct {
	ID             string          `json:"id"`
	TransactionUID string          `json:"transactionUid"`
	StationID      string          `json:"stationId"`
	OCPPVersion    string          `json:"ocppVersion"`
	EVSEID         int             `json:"evseId"`
	ConnectorID    int             `json:"connectorId"`
	IDToken        string          `json:"idToken"`
	StopIDToken    string          `json:"stopIdToken"`
	StartedAt      time.Time       `json:"startedAt"`
	StoppedAt      *time.Time      `json:"stoppedAt"`
	MeterStartWh   *float64        `json:"meterStartWh"`
	MeterStopWh    *float64        `json:"meterStopWh"`
	EnergyWh       *float64        `json:"energyWh"`
	Status         string          `json:"status"`
	StopReason     string          `json:"stopReason"`
	Offline        bool            `json:"offline"`
	MeterValues    []apiMeterValue `json:"meterValues"`
}

type apiMeterValue struct {
	Timestamp   time.Time `json:"timestamp"`
	Value       string    `json:"value"`
	ValueWh     *float64  `json:"valueWh"`
	Measurand   string    `json:"measurand"`
	Phase       string    `json:"phase"`
	Unit        string    `json:"unit"`
	Context     string    `json:"context"`
	Location    string    `json:"location"`
	EVSEID      int       `json:"evseId"`
	ConnectorID int       `json:"connectorId"`
}

func listTransactions(ctx context.Context, t *testing.T, sys *system, q url.Values) []apiTransaction {
	t.Helper()
	path := "/api/v1/transactions?" + q.Encode()
	code, _, raw, err := sys.rest.do(ctx, http.MethodGet, path, nil, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", path, code, raw, err)
	}
	var out struct {
		Transactions []apiTransaction `json:"transactions"`
		TotalSize    string           `json:"totalSize"`
	}
	if err := decodeAPI(raw, &out); err != nil {
		t.Fatalf("GET %s: %s: %v", path, raw, err)
	}
	if out.TotalSize != strconv.Itoa(len(out.Transactions)) {
		t.Errorf("GET %s: totalSize %s for %d transactions", path, out.TotalSize, len(out.Transactions))
	}
	return out.Transactions
}

func getTransaction(ctx context.Context, t *testing.T, sys *system, id string) apiTransaction {
	t.Helper()
	code, _, raw, err := sys.rest.do(ctx, http.MethodGet, "/api/v1/transactions/"+id, nil, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/v1/transactions/%s: %d %s %v", id, code, raw, err)
	}
	var tx apiTransaction
	if err := decodeAPI(raw, &tx); err != nil {
		t.Fatalf("transaction %s: %v", raw, err)
	}
	return tx
}

// activeSessions is the station resource's list of sessions in progress.
func activeSessions(ctx context.Context, t *testing.T, sys *system, station string) []string {
	t.Helper()
	code, _, raw, err := sys.rest.do(ctx, http.MethodGet, "/api/v1/stations/"+station, nil, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/v1/stations/%s: %d %s %v", station, code, raw, err)
	}
	var st struct {
		ActiveTransactions []struct {
			ID string `json:"id"`
		} `json:"activeTransactions"`
	}
	if err := decodeAPI(raw, &st); err != nil {
		t.Fatalf("station %s: %v", raw, err)
	}
	var ids []string
	for _, a := range st.ActiveTransactions {
		ids = append(ids, a.ID)
	}
	return ids
}

// twice sends a transaction message and its retry (the same payload under
// a new message id, as a charger does after a lost answer); both answers
// must agree. It returns the first.
func twice[R any](ctx context.Context, t *testing.T, c *chargepoint.Client, action string, req any) R {
	t.Helper()
	var first, retry R
	if err := call(ctx, c, action, req, &first); err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	if err := call(ctx, c, action, req, &retry); err != nil {
		t.Fatalf("%s retry: %v", action, err)
	}
	a, _ := json.Marshal(first)
	b, _ := json.Marshal(retry)
	if string(a) != string(b) {
		t.Errorf("%s retry answered %s, first %s", action, b, a)
	}
	return first
}

func wantEnergy(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil || *got != want {
		g := "unset"
		if got != nil {
			g = strconv.FormatFloat(*got, 'f', -1, 64)
		}
		t.Errorf("%s = %s, want %v", what, g, want)
	}
}

// checkSamples compares a transaction's samples with the expected
// (measurand/unit/value → Wh, or -1 for none) and refuses duplicates.
func checkSamples(t *testing.T, tx apiTransaction, want map[string]float64) {
	t.Helper()
	got := map[string]int{}
	for _, m := range tx.MeterValues {
		key := m.Measurand + "/" + m.Unit + "/" + m.Value
		got[key]++
		w, ok := want[key]
		switch {
		case !ok:
			t.Errorf("unexpected sample %+v", m)
		case w < 0 && m.ValueWh != nil:
			t.Errorf("sample %s has valueWh %v, want none", key, *m.ValueWh)
		case w >= 0:
			wantEnergy(t, "valueWh of "+key, m.ValueWh, w)
		}
	}
	for key := range want {
		if got[key] != 1 {
			t.Errorf("sample %s stored %d times, want once (all: %+v)", key, got[key], tx.MeterValues)
		}
	}
	if len(tx.MeterValues) != len(want) {
		t.Errorf("%d samples, want %d", len(tx.MeterValues), len(want))
	}
}

type idTagInfo16 struct {
	Status     string     `json:"status"`
	ExpiryDate *time.Time `json:"expiryDate"`
}

func testSession16(t *testing.T, sys *system, toks sessionTokens) {
	ctx := testCtx(t)
	id := newStationID("ses16")
	sys.rest.createStation(ctx, t, id, "")
	c := dialCharger(ctx, t, sys, v16.index, id, v16, "")
	boot(ctx, t, c, v16, "SN-"+id)

	for tag, want := range map[string]string{
		toks.accepted: "Accepted",
		toks.blocked:  "Blocked",
		toks.expired:  "Expired",
		toks.unknown:  "Invalid",
		// Tokens match whatever the case (idTag is a CiString).
		strings.ToLower(toks.accepted): "Accepted",
	} {
		var resp struct {
			IDTagInfo idTagInfo16 `json:"idTagInfo"`
		}
		if err := call(ctx, c, "Authorize", map[string]any{"idTag": tag}, &resp); err != nil {
			t.Fatalf("Authorize %s: %v", tag, err)
		}
		if resp.IDTagInfo.Status != want {
			t.Errorf("Authorize %s = %s, want %s", tag, resp.IDTagInfo.Status, want)
		}
	}

	at := time.Now().UTC().Truncate(time.Second).Add(-10 * time.Minute)
	ts := func(d time.Duration) string { return at.Add(d).Format(time.RFC3339) }
	type startResp struct {
		TransactionID int         `json:"transactionId"`
		IDTagInfo     idTagInfo16 `json:"idTagInfo"`
	}
	if err := call(ctx, c, "StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": ts(0)}, nil); err != nil {
		t.Fatalf("StatusNotification: %v", err)
	}
	start := twice[startResp](ctx, t, c, "StartTransaction",
		map[string]any{"connectorId": 1, "idTag": toks.accepted, "meterStart": 10000, "timestamp": ts(0)})
	if start.TransactionID <= 0 || start.IDTagInfo.Status != "Accepted" {
		t.Fatalf("StartTransaction = %+v", start)
	}
	txID := strconv.Itoa(start.TransactionID)
	if err := call(ctx, c, "StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": ts(time.Second)}, nil); err != nil {
		t.Fatalf("StatusNotification: %v", err)
	}
	if got := activeSessions(ctx, t, sys, id); len(got) != 1 || got[0] != txID {
		t.Errorf("active sessions while charging = %v, want [%s]", got, txID)
	}

	// A token limited to one session is refused a second one while in use.
	limited := twice[startResp](ctx, t, c, "StartTransaction",
		map[string]any{"connectorId": 2, "idTag": toks.limited, "meterStart": 0, "timestamp": ts(5 * time.Second)})
	if limited.IDTagInfo.Status != "Accepted" {
		t.Errorf("first session of the limited token: %+v", limited)
	}
	var auth struct {
		IDTagInfo idTagInfo16 `json:"idTagInfo"`
	}
	if err := call(ctx, c, "Authorize", map[string]any{"idTag": toks.limited}, &auth); err != nil {
		t.Fatal(err)
	}
	if auth.IDTagInfo.Status != "ConcurrentTx" {
		t.Errorf("Authorize of a token at its limit = %s, want ConcurrentTx", auth.IDTagInfo.Status)
	}

	meter := map[string]any{
		"connectorId":   1,
		"transactionId": start.TransactionID,
		"meterValue": []any{
			map[string]any{"timestamp": ts(time.Minute), "sampledValue": []any{
				map[string]any{"value": "10500", "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": "Sample.Periodic", "location": "Outlet"},
				map[string]any{"value": "16.0", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
			}},
			// No measurand: the default, the energy register; in kWh.
			map[string]any{"timestamp": ts(2 * time.Minute), "sampledValue": []any{
				map[string]any{"value": "11.2", "unit": "kWh"},
			}},
		},
	}
	twice[struct{}](ctx, t, c, "MeterValues", meter)
	// Energy so far, from the latest register sample.
	if txs := listTransactions(ctx, t, sys, url.Values{"stationId": {id}, "active": {"true"}}); len(txs) != 2 {
		t.Errorf("active sessions = %+v, want 2", txs)
	} else {
		for _, tx := range txs {
			if tx.ID == txID {
				wantEnergy(t, "energy while charging", tx.EnergyWh, 1200)
			}
		}
	}

	stop := twice[struct {
		IDTagInfo *idTagInfo16 `json:"idTagInfo"`
	}](ctx, t, c, "StopTransaction", map[string]any{
		"transactionId": start.TransactionID, "idTag": toks.accepted, "meterStop": 12500,
		"timestamp": ts(3 * time.Minute), "reason": "EVDisconnected",
		"transactionData": []any{map[string]any{"timestamp": ts(3 * time.Minute), "sampledValue": []any{
			map[string]any{"value": "12500", "context": "Transaction.End", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
		}}},
	})
	if stop.IDTagInfo == nil || stop.IDTagInfo.Status != "Accepted" {
		t.Errorf("StopTransaction with an idTag: idTagInfo %+v, want Accepted", stop.IDTagInfo)
	}
	if err := call(ctx, c, "StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": ts(3*time.Minute + time.Second)}, nil); err != nil {
		t.Fatalf("StatusNotification: %v", err)
	}

	byToken := listTransactions(ctx, t, sys, url.Values{"stationId": {id}, "idToken": {toks.accepted}})
	if len(byToken) != 1 {
		t.Fatalf("transactions of %s on %s = %+v, want exactly one (retries must not add any)", toks.accepted, id, byToken)
	}
	tx := byToken[0]
	if tx.ID != txID || tx.TransactionUID != txID || tx.StationID != id || tx.OCPPVersion != "1.6" || tx.ConnectorID != 1 ||
		tx.Status != "Ended" || tx.StopReason != "EVDisconnected" || tx.StopIDToken != toks.accepted ||
		!tx.StartedAt.Equal(at) || tx.StoppedAt == nil || !tx.StoppedAt.Equal(at.Add(3*time.Minute)) {
		t.Errorf("listed 1.6 session = %+v", tx)
	}
	wantEnergy(t, "meterStartWh", tx.MeterStartWh, 10000)
	wantEnergy(t, "meterStopWh", tx.MeterStopWh, 12500)
	wantEnergy(t, "energyWh (stop − start)", tx.EnergyWh, 2500)

	full := getTransaction(ctx, t, sys, txID)
	wantEnergy(t, "energyWh of GET", full.EnergyWh, 2500)
	checkSamples(t, full, map[string]float64{
		"Energy.Active.Import.Register/Wh/10500": 10500,
		"Current.Import/A/16.0":                  -1,
		"Energy.Active.Import.Register/kWh/11.2": 11200,
		"Energy.Active.Import.Register/Wh/12500": 12500,
	})
	for _, m := range full.MeterValues {
		if m.ConnectorID != 1 || m.Location != "Outlet" || m.Context == "" {
			t.Errorf("sample %+v: want connector 1, defaults written out", m)
		}
		if m.Measurand == "Current.Import" && m.Phase != "L1" {
			t.Errorf("current sample lost its phase: %+v", m)
		}
	}

	if got := activeSessions(ctx, t, sys, id); len(got) != 1 || got[0] != strconv.Itoa(limited.TransactionID) {
		t.Errorf("active sessions after the stop = %v, want only the limited token's %d", got, limited.TransactionID)
	}
	ended := listTransactions(ctx, t, sys, url.Values{"stationId": {id}, "active": {"false"}})
	if len(ended) != 1 || ended[0].ID != txID {
		t.Errorf("ended sessions = %+v", ended)
	}
	heartbeat(ctx, t, c)
}

type idTokenInfo201 struct {
	Status string `json:"status"`
}

func testSession201(t *testing.T, sys *system, toks sessionTokens) {
	ctx := testCtx(t)
	id := newStationID("ses201")
	sys.rest.createStation(ctx, t, id, "")
	c := dialCharger(ctx, t, sys, v201.index, id, v201, "")
	boot(ctx, t, c, v201, "SN-"+id)

	for tok, want := range map[string]string{
		toks.accepted: "Accepted",
		toks.blocked:  "Blocked",
		toks.expired:  "Expired",
		toks.unknown:  "Unknown",
	} {
		var resp struct {
			IDTokenInfo idTokenInfo201 `json:"idTokenInfo"`
		}
		if err := call(ctx, c, "Authorize", map[string]any{"idToken": map[string]any{"idToken": tok, "type": "ISO14443"}}, &resp); err != nil {
			t.Fatalf("Authorize %s: %v", tok, err)
		}
		if resp.IDTokenInfo.Status != want {
			t.Errorf("Authorize %s = %s, want %s", tok, resp.IDTokenInfo.Status, want)
		}
	}

	at := time.Now().UTC().Truncate(time.Second).Add(-10 * time.Minute)
	ts := func(d time.Duration) string { return at.Add(d).Format(time.RFC3339) }
	uid := uuid.NewString() // 2.0.1 transactionId: at most 36 characters
	event := func(kind string, seq int, trigger string, d time.Duration, samples ...map[string]any) map[string]any {
		ev := map[string]any{
			"eventType":       kind,
			"timestamp":       ts(d),
			"triggerReason":   trigger,
			"seqNo":           seq,
			"transactionInfo": map[string]any{"transactionId": uid, "chargingState": "Charging"},
			"evse":            map[string]any{"id": 1, "connectorId": 1},
		}
		if len(samples) > 0 {
			sv := make([]any, len(samples))
			for i := range samples {
				sv[i] = samples[i]
			}
			ev["meterValue"] = []any{map[string]any{"timestamp": ts(d), "sampledValue": sv}}
		}
		return ev
	}
	type txResp struct {
		IDTokenInfo *idTokenInfo201 `json:"idTokenInfo"`
	}

	started := event("Started", 0, "Authorized", 0,
		map[string]any{"value": 20000, "context": "Transaction.Begin", "measurand": "Energy.Active.Import.Register", "unitOfMeasure": map[string]any{"unit": "Wh"}})
	started["idToken"] = map[string]any{"idToken": toks.accepted, "type": "ISO14443"}
	r := twice[txResp](ctx, t, c, "TransactionEvent", started)
	if r.IDTokenInfo == nil || r.IDTokenInfo.Status != "Accepted" {
		t.Errorf("Started with an idToken: idTokenInfo %+v, want Accepted", r.IDTokenInfo)
	}

	updated := event("Updated", 1, "MeterValuePeriodic", time.Minute,
		// The default measurand, in kWh.
		map[string]any{"value": 20.6, "unitOfMeasure": map[string]any{"unit": "kWh"}},
		map[string]any{"value": 16, "measurand": "Current.Import", "phase": "L1", "unitOfMeasure": map[string]any{"unit": "A"}})
	// Queued while the station was offline.
	updated["offline"] = true
	if r := twice[txResp](ctx, t, c, "TransactionEvent", updated); r.IDTokenInfo != nil {
		t.Errorf("Updated without an idToken answered idTokenInfo %+v", r.IDTokenInfo)
	}
	if got := activeSessions(ctx, t, sys, id); len(got) != 1 {
		t.Errorf("active sessions while charging = %v, want one", got)
	}

	ended := event("Ended", 2, "EVCommunicationLost", 2*time.Minute,
		map[string]any{"value": 21500, "context": "Transaction.End"})
	ended["transactionInfo"] = map[string]any{"transactionId": uid, "stoppedReason": "EVDisconnected", "chargingState": "Idle"}
	twice[txResp](ctx, t, c, "TransactionEvent", ended)

	// A token that may not charge still gets its transaction recorded, and
	// the answer tells the station to stop.
	blockedUID := uuid.NewString()
	blocked := event("Started", 0, "Authorized", 5*time.Minute)
	blocked["transactionInfo"] = map[string]any{"transactionId": blockedUID}
	blocked["evse"] = map[string]any{"id": 2, "connectorId": 1}
	blocked["idToken"] = map[string]any{"idToken": toks.blocked, "type": "ISO14443"}
	if r := twice[txResp](ctx, t, c, "TransactionEvent", blocked); r.IDTokenInfo == nil || r.IDTokenInfo.Status != "Blocked" {
		t.Errorf("Started with a blocked token: idTokenInfo %+v, want Blocked", r.IDTokenInfo)
	}

	txs := listTransactions(ctx, t, sys, url.Values{"stationId": {id}})
	if len(txs) != 2 {
		t.Fatalf("transactions of %s = %+v, want two (retries must not add any)", id, txs)
	}
	var tx apiTransaction
	for _, x := range txs {
		if x.TransactionUID == uid {
			tx = x
		}
	}
	if tx.ID == "" || tx.StationID != id || tx.OCPPVersion != "2.0.1" || tx.EVSEID != 1 || tx.ConnectorID != 1 ||
		tx.IDToken != toks.accepted || tx.Status != "Ended" || tx.StopReason != "EVDisconnected" || !tx.Offline ||
		!tx.StartedAt.Equal(at) || tx.StoppedAt == nil || !tx.StoppedAt.Equal(at.Add(2*time.Minute)) {
		t.Errorf("listed 2.0.1 session = %+v", tx)
	}
	wantEnergy(t, "meterStartWh", tx.MeterStartWh, 20000)
	wantEnergy(t, "meterStopWh", tx.MeterStopWh, 21500)
	wantEnergy(t, "energyWh (stop − start)", tx.EnergyWh, 1500)

	full := getTransaction(ctx, t, sys, tx.ID)
	checkSamples(t, full, map[string]float64{
		"Energy.Active.Import.Register/Wh/20000": 20000,
		"Energy.Active.Import.Register/kWh/20.6": 20600,
		"Current.Import/A/16":                    -1,
		"Energy.Active.Import.Register/Wh/21500": 21500,
	})
	for _, m := range full.MeterValues {
		if m.EVSEID != 1 || m.ConnectorID != 1 {
			t.Errorf("sample %+v: want evse 1 connector 1", m)
		}
	}

	if got := activeSessions(ctx, t, sys, id); len(got) != 1 {
		t.Errorf("active sessions after the end = %v, want only the blocked token's", got)
	} else if act := getTransaction(ctx, t, sys, got[0]); act.TransactionUID != blockedUID || act.IDToken != toks.blocked || act.EVSEID != 2 {
		t.Errorf("remaining active session = %+v", act)
	}
	heartbeat(ctx, t, c)
}
