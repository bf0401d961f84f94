package pki

import (
	"crypto"
	_ "crypto/sha256" // SHA256 for hash data
	_ "crypto/sha512" // SHA384, SHA512 for hash data
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// HashData identifies a certificate the way OCPP does (1.6 whitepaper and
// 2.0.1 CertificateHashDataType, the fields of an OCSP CertID): the hash
// of the issuer's name and of the issuer's public key, and the serial
// number, hex without leading zeroes.
type HashData struct {
	HashAlgorithm  string `json:"hashAlgorithm"`  // SHA256, SHA384 or SHA512
	IssuerNameHash string `json:"issuerNameHash"` // hex
	IssuerKeyHash  string `json:"issuerKeyHash"`  // hex
	SerialNumber   string `json:"serialNumber"`   // hex, no leading zeroes
}

// HashAlgorithms maps OCPP's HashAlgorithmEnumType to crypto hashes.
var HashAlgorithms = map[string]crypto.Hash{
	"SHA256": crypto.SHA256,
	"SHA384": crypto.SHA384,
	"SHA512": crypto.SHA512,
}

// CertificateHashData computes cert's hash data with alg ("SHA256",
// "SHA384" or "SHA512"); issuer is the certificate that signed it (cert
// itself for a self-signed root).
func CertificateHashData(cert, issuer *x509.Certificate, alg string) (HashData, error) {
	h, ok := HashAlgorithms[alg]
	if !ok {
		return HashData{}, fmt.Errorf("pki: hash algorithm %q is not SHA256, SHA384 or SHA512", alg)
	}
	keyBits, err := publicKeyBits(issuer)
	if err != nil {
		return HashData{}, err
	}
	nameHash := h.New()
	nameHash.Write(cert.RawIssuer)
	keyHash := h.New()
	keyHash.Write(keyBits)
	return HashData{
		HashAlgorithm:  alg,
		IssuerNameHash: hex.EncodeToString(nameHash.Sum(nil)),
		IssuerKeyHash:  hex.EncodeToString(keyHash.Sum(nil)),
		SerialNumber:   SerialHex(cert.SerialNumber),
	}, nil
}

// SerialHex is a serial number as OCPP writes it: lower-case hex without
// leading zeroes.
func SerialHex(n *big.Int) string { return n.Text(16) }

// Normalize makes hash data comparable: lower-case hex, and a serial
// without leading zeroes.
func (h HashData) Normalize() HashData {
	h.HashAlgorithm = strings.ToUpper(h.HashAlgorithm)
	h.IssuerNameHash = strings.ToLower(h.IssuerNameHash)
	h.IssuerKeyHash = strings.ToLower(h.IssuerKeyHash)
	h.SerialNumber = strings.TrimLeft(strings.ToLower(h.SerialNumber), "0")
	if h.SerialNumber == "" {
		h.SerialNumber = "0"
	}
	return h
}

// decode turns hash data into the parts of an OCSP CertID.
func (h HashData) decode() (crypto.Hash, []byte, []byte, *big.Int, error) {
	alg, ok := HashAlgorithms[strings.ToUpper(h.HashAlgorithm)]
	if !ok {
		return 0, nil, nil, nil, fmt.Errorf("hash algorithm %q is not SHA256, SHA384 or SHA512", h.HashAlgorithm)
	}
	name, err := hex.DecodeString(h.IssuerNameHash)
	if err != nil || len(name) != alg.Size() {
		return 0, nil, nil, nil, errors.New("issuerNameHash is not a hex digest of the algorithm's size")
	}
	key, err := hex.DecodeString(h.IssuerKeyHash)
	if err != nil || len(key) != alg.Size() {
		return 0, nil, nil, nil, errors.New("issuerKeyHash is not a hex digest of the algorithm's size")
	}
	serial, ok := new(big.Int).SetString(h.SerialNumber, 16)
	if !ok || serial.Sign() < 0 {
		return 0, nil, nil, nil, errors.New("serialNumber is not a hex number")
	}
	return alg, name, key, serial, nil
}

// publicKeyBits is the subjectPublicKey BIT STRING of a certificate, what
// an OCSP issuerKeyHash is computed over (RFC 6960 §4.1.1).
func publicKeyBits(c *x509.Certificate) ([]byte, error) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, fmt.Errorf("pki: read issuer public key: %w", err)
	}
	return spki.PublicKey.RightAlign(), nil
}
