package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// testGatewayWithWrongSecret: a gateway whose GATEWAY_SECRET the core does
// not accept admits nobody (the core refuses its AdmitConnection, so the
// charger gets 503), while the same station connects through the gateways
// that have the secret. Scale-out only (the embedded gateway calls the
// core in-process).
func testGatewayWithWrongSecret(t *testing.T, sys *system) {
	ctx := testCtx(t)
	id := newStationID("gwsecret")
	sys.rest.createStation(ctx, t, id, "")

	bad := sys.gatewayWithSecret(t, "not-the-gateway-secret-"+strings.Repeat("n", 20))
	_, resp, err := dialRaw(ctx, t, bad.url+id, v16.subprotocol, "", "")
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("charger through a gateway without the secret: %v %v, want 503", resp, err)
	}
	if st := sys.rest.getStation(ctx, t, id); st.Connected {
		t.Fatal("the station is connected through a gateway the core does not trust")
	}

	c := dialCharger(ctx, t, sys, 0, id, v16, "")
	boot(ctx, t, c, v16, "SN-"+id)
	if st := sys.rest.getStation(ctx, t, id); !st.Connected {
		t.Error("the station is not connected through a gateway with the secret")
	}
}
