package e2e

import (
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/credentials"
	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/api/pki/pkitest"
	"github.com/chargeplane/chargeplane/pkg/chargepoint"
)

// TestSecurityCommands drives the certificate commands, the password
// rotation and the 1.6 security whitepaper's firmware update over REST to
// strict chargers (every CALL schema-checked), in both deployments and
// both versions.
func TestSecurityCommands(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t)
			for _, v := range versions {
				t.Run("Certificates/"+v.name, func(t *testing.T) { testCertificateCommands(t, sys, v) })
				t.Run("PasswordRotation/"+v.name, func(t *testing.T) { testPasswordRotation(t, sys, v) })
			}
			t.Run("SignedFirmware/1.6", func(t *testing.T) { testSignedFirmware16(t, sys) })
		})
	}
}

type apiInstalled struct {
	CertificateType string `json:"certificateType"`
	HashData        struct {
		HashAlgorithm  string `json:"hashAlgorithm"`
		IssuerNameHash string `json:"issuerNameHash"`
		IssuerKeyHash  string `json:"issuerKeyHash"`
		SerialNumber   string `json:"serialNumber"`
	} `json:"hashData"`
}

func listInstalled(ctx context.Context, t *testing.T, c *opsCharger, sys *system) []apiInstalled {
	t.Helper()
	out := c.apiOK(ctx, t, sys, http.MethodGet, "/certificates/installed", nil)
	var l struct {
		Certificates []apiInstalled `json:"certificates"`
	}
	b, _ := json.Marshal(out)
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	return l.Certificates
}

func testCertificateCommands(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	c := dialOpsCharger(ctx, t, sys, v, "certcmd")
	is16 := v.name == "1.6"
	rootType := "CSMSRootCertificate"
	if is16 {
		rootType = "CentralSystemRootCertificate"
	}
	root := pkitest.NewRoot(t, "Installed Root", time.Time{}, time.Time{})
	rootHash, err := pki.CertificateHashData(root.Cert, root.Cert, "SHA256")
	if err != nil {
		t.Fatal(err)
	}

	// InstallCertificate: sent as given, and the accepted root joins the
	// inventory.
	c.answer("InstallCertificate", map[string]any{"status": "Accepted"})
	resp := c.apiOK(ctx, t, sys, http.MethodPost, "/certificates/install",
		map[string]any{"certificateType": rootType, "certificate": string(root.CertPEM())})
	got := c.next(ctx, t, "InstallCertificate")
	if got["certificateType"] != rootType || got["certificate"] != string(root.CertPEM()) || resp["status"] != "Accepted" {
		t.Errorf("InstallCertificate sent %v, answered %v", got, resp)
	}
	inv := listInstalled(ctx, t, c, sys)
	if len(inv) != 1 || inv[0].CertificateType != rootType || inv[0].HashData.SerialNumber != rootHash.SerialNumber ||
		inv[0].HashData.IssuerKeyHash != rootHash.IssuerKeyHash {
		t.Errorf("inventory after install %+v, want the root %+v", inv, rootHash)
	}
	if code, out := c.api(ctx, t, sys, http.MethodPost, "/certificates/install", map[string]any{"certificateType": rootType, "certificate": "junk"}); code != http.StatusBadRequest {
		t.Errorf("install of junk: %d %v", code, out)
	}
	c.nothingSent(t)

	// GetInstalledCertificateIds: the answer becomes the inventory of the
	// type asked for.
	other := map[string]any{"hashAlgorithm": "SHA256", "issuerNameHash": strings.Repeat("ab", 32), "issuerKeyHash": strings.Repeat("cd", 32), "serialNumber": "7f"}
	if is16 {
		c.answer("GetInstalledCertificateIds", map[string]any{"status": "Accepted", "certificateHashData": []any{other}})
	} else {
		c.answer("GetInstalledCertificateIds", map[string]any{"status": "Accepted",
			"certificateHashDataChain": []any{map[string]any{"certificateType": rootType, "certificateHashData": other}}})
	}
	resp = c.apiOK(ctx, t, sys, http.MethodPost, "/certificates/installed/refresh", map[string]any{"certificateTypes": []string{rootType}})
	got = c.next(ctx, t, "GetInstalledCertificateIds")
	if is16 && got["certificateType"] != rootType || !is16 && fmt.Sprint(got["certificateType"]) != "["+rootType+"]" {
		t.Errorf("GetInstalledCertificateIds sent %v", got)
	}
	if certs, _ := resp["certificates"].([]any); resp["status"] != "Accepted" || len(certs) != 1 {
		t.Errorf("refresh answered %v", resp)
	}
	inv = listInstalled(ctx, t, c, sys)
	if len(inv) != 1 || inv[0].HashData.SerialNumber != "7f" {
		t.Errorf("inventory after refresh %+v, want only the reported certificate", inv)
	}
	if is16 {
		// 1.6 asks for exactly one type.
		if code, out := c.api(ctx, t, sys, http.MethodPost, "/certificates/installed/refresh", map[string]any{}); code != http.StatusBadRequest {
			t.Errorf("1.6 refresh without a type: %d %v", code, out)
		}
		c.nothingSent(t)
	}

	// DeleteCertificate by the inventory's hash data.
	c.answer("DeleteCertificate", map[string]any{"status": "Accepted"})
	resp = c.apiOK(ctx, t, sys, http.MethodPost, "/certificates/delete", map[string]any{"hashData": other})
	got = c.next(ctx, t, "DeleteCertificate")
	if field(got, "certificateHashData", "serialNumber") != "7f" || resp["status"] != "Accepted" {
		t.Errorf("DeleteCertificate sent %v answered %v", got, resp)
	}
	if inv := listInstalled(ctx, t, c, sys); len(inv) != 0 {
		t.Errorf("inventory after delete %+v", inv)
	}

	// Renewal on demand: the version's trigger for a new CSR.
	trigger, msg := "TriggerMessage", "SignChargingStationCertificate"
	if is16 {
		trigger, msg = "ExtendedTriggerMessage", "SignChargePointCertificate"
	}
	c.answer(trigger, map[string]any{"status": "Accepted"})
	code, out := c.api(ctx, t, sys, http.MethodPost, "/certificates/renew", map[string]any{})
	if sys.mode == "scaleout" {
		// This scale-out system has no CA_CERT_FILE: the CSR would be
		// rejected, so the renewal is refused before anything is sent.
		if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["message"]), "no certificate authority") {
			t.Errorf("renew without a CA: %d %v", code, out)
		}
		c.nothingSent(t)
	} else {
		if code != http.StatusOK || out["status"] != "Accepted" {
			t.Errorf("renew: %d %v", code, out)
		}
		if got := c.next(ctx, t, trigger); got["requestedMessage"] != msg {
			t.Errorf("%s sent %v, want %s", trigger, got, msg)
		}
	}

	// CertificateSigned with the operator's chain: only one for this station.
	key := pkitest.Key(t, "p256")
	wrong := root.Leaf(t, pkix.Name{CommonName: "someone-else"}, key.Public(), time.Time{})
	if code, out := c.api(ctx, t, sys, http.MethodPost, "/certificates/signed",
		map[string]any{"certificateChain": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: wrong.Raw}))}); code != http.StatusBadRequest {
		t.Errorf("another station's certificate: %d %v", code, out)
	}
	c.nothingSent(t)
	leaf := root.Leaf(t, pkix.Name{CommonName: c.id}, key.Public(), time.Time{})
	chain := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})) + string(root.CertPEM())
	c.answer("CertificateSigned", map[string]any{"status": "Accepted"})
	resp = c.apiOK(ctx, t, sys, http.MethodPost, "/certificates/signed", map[string]any{"certificateChain": chain})
	if got := c.next(ctx, t, "CertificateSigned"); got["certificateChain"] != chain || resp["status"] != "Accepted" {
		t.Errorf("CertificateSigned sent %v answered %v", got, resp)
	}
}

// testPasswordRotation: the station takes a new password, reconnects with
// it, and the old one is refused from then on; the password is nowhere in
// the command history or the message log.
func testPasswordRotation(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	id := newStationID("rotate")
	const oldPassword = "old-password-0123"
	sys.rest.createStation(ctx, t, id, oldPassword)
	is16 := v.name == "1.6"

	// A charger that takes the password it is sent, as a real one does,
	// and (against the spec, as some do) reports it when asked.
	newPassword := make(chan string, 1)
	var current atomic.Value
	current.Store(oldPassword)
	dial := func(password string) (*chargepoint.Client, error) {
		return chargepoint.Dial(ctx, sys.gateway(v.index)+id, chargepoint.Options{
			Subprotocols: []string{v.subprotocol}, Schemas: sys.schemas, Compress: !is16,
			Username: id, Password: password,
			OnCall: func(_ context.Context, action string, payload json.RawMessage) (any, error) {
				pw := current.Load().(string)
				switch action {
				case "GetConfiguration":
					return map[string]any{"configurationKey": []any{map[string]any{"key": "AuthorizationKey", "readonly": false, "value": credentials.AuthorizationKey(pw)}}}, nil
				case "GetVariables":
					return map[string]any{"getVariableResult": []any{map[string]any{"attributeStatus": "Accepted", "attributeValue": pw,
						"component": map[string]any{"name": "SecurityCtrlr"}, "variable": map[string]any{"name": "BasicAuthPassword"}}}}, nil
				}
				if is16 && action == "ChangeConfiguration" {
					var p struct{ Key, Value string }
					_ = json.Unmarshal(payload, &p)
					pw, err := credentials.FromAuthorizationKey(p.Value)
					if p.Key != "AuthorizationKey" || err != nil {
						t.Errorf("ChangeConfiguration %s: %v", payload, err)
						return map[string]any{"status": "Rejected"}, nil
					}
					current.Store(pw)
					newPassword <- pw
					return map[string]any{"status": "Accepted"}, nil
				}
				if !is16 && action == "SetVariables" {
					var p struct {
						SetVariableData []struct {
							AttributeValue string `json:"attributeValue"`
							Component      struct {
								Name string `json:"name"`
							} `json:"component"`
							Variable struct {
								Name string `json:"name"`
							} `json:"variable"`
						} `json:"setVariableData"`
					}
					_ = json.Unmarshal(payload, &p)
					d := p.SetVariableData[0]
					if len(p.SetVariableData) != 1 || d.Component.Name != "SecurityCtrlr" || d.Variable.Name != "BasicAuthPassword" {
						t.Errorf("SetVariables %s", payload)
					}
					current.Store(d.AttributeValue)
					newPassword <- d.AttributeValue
					return map[string]any{"setVariableResult": []any{map[string]any{"attributeStatus": "Accepted",
						"component": map[string]any{"name": "SecurityCtrlr"}, "variable": map[string]any{"name": "BasicAuthPassword"}}}}, nil
				}
				return nil, &chargepoint.CallError{Code: "NotSupported"}
			},
		})
	}
	c, err := dial(oldPassword)
	if err != nil {
		t.Fatalf("connect with the first password: %v", err)
	}
	boot(ctx, t, c, v, "SN-"+id)

	// The generic call cannot set the password behind the CSMS's back.
	gen := map[string]any{"action": "ChangeConfiguration", "payload": map[string]any{"key": "AuthorizationKey", "value": credentials.AuthorizationKey("sneaky-password-01")}}
	if !is16 {
		gen = map[string]any{"action": "SetVariables", "payload": map[string]any{"setVariableData": []any{map[string]any{
			"component": map[string]any{"name": "SecurityCtrlr"}, "variable": map[string]any{"name": "BasicAuthPassword"}, "attributeValue": "sneaky-password-01"}}}}
	}
	if code, _, body, _ := sys.rest.do(ctx, http.MethodPost, "/api/v1/stations/"+id+"/call", gen, true); code != http.StatusBadRequest {
		t.Errorf("generic call setting the password: %d %s, want 400", code, body)
	}

	code, _, body, err := sys.rest.do(ctx, http.MethodPost, "/api/v1/stations/"+id+"/password/rotate", map[string]any{}, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("rotate: %d %s %v", code, body, err)
	}
	var rot struct {
		Status   string `json:"status"`
		Rotation string `json:"rotation"`
	}
	_ = decodeAPI(body, &rot)
	if rot.Status != "Accepted" || rot.Rotation != "switched" {
		t.Errorf("rotate answered %s", body)
	}
	var pw string
	select {
	case pw = <-newPassword:
	case <-ctx.Done():
		t.Fatal("the station got no password")
	}
	if credentials.CheckPassword(pw) != nil || pw == oldPassword || strings.Contains(string(body), pw) {
		t.Errorf("new password %q (answer %s)", pw, body)
	}

	// Until the station reconnects with the new one, the old one works.
	old, err := dial(oldPassword)
	if err != nil {
		t.Fatalf("the old password was refused before the station switched: %v", err)
	}
	_ = old.Close()
	_ = c.Close()
	fresh, err := dial(pw)
	if err != nil {
		t.Fatalf("reconnect with the new password: %v", err)
	}
	heartbeat(ctx, t, fresh)
	t.Cleanup(func() { _ = fresh.Close() })
	eventually(t, "old password refused", func() (bool, string) {
		_, err := dial(oldPassword)
		var he *chargepoint.HandshakeError
		return errors.As(err, &he) && he.StatusCode == http.StatusUnauthorized, fmt.Sprintf("dial with the old password: %v", err)
	})

	// The typed configuration API rotates too (names in any case, as
	// chargers compare them) instead of only telling the station.
	const typedPassword = "typed-password-0123"
	path, req := "/configuration", any(map[string]any{"key": "authorizationkey", "value": credentials.AuthorizationKey(typedPassword)})
	if !is16 {
		path, req = "/variables/set", map[string]any{"variables": []any{map[string]any{
			"component": map[string]any{"name": "securityctrlr"}, "variable": map[string]any{"name": "BasicAuthPassword"}, "attributeValue": typedPassword}}}
	}
	if code, _, body, err := sys.rest.do(ctx, http.MethodPost, "/api/v1/stations/"+id+path, req, true); err != nil || code != http.StatusOK {
		t.Fatalf("POST %s with the password: %d %s %v", path, code, body, err)
	}
	select {
	case got := <-newPassword:
		if got != typedPassword {
			t.Errorf("the station was sent %q, want the operator's password", got)
		}
	case <-ctx.Done():
		t.Fatal("the typed configuration call sent no password")
	}
	_ = fresh.Close()
	typed, err := dial(typedPassword)
	if err != nil {
		t.Fatalf("reconnect with the password set through %s: %v", path, err)
	}
	t.Cleanup(func() { _ = typed.Close() })
	heartbeat(ctx, t, typed) // the core has the connection
	// The station reports its password when asked: recorded without it.
	path, req = "/configuration", nil
	if !is16 {
		path, req = "/variables/get", map[string]any{"variables": []any{map[string]any{
			"component": map[string]any{"name": "SecurityCtrlr"}, "variable": map[string]any{"name": "BasicAuthPassword"}}}}
	}
	method := http.MethodPost
	if is16 {
		method = http.MethodGet
	}
	if code, _, body, err := sys.rest.do(ctx, method, "/api/v1/stations/"+id+path, req, true); err != nil || code != http.StatusOK {
		t.Fatalf("%s %s: %d %s %v", method, path, code, body, err)
	}

	// The secrets are in neither the command history nor the message log.
	for _, path := range []string{"/commands?pageSize=100", "/messages?pageSize=100"} {
		_, _, body, _ := sys.rest.do(ctx, http.MethodGet, "/api/v1/stations/"+id+path, nil, true)
		for _, secret := range []string{pw, typedPassword} {
			if strings.Contains(string(body), secret) || strings.Contains(string(body), credentials.AuthorizationKey(secret)) {
				t.Errorf("%s shows the password %s", path, secret)
			}
		}
		if !strings.Contains(string(body), "redacted") {
			t.Errorf("%s does not show the redacted password change: %s", path, body)
		}
	}
}

// testSignedFirmware16: an UpdateFirmware with a signature is the security
// whitepaper's SignedUpdateFirmware; its status notifications are stored.
func testSignedFirmware16(t *testing.T, sys *system) {
	ctx := testCtx(t)
	c := dialOpsCharger(ctx, t, sys, v16, "signedfw")
	signer := pkitest.NewRoot(t, "Firmware Signer", time.Time{}, time.Time{})
	c.answer("SignedUpdateFirmware", map[string]any{"status": "Accepted"})
	retrieve := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	resp := c.apiOK(ctx, t, sys, http.MethodPost, "/firmware/update", map[string]any{"location": "https://fw.example/signed.bin",
		"retrieveTime": retrieve.Format(time.RFC3339), "signingCertificate": string(signer.CertPEM()), "signature": "c2lnbmF0dXJl"})
	got := c.next(ctx, t, "SignedUpdateFirmware")
	if field(got, "firmware", "location") != "https://fw.example/signed.bin" || field(got, "firmware", "signature") != "c2lnbmF0dXJl" ||
		num(got["requestId"]) <= 0 || num(resp["requestId"]) != num(got["requestId"]) || resp["status"] != "Accepted" {
		t.Errorf("SignedUpdateFirmware sent %v answered %v", got, resp)
	}
	if code, out := c.api(ctx, t, sys, http.MethodPost, "/firmware/update", map[string]any{"location": "https://fw.example/x", "signature": "c2ln"}); code != http.StatusBadRequest {
		t.Errorf("a signature without its certificate: %d %v", code, out)
	}
	c.nothingSent(t)
	for _, st := range []string{"Downloading", "InvalidSignature"} {
		if err := call(ctx, c.Client, "SignedFirmwareStatusNotification", map[string]any{"status": st, "requestId": int(num(got["requestId"]))}, &struct{}{}); err != nil {
			t.Fatal(err)
		}
	}
	st := sys.rest.getStationRaw(ctx, t, c.id)
	if field(st, "firmwareStatus", "status") != "InvalidSignature" || field(st, "firmwareStatus", "action") != "SignedFirmwareStatusNotification" ||
		num(field(st, "firmwareStatus", "requestId")) != num(got["requestId"]) {
		t.Errorf("station firmwareStatus = %v", st["firmwareStatus"])
	}
}
