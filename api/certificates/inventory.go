package certificates

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/api/store"
)

// The station's certificate inventory is what its GetInstalledCertificateIds
// answers say it holds, kept up to date by the InstallCertificate and
// DeleteCertificate it accepts since. These helpers build its entries; the
// command tables of both versions record them.

// Installed is the inventory entry of a certificate a station accepted
// with InstallCertificate. Hash data is computed over the issuer, so it is
// known only for a self-signed (root) certificate, which is what
// InstallCertificate installs; ok is false otherwise (the next
// GetInstalledCertificateIds tells).
func Installed(stationID, certificateType, certPEM string, at time.Time) (e store.InstalledCertificate, ok bool) {
	certs, err := pki.ParseCertificates([]byte(certPEM))
	if err != nil {
		return e, false
	}
	c := certs[0]
	if c.CheckSignatureFrom(c) != nil {
		return e, false
	}
	h, err := pki.CertificateHashData(c, c, "SHA256")
	if err != nil {
		return e, false
	}
	return Entry(stationID, certificateType, h, nil, at), true
}

// Entry is an inventory entry from a station's hash data, kept as the
// station spelled it: a DeleteCertificate built from it must match what
// the station compares against.
func Entry(stationID, certificateType string, h pki.HashData, children []pki.HashData, at time.Time) store.InstalledCertificate {
	e := store.InstalledCertificate{StationID: stationID, CertificateType: certificateType, HashAlgorithm: h.HashAlgorithm,
		IssuerNameHash: h.IssuerNameHash, IssuerKeyHash: h.IssuerKeyHash, SerialNumber: h.SerialNumber, ReportedAt: at}
	if len(children) > 0 {
		b, _ := json.Marshal(children) // plain strings: cannot fail
		e.ChildCertificates = string(b)
	}
	return e
}

// ToDelete is the hash data of the certificate an operator asks a station
// to delete: given as hash data, or as the PEM of a self-signed certificate
// (hashed with SHA256).
func ToDelete(h pki.HashData, certPEM string) (pki.HashData, error) {
	if certPEM == "" {
		if h.HashAlgorithm == "" || h.IssuerNameHash == "" || h.IssuerKeyHash == "" || h.SerialNumber == "" {
			return pki.HashData{}, errors.New("give hash_data (all four fields) or certificate")
		}
		return h, nil
	}
	if h != (pki.HashData{}) {
		return pki.HashData{}, errors.New("give hash_data or certificate, not both")
	}
	e, ok := Installed("", "", certPEM, time.Time{})
	if !ok {
		return pki.HashData{}, errors.New("certificate is not a PEM self-signed certificate (give hash_data for others)")
	}
	return pki.HashData{HashAlgorithm: e.HashAlgorithm, IssuerNameHash: e.IssuerNameHash, IssuerKeyHash: e.IssuerKeyHash,
		SerialNumber: e.SerialNumber}, nil
}
