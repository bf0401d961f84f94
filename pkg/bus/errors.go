package bus

import "errors"

// ErrInvalid is returned (wrapped) for a nil envelope, nil handler or an
// empty gateway/core id: a programming error, never worth retrying.
var ErrInvalid = errors.New("bus: invalid argument")

// ErrConsumerExists is returned (wrapped) by ConsumeGateway/ConsumeCore when
// that gateway's or core instance's queue already has a live consumer: two
// processes configured with the same id would otherwise steal each other's
// replies.
var ErrConsumerExists = errors.New("bus: queue already has a consumer")

// ErrNotConnected is returned (wrapped) while the broker is unreachable; the
// bus keeps reconnecting in the background, so a later call may succeed.
var ErrNotConnected = errors.New("bus: not connected to the broker")
