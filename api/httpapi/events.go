package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/chargeplane/chargeplane/api/access"
	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/operator"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// DefaultEventHeartbeat is how often an idle event stream gets a comment
// line, so that proxies and clients see it alive.
const DefaultEventHeartbeat = 15 * time.Second

// EventsPath is the Server-Sent Events stream.
const EventsPath = "/api/v1/events"

// events serves GET /api/v1/events as Server-Sent Events: a client of the
// core's own EventService.StreamEvents, so that the guard authenticates
// and authorizes it exactly as every other call.
//
// A browser's EventSource cannot set headers: on this route only, the
// credential may come as the access_token query parameter. It is never
// logged, answers carry Referrer-Policy no-referrer, and a short-lived
// access token (Login) suits it better than an API key
// (docs/integrations.md).
func (a *API) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := &chargeplanev1.StreamEventsRequest{
		StationIds: operator.SplitList(q["station"]),
		Types:      operator.SplitList(q["type"]),
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("lastEventId")
	}
	if last != "" {
		id, err := strconv.ParseInt(last, 10, 64)
		if err != nil || id < 0 {
			writeError(w, http.StatusBadRequest, codes.InvalidArgument, "Last-Event-ID must be an event id")
			return
		}
		req.AfterId = id
	}
	bearer := r.Header.Get("Authorization")
	if tok := q.Get("access_token"); bearer == "" && tok != "" {
		bearer = "Bearer " + tok
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	md := metadata.MD{}
	if bearer != "" {
		md.Set("authorization", bearer)
	}
	if a.cfg.ForwardKey != "" {
		md = metadata.Join(md, access.ForwardedMetadata(a.cfg.ForwardKey, r.RemoteAddr))
	}
	stream, err := chargeplanev1.NewEventServiceClient(a.conn).StreamEvents(metadata.NewOutgoingContext(ctx, md), req)
	if err == nil {
		// The service sends its headers once subscribed; without them
		// the call was refused, and Recv says why.
		var hdr metadata.MD
		if hdr, err = stream.Header(); err == nil && len(hdr.Get(operator.EventsOpenHeader)) == 0 {
			_, err = stream.Recv()
			if err == nil {
				err = status.Error(codes.Internal, "event stream opened without its header")
			}
		}
	}
	if err != nil {
		errorHandler(ctx, nil, nil, w, r, err)
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// EventSource reconnects after this many ms, with Last-Event-ID.
	if _, err := fmt.Fprint(w, "retry: 3000\n\n"); err != nil || rc.Flush() != nil {
		return
	}

	type received struct {
		e   *chargeplanev1.Event
		err error
	}
	next := make(chan received)
	go func() {
		for {
			m, err := stream.Recv()
			select {
			case next <- received{m.GetEvent(), err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	beat := time.NewTicker(a.cfg.EventHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case got := <-next:
			if got.err != nil {
				// The server is stopping or the stream failed: the client
				// reconnects and resumes.
				if status.Code(got.err) != codes.Canceled {
					a.logger.Debug("event stream ended", "err", got.err)
				}
				return
			}
			b, err := sseData(got.e)
			if err != nil {
				a.logger.Error("encode event", "err", err)
				continue
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", got.e.GetId(), got.e.GetType(), b); err != nil || rc.Flush() != nil {
				return
			}
			beat.Reset(a.cfg.EventHeartbeat)
		}
	}
}

// sseData is the event's JSON (the api/event.Event form, one line), the
// same body a webhook receives.
func sseData(e *chargeplanev1.Event) ([]byte, error) {
	payload, err := protojson.Marshal(e.GetPayload())
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(event.Event{
		ID: e.GetId(), Type: event.Type(e.GetType()), Time: e.GetTime().AsTime(), StationID: e.GetStationId(), Payload: payload,
	})
	// protojson may emit spaces but never a newline; stay safe anyway.
	return []byte(strings.ReplaceAll(string(b), "\n", "")), err
}
