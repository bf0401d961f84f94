package operator

import (
	"context"
	"encoding/json"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Commander sends commands to stations; *command.Dispatcher is one.
type Commander interface {
	Version(ctx context.Context, stationID string) (ocppj.Version, error)
	Call(ctx context.Context, r command.Request) (*command.Result, error)
}

// commands wraps a Commander with what every typed command does: check the
// station id, learn its version, send on behalf of the operator, and map
// errors to gRPC statuses.
type commands struct {
	c   Commander
	log *slog.Logger
}

func (c commands) version(ctx context.Context, stationID string) (ocppj.Version, error) {
	if err := ValidateStationID(stationID); err != nil {
		return 0, invalid(err)
	}
	v, err := c.c.Version(ctx, stationID)
	if err != nil {
		return 0, c.status(ctx, stationID, err)
	}
	return v, nil
}

// call sends action and decodes the charger's answer into resp.
func (c commands) call(ctx context.Context, stationID, action string, payload, resp any) (string, error) {
	r := command.Request{StationID: stationID, Action: action, Payload: payload, RequestedBy: RequestedBy(ctx)}
	res, err := c.c.Call(ctx, r)
	if err != nil {
		return "", c.status(ctx, stationID, err)
	}
	if resp != nil && len(res.Payload) > 0 {
		if err := json.Unmarshal(res.Payload, resp); err != nil {
			c.log.WarnContext(ctx, "unreadable answer to a command", "station", stationID, "action", action,
				"command", res.CommandID, "err", err)
			return res.CommandID, status.Errorf(codes.Internal, "the station's answer to %s could not be read", action)
		}
	}
	return res.CommandID, nil
}

// status maps a dispatcher error; an unexpected one is logged, since
// command.Status hides its text from the caller.
func (c commands) status(ctx context.Context, stationID string, err error) error {
	st := command.Status(err)
	if s, _ := status.FromError(st); s.Code() == codes.Internal {
		c.log.ErrorContext(ctx, "command failed", "station", stationID, "err", err)
	}
	return st
}

// reason is the station's reason code, when it gave one (2.0.1 statusInfo).
func (a *answer) reason() string {
	r, _ := a.info()
	return r
}
