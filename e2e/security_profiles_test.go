package e2e

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chargeplane/chargeplane/api/pki/pkitest"
	"github.com/chargeplane/chargeplane/gateway/server"
	"github.com/chargeplane/chargeplane/pkg/chargepoint"
)

const cpoOrg = "E2E CPO"

// secPKI is the test's CSMS CA, the server certificate files and what a
// charger trusts.
type secPKI struct {
	ca               pkitest.CA
	certFile, keyFil string
	roots            *x509.CertPool
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeServerCert writes a fresh server certificate for 127.0.0.1 and
// returns its serial.
func (p *secPKI) writeServerCert(t *testing.T, kind string) string {
	t.Helper()
	key := pkitest.Key(t, kind)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "chargeplane e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca.Cert, key.Public(), p.ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Key first: a reload between the writes sees a mismatched pair and
	// keeps the old one, never a half pair.
	writePEM(t, p.keyFil, "PRIVATE KEY", kder)
	writePEM(t, p.certFile, "CERTIFICATE", der)
	return tmpl.SerialNumber.String()
}

// startSecure starts m with a TLS listener. In the embedded mode the CSMS
// CA (CA_CERT_FILE) is also the client CA, as no TLS_CLIENT_CA_FILE is
// given; gateways are given it as TLS_CLIENT_CA_FILE. 127.0.0.2 is a
// trusted proxy.
func startSecure(t *testing.T, m mode) (*system, *secPKI) {
	dir := t.TempDir()
	p := &secPKI{ca: pkitest.NewRoot(t, "E2E CSMS CA", time.Time{}, time.Time{}),
		certFile: filepath.Join(dir, "server.pem"), keyFil: filepath.Join(dir, "server-key.pem")}
	p.roots = x509.NewCertPool()
	p.roots.AddCert(p.ca.Cert)
	p.writeServerCert(t, "rsa2048")
	caFile, caKey := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if err := os.WriteFile(caFile, p.ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caKey, p.ca.KeyPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	sys := m.start(t, func(env map[string]string) {
		env["OCPP_TLS_ADDR"] = "127.0.0.1:0"
		env["TLS_CERT_FILE"], env["TLS_KEY_FILE"] = p.certFile, p.keyFil
		env["CA_CERT_FILE"], env["CA_KEY_FILE"] = caFile, caKey
		env["CSMS_ORGANIZATION"] = cpoOrg
		env["TLS_RELOAD_INTERVAL"] = "200ms"
		env["TRUSTED_PROXIES"] = "127.0.0.2"
		env["MIN_SECURITY_PROFILE"] = "1"
		if env["AMQP_URL"] != "" {
			env["TLS_CLIENT_CA_FILE"] = caFile
		}
	})
	if len(sys.tlsGateways) == 0 {
		t.Fatal("no TLS listener")
	}
	return sys, p
}

func (p *secPKI) clientCert(t *testing.T, ca pkitest.CA, cn, org string, notAfter time.Time) *tls.Certificate {
	t.Helper()
	key := pkitest.Key(t, "p256")
	leaf := ca.Leaf(t, pkix.Name{CommonName: cn, Organization: []string{org}}, key.Public(), notAfter)
	return &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key.(crypto.Signer), Leaf: leaf}
}

type secDial struct {
	user, pass string
	cert       *tls.Certificate
	header     http.Header
	localAddr  string
}

// secDialStatus tries a handshake and returns the HTTP status: 101 when
// admitted (the socket is closed again at once).
func secDialStatus(ctx context.Context, t *testing.T, p *secPKI, u string, d secDial) int {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS12}}
	if d.cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*d.cert}
	}
	if d.localAddr != "" {
		tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(d.localAddr)}}).DialContext
	}
	h := http.Header{}
	for k, v := range d.header {
		h[k] = v
	}
	if d.user != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(d.user+":"+d.pass)))
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}, HTTPHeader: h, Subprotocols: []string{"ocpp2.0.1"}})
	if resp != nil && resp.Body != nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	if err == nil {
		_ = c.Close(websocket.StatusNormalClosure, "")
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("%s: no HTTP answer: %v", u, err)
	}
	return resp.StatusCode
}

func (sys *system) createSecureStation(ctx context.Context, t *testing.T, id, password string, profile int) {
	t.Helper()
	req := map[string]any{"id": id, "securityProfile": profile}
	if password != "" {
		req["password"] = password
	}
	code, _, body, err := sys.rest.do(ctx, http.MethodPost, "/api/v1/stations", req, true)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create %s: %d %s %v", id, code, body, err)
	}
	var st struct {
		SecurityProfile int `json:"securityProfile"`
	}
	if err := json.Unmarshal(body, &st); err != nil || st.SecurityProfile != profile {
		t.Fatalf("created station shows securityProfile %d (%s), want %d", st.SecurityProfile, body, profile)
	}
}

func TestSecurityProfiles(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys, p := startSecure(t, m)
			ctx := testCtx(t)
			const pw = "e2e-Passw0rd-16to20"
			p0, p1, p2, p3 := newStationID("prof0"), newStationID("prof1"), newStationID("prof2"), newStationID("prof3")
			sys.createSecureStation(ctx, t, p0, "", 0) // below MIN_SECURITY_PROFILE=1
			sys.createSecureStation(ctx, t, p1, pw, 1)
			sys.createSecureStation(ctx, t, p2, pw, 2)
			sys.createSecureStation(ctx, t, p3, pw, 3)
			good := p.clientCert(t, p.ca, p3, cpoOrg, time.Time{})
			other := p.clientCert(t, p.ca, p1, cpoOrg, time.Time{})
			wrongOrg := p.clientCert(t, p.ca, p3, "Someone Else", time.Time{})
			expired := p.clientCert(t, p.ca, p3, cpoOrg, time.Now().Add(-time.Minute))
			self := pkitest.NewRoot(t, p3, time.Time{}, time.Time{})
			selfSigned := p.clientCert(t, self, p3, cpoOrg, time.Time{})

			for gw := range sys.gateways {
				plain, wss := sys.gateways[gw], sys.tlsGateways[gw]
				for _, tc := range []struct {
					name, base, station string
					d                   secDial
					want                int
				}{
					{"0 below the minimum, plain", plain, p0, secDial{}, 401},
					{"0 below the minimum, TLS", wss, p0, secDial{}, 401},
					{"0 below the minimum, with a certificate", wss, p0, secDial{cert: p.clientCert(t, p.ca, p0, cpoOrg, time.Time{})}, 401},
					{"1 plain right password", plain, p1, secDial{user: p1, pass: pw}, 101},
					{"1 plain wrong password", plain, p1, secDial{user: p1, pass: pw + "x"}, 401},
					{"1 TLS right password", wss, p1, secDial{user: p1, pass: pw}, 101},
					{"1 TLS wrong password", wss, p1, secDial{user: p1, pass: pw + "x"}, 401},
					{"1 a certificate is no password", wss, p1, secDial{cert: other}, 401},
					{"2 plain right password", plain, p2, secDial{user: p2, pass: pw}, 401},
					{"2 TLS right password", wss, p2, secDial{user: p2, pass: pw}, 101},
					{"2 TLS wrong password", wss, p2, secDial{user: p2, pass: pw + "x"}, 401},
					{"3 right certificate", wss, p3, secDial{cert: good}, 101},
					{"3 another station's certificate", wss, p3, secDial{cert: other}, 401},
					{"3 another organization", wss, p3, secDial{cert: wrongOrg}, 401},
					{"3 self-signed", wss, p3, secDial{cert: selfSigned}, 401},
					{"3 expired", wss, p3, secDial{cert: expired}, 401},
					{"3 no certificate, right password", wss, p3, secDial{user: p3, pass: pw}, 401},
					{"3 plain, right password", plain, p3, secDial{user: p3, pass: pw}, 401},
					{"3 forwarded by a trusted proxy", plain, p3, secDial{header: xfccHeader(good), localAddr: "127.0.0.2"}, 101},
					{"3 forwarded by an untrusted peer", plain, p3, secDial{header: xfccHeader(good)}, 401},
					{"2 TLS claimed by an untrusted peer", plain, p2, secDial{user: p2, pass: pw, header: http.Header{"X-Forwarded-Proto": {"https"}}}, 401},
				} {
					t.Run(fmt.Sprintf("gateway%d/%s", gw+1, tc.name), func(t *testing.T) {
						if got := secDialStatus(ctx, t, p, tc.base+tc.station, tc.d); got != tc.want {
							t.Fatalf("HTTP %d, want %d", got, tc.want)
						}
					})
				}
			}

			// The operator learns why the profile-0 station was refused.
			refused := listSecurityEvents(ctx, t, sys, "/api/v1/stations/"+p0+"/security-events", url.Values{"type": {"AdmissionRefused"}})
			if len(refused.Events) == 0 || !strings.Contains(refused.Events[0].TechInfo, "below the minimum") {
				t.Errorf("security events of the station below MIN_SECURITY_PROFILE: %+v", refused.Events)
			}

			t.Run("raising the profile closes only a weaker connection", func(t *testing.T) {
				// connect dials as a charger that uses TLS, its password and
				// its certificate as asked.
				connect := func(id string, tlsListener bool, cert *tls.Certificate) *chargepoint.Client {
					t.Helper()
					base, opts := sys.gateways[0], chargepoint.Options{Subprotocols: []string{"ocpp2.0.1"}, Username: id, Password: pw, Schemas: sys.schemas}
					if tlsListener {
						base, opts.TLS = sys.tlsGateways[0], &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS12}
						if cert != nil {
							opts.TLS.Certificates = []tls.Certificate{*cert}
						}
					}
					c, err := chargepoint.Dial(ctx, base+id, opts)
					if err != nil {
						t.Fatalf("%s: %v", id, err)
					}
					t.Cleanup(func() { _ = c.Close() })
					heartbeat(ctx, t, c)
					return c
				}
				raise := func(id string, profile int) {
					t.Helper()
					code, _, body, err := sys.rest.do(ctx, http.MethodPatch, "/api/v1/stations/"+url.PathEscape(id), map[string]any{"securityProfile": profile}, true)
					if err != nil || code != http.StatusOK {
						t.Fatalf("raise %s to %d: %d %s %v", id, profile, code, body, err)
					}
				}
				closed := func(c *chargepoint.Client, what string) {
					t.Helper()
					select {
					case <-c.Done():
					case <-ctx.Done():
						t.Fatalf("%s stayed open after the profile was raised", what)
					}
				}

				// Strong enough already: a profile-1 station over TLS raised
				// to 2, a profile-2 station that also showed its certificate
				// raised to 3.
				tls1, cert2 := newStationID("raise-tls1"), newStationID("raise-cert2")
				sys.createSecureStation(ctx, t, tls1, pw, 1)
				sys.createSecureStation(ctx, t, cert2, pw, 2)
				keptTLS := connect(tls1, true, nil)
				keptCert := connect(cert2, true, p.clientCert(t, p.ca, cert2, cpoOrg, time.Time{}))
				raise(tls1, 2)
				raise(cert2, 3)

				// Weaker: plain raised to 2, TLS + password raised to 3. Their
				// closes are asked for after the two above were decided.
				plain1, pw2 := newStationID("raise-plain1"), newStationID("raise-pw2")
				sys.createSecureStation(ctx, t, plain1, pw, 1)
				sys.createSecureStation(ctx, t, pw2, pw, 2)
				weakPlain := connect(plain1, false, nil)
				weakPW := connect(pw2, true, nil)
				raise(plain1, 2)
				raise(pw2, 3)
				closed(weakPlain, "the plain connection of a station raised to 2")
				closed(weakPW, "the password-only connection of a station raised to 3")

				for c, what := range map[*chargepoint.Client]string{keptTLS: "TLS connection raised to 2", keptCert: "certificate connection raised to 3"} {
					select {
					case <-c.Done():
						t.Errorf("the %s was closed", what)
					default:
						heartbeat(ctx, t, c)
					}
				}

				if got := secDialStatus(ctx, t, p, sys.gateways[0]+plain1, secDial{user: plain1, pass: pw}); got != 401 {
					t.Errorf("plain reconnect after the raise to 2: HTTP %d, want 401", got)
				}
				if got := secDialStatus(ctx, t, p, sys.tlsGateways[0]+plain1, secDial{user: plain1, pass: pw}); got != 101 {
					t.Errorf("TLS reconnect after the raise to 2: HTTP %d, want 101", got)
				}
				if got := secDialStatus(ctx, t, p, sys.tlsGateways[0]+pw2, secDial{user: pw2, pass: pw}); got != 401 {
					t.Errorf("password-only reconnect after the raise to 3: HTTP %d, want 401", got)
				}
				if got := secDialStatus(ctx, t, p, sys.tlsGateways[0]+pw2, secDial{cert: p.clientCert(t, p.ca, pw2, cpoOrg, time.Time{})}); got != 101 {
					t.Errorf("certificate reconnect after the raise to 3: HTTP %d, want 101", got)
				}
			})

			t.Run("certificate reload keeps chargers connected", func(t *testing.T) {
				tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots, Certificates: []tls.Certificate{*good}, MinVersion: tls.VersionTLS12}}
				c, err := chargepoint.Dial(ctx, sys.tlsGateways[0]+p3, chargepoint.Options{
					Subprotocols: []string{"ocpp2.0.1"}, Schemas: sys.schemas, HTTPClient: &http.Client{Transport: tr},
				})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				heartbeat(ctx, t, c)
				serial := p.writeServerCert(t, "p256")
				addr := strings.TrimSuffix(strings.TrimPrefix(sys.tlsGateways[0], "wss://"), "/ocpp/")
				eventually(t, "new handshakes get the renewed certificate", func() (bool, string) {
					conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS12})
					if err != nil {
						return false, err.Error()
					}
					defer conn.Close()
					got := conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
					return got == serial, "serial " + got
				})
				heartbeat(ctx, t, c) // the old connection still answers
			})
		})
	}
}

func xfccHeader(c *tls.Certificate) http.Header {
	pemText := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Leaf.Raw})
	return http.Header{
		server.HeaderXFCC:           {`Hash=x;Cert="` + url.QueryEscape(string(pemText)) + `"`},
		server.HeaderForwardedProto: {"https"},
	}
}
