package operator

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/store"
)

// storeError maps a store error to a gRPC status. Expected outcomes keep
// their meaning; anything else is logged here and hidden from the caller.
func storeError(ctx context.Context, logger *slog.Logger, err error, notFound string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, notFound)
	case errors.Is(err, store.ErrAlreadyExists):
		return status.Error(codes.AlreadyExists, "already exists")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	logger.ErrorContext(ctx, "store failure", "err", err)
	return status.Error(codes.Internal, "internal error")
}
