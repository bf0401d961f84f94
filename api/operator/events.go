package operator

import (
	"errors"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/event"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// EventsOpenHeader is sent in StreamEvents' response headers once the
// subscription is open (the SSE adapter tells a refusal from a stream by it).
const EventsOpenHeader = "x-events-open"

// EventService implements chargeplane.v1.EventService.
type EventService struct {
	chargeplanev1.UnimplementedEventServiceServer
	hub *event.Hub
	log *slog.Logger
}

// NewEventService streams hub's events.
func NewEventService(hub *event.Hub, logger *slog.Logger) *EventService {
	if logger == nil {
		logger = slog.Default()
	}
	return &EventService{hub: hub, log: logger}
}

// EventFilter checks a stream's filters (also the SSE query's). A station
// is named by ValidateStationRef, so that one registered before the
// stricter rule for new ids still has its events streamed.
func EventFilter(stations, types []string) (event.Filter, error) {
	return event.ParseFilter(stations, types, ValidateStationRef)
}

// StreamEvents sends the events after after_id, then live ones, until the
// caller goes away.
func (s *EventService) StreamEvents(req *chargeplanev1.StreamEventsRequest, stream grpc.ServerStreamingServer[chargeplanev1.StreamEventsResponse]) error {
	f, err := EventFilter(req.GetStationIds(), req.GetTypes())
	if err != nil {
		return invalid(err)
	}
	if req.GetAfterId() < 0 {
		return invalid(errors.New("after_id must not be negative"))
	}
	ctx := stream.Context()
	sub, err := s.hub.Subscribe(f, req.GetAfterId())
	switch {
	case errors.Is(err, event.ErrTooManySubscribers):
		return status.Error(codes.ResourceExhausted, "too many event subscribers on this instance; retry later")
	case err != nil:
		return status.Error(codes.Unavailable, "events are not available")
	}
	defer sub.Close()
	// Headers now: a client learns the stream is open before the first event.
	if err := stream.SendHeader(metadata.Pairs(EventsOpenHeader, "1")); err != nil {
		return err
	}
	for {
		e, err := sub.Next(ctx)
		switch {
		case ctx.Err() != nil:
			return status.FromContextError(ctx.Err()).Err()
		case errors.Is(err, event.ErrHubClosed):
			return status.Error(codes.Unavailable, "the server is shutting down")
		case err != nil:
			s.log.ErrorContext(ctx, "event stream", "err", err)
			return status.Error(codes.Internal, "internal error")
		}
		if err := stream.Send(&chargeplanev1.StreamEventsResponse{Event: EventProto(e)}); err != nil {
			return err
		}
	}
}

// EventProto is e on the API.
func EventProto(e event.Event) *chargeplanev1.Event {
	p := &structpb.Struct{}
	if err := p.UnmarshalJSON(e.Payload); err != nil {
		p = &structpb.Struct{}
	}
	return &chargeplanev1.Event{Id: e.ID, Type: string(e.Type), Time: timestamppb.New(e.Time), StationId: e.StationID, Payload: p}
}

// SplitList splits a comma-separated query value, dropping empty items.
func SplitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
