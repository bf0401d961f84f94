package operator

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/command"
)

// commands is what every typed command method does around the command
// table: check the station id, send on behalf of the operator, and map
// errors to gRPC statuses. The method itself validates what does not
// depend on the station's version and maps the reply to its response; the
// table of the station's version does the rest (see api/command).
type commands struct {
	s   *command.Sender
	log *slog.Logger
}

// do carries out the operation in names (its type) on the station.
func do[Out any](ctx context.Context, c commands, stationID string, in any) (Out, error) {
	var zero Out
	if err := ValidateStationRef(stationID); err != nil {
		return zero, invalid(err)
	}
	out, err := command.Do[Out](ctx, c.s, stationID, RequestedBy(ctx), in)
	if err != nil {
		return zero, c.status(ctx, stationID, err)
	}
	return out, nil
}

// instead names what to use where an operation does not exist in the
// station's version.
var instead = map[string]string{
	"GetConfiguration":    "GetVariables or GetBaseReport",
	"ChangeConfiguration": "SetVariables",
	"GetVariables":        "GetConfiguration",
	"SetVariables":        "ChangeConfiguration",
	"GetBaseReport":       "GetConfiguration",
}

// status maps a command error; an unexpected one is logged, since
// command.Status hides its text from the caller.
func (c commands) status(ctx context.Context, stationID string, err error) error {
	var niv *command.NotInVersionError
	if errors.As(err, &niv) && instead[niv.Operation] != "" {
		return status.Errorf(codes.InvalidArgument, "%s does not exist in OCPP %s, which station %q speaks (use %s)",
			niv.Operation, niv.Version, stationID, instead[niv.Operation])
	}
	st := command.Status(err)
	if s, _ := status.FromError(st); s.Code() == codes.Internal {
		c.log.ErrorContext(ctx, "command failed", "station", stationID, "err", err)
	}
	return st
}

func positive(field string, v *int32) error {
	if v != nil && *v <= 0 {
		return status.Errorf(codes.InvalidArgument, "%s must be positive", field)
	}
	return nil
}

func nonNegative(field string, v *int32) error {
	if v != nil && *v < 0 {
		return status.Errorf(codes.InvalidArgument, "%s must not be negative", field)
	}
	return nil
}

// checkTime refuses a malformed timestamp the caller gave (nil: none).
func checkTime(field string, ts *timestamppb.Timestamp) error {
	if ts == nil {
		return nil
	}
	if err := ts.CheckValid(); err != nil {
		return status.Errorf(codes.InvalidArgument, "%s: %v", field, err)
	}
	return nil
}
