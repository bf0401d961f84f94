package command

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorInfo domain and reasons carried by the statuses Status returns; the
// REST layer maps them to HTTP statuses.
const (
	ErrorDomain              = "chargeplane.io"
	ReasonNotConnected       = "STATION_NOT_CONNECTED"
	ReasonTimeout            = "COMMAND_TIMEOUT"
	ReasonChargerCallError   = "CHARGER_CALL_ERROR"
	ReasonInvalidCommand     = "INVALID_COMMAND"
	ReasonUnknownVersion     = "OCPP_VERSION_UNKNOWN"
	ReasonStationNotFound    = "STATION_NOT_FOUND"
	metadataCode             = "code"
	metadataDescription      = "description"
	metadataReason           = "reason"
	internalErrorDescription = "internal error"
)

// Status maps an error of Dispatcher.Call (or Version) to a gRPC status
// error with an errdetails.ErrorInfo; typed services return Status(err).
// A status error passes through unchanged; anything unexpected becomes
// Internal without its text (log it before).
func Status(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var inv *InvalidError
	var ce *ChargerError
	var niv *NotInVersionError
	var ref *RefusedError
	var ua *UnreadableAnswerError
	switch {
	case errors.Is(err, ErrStationNotFound):
		return withInfo(codes.NotFound, "station not found", ReasonStationNotFound, nil)
	case errors.Is(err, ErrNotConnected):
		return withInfo(codes.FailedPrecondition, "station not connected", ReasonNotConnected, nil)
	case errors.Is(err, ErrUnknownVersion):
		return withInfo(codes.FailedPrecondition, "station never connected: its OCPP version is unknown", ReasonUnknownVersion, nil)
	case errors.Is(err, ErrTimeout):
		return withInfo(codes.DeadlineExceeded, "no answer from the charger in time", ReasonTimeout, nil)
	case errors.As(err, &inv):
		return withInfo(codes.InvalidArgument, inv.Reason, ReasonInvalidCommand, map[string]string{metadataReason: inv.Reason})
	case errors.As(err, &ce):
		return withInfo(codes.Aborted, ce.Error(), ReasonChargerCallError, map[string]string{
			metadataCode:        string(ce.Code),
			metadataDescription: ce.Description,
		})
	case errors.As(err, &niv):
		return withInfo(codes.InvalidArgument, fmt.Sprintf("%s does not exist in OCPP %s, which the station speaks", niv.Operation, niv.Version),
			ReasonInvalidCommand, map[string]string{metadataReason: "not in the station's OCPP version"})
	case errors.As(err, &ref):
		return status.Error(ref.Code, ref.Message)
	case errors.As(err, &ua):
		return status.Errorf(codes.Internal, "the station's answer to %s could not be read", ua.Action)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return withInfo(codes.DeadlineExceeded, "deadline exceeded", ReasonTimeout, nil)
	}
	return status.Error(codes.Internal, internalErrorDescription)
}

func withInfo(c codes.Code, msg, reason string, md map[string]string) error {
	st := status.New(c, msg)
	if ds, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: md}); err == nil {
		st = ds
	}
	return st.Err()
}
