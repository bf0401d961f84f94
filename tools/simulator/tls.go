package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// tlsConfig is what the station uses on wss:// URLs: the CSMS's server
// certificate must chain to cfg.CAFile (the system's roots when empty),
// and the station shows a client certificate (security profile 3):
// cfg.CertFile/KeyFile, or else the one the CSMS signed into CertDir. The
// files are read at every handshake, so a renewed certificate is used on
// the next reconnection. Nil when the station has nothing to configure.
func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.CAFile == "" && cfg.CertFile == "" && cfg.CertDir == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		b, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("-ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("-ca %s: no PEM certificate in it", cfg.CAFile)
		}
	}
	if cfg.CertFile != "" {
		// Fail at start, not at the first handshake.
		if _, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile); err != nil {
			return nil, fmt.Errorf("-cert/-key: %w", err)
		}
	}
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return clientCertificate(cfg)
	}
	return c, nil
}

// clientCertificate loads the station's certificate; an empty one (none
// sent) when it has none.
func clientCertificate(cfg Config) (*tls.Certificate, error) {
	certFile, keyFile := cfg.CertFile, cfg.KeyFile
	if certFile == "" {
		if cfg.CertDir == "" {
			return &tls.Certificate{}, nil
		}
		certFile, keyFile = CertFiles(cfg.CertDir, cfg.ID)
		if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
			return &tls.Certificate{}, nil
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	return &cert, nil
}
