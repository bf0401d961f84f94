package certificates

import (
	"context"

	"github.com/chargeplane/chargeplane/api/command"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// CommandSender sends CertificateSigned through the command table of the
// station's version, so that every delivery attempt is in the station's
// command history.
type CommandSender struct {
	Commands *command.Sender
}

// SendCertificateSigned implements Sender.
func (s CommandSender) SendCertificateSigned(ctx context.Context, stationID, chainPEM string) (Answer, error) {
	r, err := command.Do[command.Reply](ctx, s.Commands, stationID, "csms:certificates",
		&chargeplanev1.SendCertificateSignedRequest{StationId: stationID, CertificateChain: chainPEM})
	if err != nil {
		return Answer{}, err
	}
	return Answer{CommandID: r.CommandID, Status: r.Status, Reason: r.ReasonCode}, nil
}
