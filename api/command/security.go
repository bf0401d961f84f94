package command

import (
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"

	"github.com/chargeplane/chargeplane/api/store"
)

// Operations of the security whitepaper (1.6) and the 2.0.1 A and M
// blocks whose operator request is not an API message of its own: each
// names an operation that the two versions carry out with different
// actions.

// PasswordChange sends a station its new Basic-auth password: 1.6
// ChangeConfiguration AuthorizationKey (hex-encoded), 2.0.1 SetVariables
// SecurityCtrlr.BasicAuthPassword. Only api/credentials sends it, so that
// the CSMS keeps accepting whichever password the station uses.
type PasswordChange struct {
	Password string
}

// SignedFirmwareUpdate is an UpdateFirmware with a signing certificate and
// a signature: 1.6 SignedUpdateFirmware (security whitepaper), 2.0.1
// UpdateFirmware.
type SignedFirmwareUpdate struct {
	*chargeplanev1.UpdateFirmwareRequest
}

// LogUpload is a GetLog that names its log type or request id: the
// security whitepaper's GetLog in 1.6 (which otherwise gets GetDiagnostics),
// GetLog in 2.0.1.
type LogUpload struct {
	*chargeplanev1.GetLogRequest
}

// InventoryReply is a GetInstalledCertificateIds answer: the certificates
// the station says it holds of the types asked for, as recorded.
type InventoryReply struct {
	Reply
	Certificates []store.InstalledCertificate
}
