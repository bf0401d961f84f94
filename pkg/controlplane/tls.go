package controlplane

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"google.golang.org/grpc/credentials"
)

// ServerTLS is the core's side of TLS on the control plane: its
// certificate (certFile, leaf first, and keyFile) and, when clientCAFile
// is set, the CAs that every gateway's client certificate must chain to
// (mutual TLS: a caller without one fails the handshake, before any gRPC,
// and still needs the secret after it). Both ends are Chargeplane's own:
// TLS 1.3 only.
func ServerTLS(certFile, keyFile, clientCAFile string) (credentials.TransportCredentials, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("controlplane: CONTROL_TLS_CERT_FILE and CONTROL_TLS_KEY_FILE: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
	if clientCAFile != "" {
		if cfg.ClientCAs, err = loadPool("CONTROL_CLIENT_CA_FILE", clientCAFile); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(cfg), nil
}

// ClientTLS is a gateway's side: the CAs the core's certificate must chain
// to (caFile) and, for mutual TLS, the gateway's own certificate (certFile
// and keyFile, both or neither).
func ClientTLS(caFile, certFile, keyFile string) (credentials.TransportCredentials, error) {
	roots, err := loadPool("CORE_CA_FILE", caFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("controlplane: GATEWAY_CERT_FILE and GATEWAY_KEY_FILE: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(cfg), nil
}

// loadPool reads a PEM bundle of CA certificates named by setting.
func loadPool(setting, file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %s: %w", setting, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("controlplane: %s %s: no PEM certificate in it", setting, file)
	}
	return pool, nil
}
