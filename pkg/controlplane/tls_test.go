package controlplane_test

import (
	"context"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/pki/pkitest"
	"github.com/chargeplane/chargeplane/pkg/controlplane"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
)

// pkiFiles are the PEM files of a test: the control plane's CA, the core's
// certificate for 127.0.0.1, a gateway's client certificate from that CA,
// and one from another CA.
type pkiFiles struct {
	ca, coreCert, coreKey, gwCert, gwKey, otherCA, otherCert, otherKey string
}

func makePKI(t *testing.T) pkiFiles {
	t.Helper()
	dir := t.TempDir()
	f := pkiFiles{}
	write := func(name string, v any) string {
		p := filepath.Join(dir, name)
		pkitest.WritePEM(t, p, v)
		return p
	}
	ca := pkitest.NewRoot(t, "Control Plane CA", time.Time{}, time.Time{})
	other := pkitest.NewRoot(t, "Someone Else's CA", time.Time{}, time.Time{})
	f.ca, f.otherCA = write("ca.pem", ca.Cert), write("other-ca.pem", other.Cert)
	coreKey := pkitest.Key(t, "p256")
	f.coreCert, f.coreKey = write("core.pem", ca.ServerLeaf(t, coreKey, "127.0.0.1")), write("core-key.pem", coreKey)
	gwKey := pkitest.Key(t, "p256")
	f.gwCert, f.gwKey = write("gw.pem", ca.Leaf(t, pkix.Name{CommonName: "gateway-1"}, gwKey.Public(), time.Time{})), write("gw-key.pem", gwKey)
	otherKey := pkitest.Key(t, "p256")
	f.otherCert, f.otherKey = write("other.pem", other.Leaf(t, pkix.Name{CommonName: "gateway-1"}, otherKey.Public(), time.Time{})), write("other-key.pem", otherKey)
	return f
}

// With CONTROL_TLS_* and CONTROL_CLIENT_CA_FILE the control plane is
// mutual TLS 1.3 and then the secret: only a gateway with a certificate of
// the client CA, trusting the core's CA and sending the secret is served;
// a plaintext caller, one without a client certificate or with another
// CA's reaches no handler (the handshake fails), and one with a good
// certificate but no secret gets Unauthenticated.
func TestMutualTLS(t *testing.T) {
	f := makePKI(t)
	serverCreds, err := controlplane.ServerTLS(f.coreCert, f.coreKey, f.ca)
	if err != nil {
		t.Fatal(err)
	}
	a, err := controlplane.NewAuthenticator(controlplane.Config{Secret: secret, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(append(a.ServerOptions(), grpc.Creds(serverCreds))...)
	r := &reached{}
	gatewayv1.RegisterGatewayControlServiceServer(srv, r)
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	defer func() { srv.Stop(); <-served }()

	renew := func(transport credentials.TransportCredentials, opts ...grpc.DialOption) error {
		t.Helper()
		cc, err := grpc.NewClient(ln.Addr().String(), append(opts, grpc.WithTransportCredentials(transport))...)
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = gatewayv1.NewGatewayControlServiceClient(cc).RenewLease(ctx, &gatewayv1.RenewLeaseRequest{GatewayId: "g", TtlSeconds: 10})
		return err
	}
	client := func(ca, cert, key string) credentials.TransportCredentials {
		t.Helper()
		c, err := controlplane.ClientTLS(ca, cert, key)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	withSecret := controlplane.DialOption(secret)

	for name, transport := range map[string]credentials.TransportCredentials{
		"plaintext":                  insecure.NewCredentials(),
		"no client certificate":      client(f.ca, "", ""),
		"another CA's certificate":   client(f.ca, f.otherCert, f.otherKey),
		"not trusting the core's CA": client(f.otherCA, f.gwCert, f.gwKey),
	} {
		if err := renew(transport, withSecret); err == nil {
			t.Errorf("%s: served", name)
		}
	}
	if n := r.calls.Load(); n != 0 {
		t.Fatalf("%d calls without mutual TLS reached the service", n)
	}
	good := client(f.ca, f.gwCert, f.gwKey)
	if err := renew(good); status.Code(err) != codes.Unauthenticated {
		t.Errorf("mutual TLS without the secret: %v, want Unauthenticated", err)
	}
	if err := renew(good, withSecret); err != nil {
		t.Fatalf("mutual TLS and the secret: %v", err)
	}
	if r.calls.Load() != 1 {
		t.Errorf("calls reached: %d, want 1", r.calls.Load())
	}
}

// Bad files are refused naming the setting.
func TestTLSFilesRefused(t *testing.T) {
	f := makePKI(t)
	missing := filepath.Join(t.TempDir(), "none.pem")
	for name, err := range map[string]error{
		"server key missing": second(controlplane.ServerTLS(f.coreCert, missing, "")),
		"client CA not PEM":  second(controlplane.ServerTLS(f.coreCert, f.coreKey, f.coreKey)),
		"core CA missing":    second(controlplane.ClientTLS(missing, "", "")),
		"gateway key wrong":  second(controlplane.ClientTLS(f.ca, f.gwCert, f.coreKey)),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func second[T any](_ T, err error) error { return err }
