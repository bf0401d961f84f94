package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/api/webhook"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// WebhookStore keeps webhooks.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, w *store.Webhook) error
	GetWebhook(ctx context.Context, id string) (*store.Webhook, error)
	ListWebhooks(ctx context.Context) ([]store.Webhook, error)
	UpdateWebhook(ctx context.Context, id string, p store.WebhookPatch) (*store.Webhook, error)
	DeleteWebhook(ctx context.Context, id string) error
	ListWebhookDeliveries(ctx context.Context, webhookID string, p store.SeqPage) ([]store.WebhookDelivery, error)
}

// WebhookService implements chargeplane.v1.WebhookService.
type WebhookService struct {
	chargeplanev1.UnimplementedWebhookServiceServer

	store  WebhookStore
	sealer *webhook.Sealer
	// allowPrivate: WEBHOOK_ALLOW_PRIVATE.
	allowPrivate bool
	// kick tells this instance's dispatcher that webhooks changed (nil:
	// none).
	kick func()
	log  *slog.Logger
}

// NewWebhookService returns the webhook service.
func NewWebhookService(st WebhookStore, sealer *webhook.Sealer, allowPrivate bool, kick func(), logger *slog.Logger) *WebhookService {
	if logger == nil {
		logger = slog.Default()
	}
	if kick == nil {
		kick = func() {}
	}
	return &WebhookService{store: st, sealer: sealer, allowPrivate: allowPrivate, kick: kick, log: logger}
}

const webhookDeliveryCursor = "whd1:"

func webhookNotFound(id string) string { return fmt.Sprintf("webhook %q not found", id) }

func checkWebhookName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > webhook.MaxNameLen {
		return "", status.Errorf(codes.InvalidArgument, "name is longer than %d characters", webhook.MaxNameLen)
	}
	return name, nil
}

// CreateWebhook adds a webhook and shows its secret this once.
func (s *WebhookService) CreateWebhook(ctx context.Context, req *chargeplanev1.CreateWebhookRequest) (*chargeplanev1.CreateWebhookResponse, error) {
	name, err := checkWebhookName(req.GetName())
	if err != nil {
		return nil, err
	}
	u, err := webhook.ParseURL(req.GetUrl(), s.allowPrivate)
	if err != nil {
		return nil, invalid(err)
	}
	types, err := event.ParseTypes(req.GetEventTypes())
	if err != nil {
		return nil, invalid(err)
	}
	stations, err := webhook.ParseStations(req.GetStationIds())
	if err != nil {
		return nil, invalid(err)
	}
	secret := req.GetSecret()
	if secret == "" {
		if secret, err = webhook.NewSecret(); err != nil {
			s.log.ErrorContext(ctx, "generate webhook secret", "err", err)
			return nil, status.Error(codes.Internal, "internal error")
		}
	} else if err := webhook.CheckSecret(secret); err != nil {
		return nil, invalid(err)
	}
	w := &store.Webhook{ID: uuid.NewString(), Name: name, URL: u.String(), EventTypes: webhook.JoinTypes(types),
		StationIDs: webhook.JoinStations(stations), Enabled: req.Enabled == nil || req.GetEnabled(), CreatedBy: RequestedBy(ctx)}
	if w.SealedSecret, err = s.sealer.Seal(w.ID, secret); err != nil {
		s.log.ErrorContext(ctx, "seal webhook secret", "err", err)
		return nil, status.Error(codes.Internal, "internal error")
	}
	if err := s.store.CreateWebhook(ctx, w); err != nil {
		if errors.Is(err, store.ErrTooManyWebhooks) {
			return nil, status.Errorf(codes.ResourceExhausted, "at most %d webhooks", store.MaxWebhooks)
		}
		return nil, storeError(ctx, s.log, err, "")
	}
	s.kick()
	_ = grpc.SetHeader(ctx, metadata.Pairs(HTTPCodeHeader, "201"))
	s.log.InfoContext(ctx, "webhook created", "webhook", w.ID, "by", w.CreatedBy)
	return &chargeplanev1.CreateWebhookResponse{Webhook: webhookToProto(w), Secret: secret}, nil
}

// ListWebhooks lists every webhook with its delivery status.
func (s *WebhookService) ListWebhooks(ctx context.Context, _ *chargeplanev1.ListWebhooksRequest) (*chargeplanev1.ListWebhooksResponse, error) {
	rows, err := s.store.ListWebhooks(ctx)
	if err != nil {
		return nil, storeError(ctx, s.log, err, "")
	}
	out := &chargeplanev1.ListWebhooksResponse{Webhooks: make([]*chargeplanev1.Webhook, 0, len(rows))}
	for i := range rows {
		out.Webhooks = append(out.Webhooks, webhookToProto(&rows[i]))
	}
	return out, nil
}

// GetWebhook returns one webhook with its delivery status.
func (s *WebhookService) GetWebhook(ctx context.Context, req *chargeplanev1.GetWebhookRequest) (*chargeplanev1.GetWebhookResponse, error) {
	w, err := s.store.GetWebhook(ctx, req.GetId())
	if err != nil {
		return nil, storeError(ctx, s.log, err, webhookNotFound(req.GetId()))
	}
	return &chargeplanev1.GetWebhookResponse{Webhook: webhookToProto(w)}, nil
}

// UpdateWebhook changes what is set in the request.
func (s *WebhookService) UpdateWebhook(ctx context.Context, req *chargeplanev1.UpdateWebhookRequest) (*chargeplanev1.UpdateWebhookResponse, error) {
	var p store.WebhookPatch
	if req.Name != nil {
		name, err := checkWebhookName(req.GetName())
		if err != nil {
			return nil, err
		}
		p.Name = &name
	}
	if req.Url != nil {
		u, err := webhook.ParseURL(req.GetUrl(), s.allowPrivate)
		if err != nil {
			return nil, invalid(err)
		}
		v := u.String()
		p.URL = &v
	}
	if req.GetUpdateEventTypes() {
		types, err := event.ParseTypes(req.GetEventTypes())
		if err != nil {
			return nil, invalid(err)
		}
		v := webhook.JoinTypes(types)
		p.EventTypes = &v
	} else if len(req.GetEventTypes()) > 0 {
		return nil, status.Error(codes.InvalidArgument, "event_types needs update_event_types: true (an empty list then selects every type)")
	}
	if req.GetUpdateStationIds() {
		stations, err := webhook.ParseStations(req.GetStationIds())
		if err != nil {
			return nil, invalid(err)
		}
		v := webhook.JoinStations(stations)
		p.StationIDs = &v
	} else if len(req.GetStationIds()) > 0 {
		return nil, status.Error(codes.InvalidArgument, "station_ids needs update_station_ids: true (an empty list then selects every station)")
	}
	if req.Enabled != nil {
		v := req.GetEnabled()
		p.Enabled = &v
	}
	var secret, generated string
	switch {
	case req.Secret != nil && req.GetRotateSecret():
		return nil, status.Error(codes.InvalidArgument, "set either secret or rotate_secret")
	case req.Secret != nil:
		secret = req.GetSecret()
		if err := webhook.CheckSecret(secret); err != nil {
			return nil, invalid(err)
		}
	case req.GetRotateSecret():
		var err error
		if generated, err = webhook.NewSecret(); err != nil {
			s.log.ErrorContext(ctx, "generate webhook secret", "err", err)
			return nil, status.Error(codes.Internal, "internal error")
		}
		secret = generated
	}
	if secret != "" {
		sealed, err := s.sealer.Seal(req.GetId(), secret)
		if err != nil {
			s.log.ErrorContext(ctx, "seal webhook secret", "err", err)
			return nil, status.Error(codes.Internal, "internal error")
		}
		p.SealedSecret = &sealed
	}
	w, err := s.store.UpdateWebhook(ctx, req.GetId(), p)
	if err != nil {
		return nil, storeError(ctx, s.log, err, webhookNotFound(req.GetId()))
	}
	s.kick()
	s.log.InfoContext(ctx, "webhook updated", "webhook", w.ID, "by", RequestedBy(ctx), "secret_changed", secret != "")
	return &chargeplanev1.UpdateWebhookResponse{Webhook: webhookToProto(w), Secret: generated}, nil
}

// DeleteWebhook removes a webhook.
func (s *WebhookService) DeleteWebhook(ctx context.Context, req *chargeplanev1.DeleteWebhookRequest) (*chargeplanev1.DeleteWebhookResponse, error) {
	if err := s.store.DeleteWebhook(ctx, req.GetId()); err != nil {
		return nil, storeError(ctx, s.log, err, webhookNotFound(req.GetId()))
	}
	s.kick()
	s.log.InfoContext(ctx, "webhook deleted", "webhook", req.GetId(), "by", RequestedBy(ctx))
	return &chargeplanev1.DeleteWebhookResponse{}, nil
}

// ListWebhookDeliveries returns a page of a webhook's delivery log.
func (s *WebhookService) ListWebhookDeliveries(ctx context.Context, req *chargeplanev1.ListWebhookDeliveriesRequest) (*chargeplanev1.ListWebhookDeliveriesResponse, error) {
	page, err := readNewestPage(req, webhookDeliveryCursor)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.GetWebhook(ctx, req.GetId()); err != nil {
		return nil, storeError(ctx, s.log, err, webhookNotFound(req.GetId()))
	}
	rows, err := s.store.ListWebhookDeliveries(ctx, req.GetId(), page.seq())
	if err != nil {
		return nil, storeError(ctx, s.log, err, "")
	}
	resp := &chargeplanev1.ListWebhookDeliveriesResponse{}
	rows, resp.NextPageToken = cutNewest(page, rows, func(r *store.WebhookDelivery) int64 { return r.ID })
	resp.Deliveries = make([]*chargeplanev1.WebhookDelivery, 0, len(rows))
	for _, r := range rows {
		resp.Deliveries = append(resp.Deliveries, &chargeplanev1.WebhookDelivery{
			Id: r.ID, EventId: r.EventID, EventType: r.EventType, Attempt: int32(r.Attempt), At: ts(r.At),
			Outcome: r.Outcome, HttpStatus: int32(r.HTTPStatus), Error: r.Error, DurationMs: r.DurationMS,
		})
	}
	return resp, nil
}

func webhookToProto(w *store.Webhook) *chargeplanev1.Webhook {
	types := []string{}
	for _, t := range webhook.SplitTypes(w.EventTypes) {
		types = append(types, string(t))
	}
	stations := webhook.SplitStations(w.StationIDs)
	if stations == nil {
		stations = []string{}
	}
	return &chargeplanev1.Webhook{
		Id: w.ID, Name: w.Name, Url: w.URL, EventTypes: types, StationIds: stations, Enabled: w.Enabled, CreatedBy: w.CreatedBy,
		CreatedAt: ts(w.CreatedAt), UpdatedAt: ts(w.UpdatedAt),
		Status: &chargeplanev1.WebhookStatus{
			Cursor: w.EventCursor, Attempts: int32(w.Attempts), NextAttemptAt: tsp(w.NextAttemptAt),
			LastSuccessAt: tsp(w.LastSuccessAt), LastErrorAt: tsp(w.LastErrorAt), LastError: w.LastError,
			FailingSince: tsp(w.FailingSince), Expired: w.Expired,
		},
	}
}
