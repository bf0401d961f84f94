// Package httpapi serves the core's HTTP side: the REST API (grpc-gateway,
// mounted at /api/v1, forwarding every call through the core's own gRPC
// listener so the same interceptors guard both), liveness and readiness.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/chargeplane/chargeplane/api/access"
	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/console"
	"github.com/chargeplane/chargeplane/api/operator"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// DefaultMaxBodyBytes bounds a REST request body.
const DefaultMaxBodyBytes = 1 << 20

// Config configures the HTTP handler.
type Config struct {
	// GRPCEndpoint is the core's own gRPC listener ("127.0.0.1:9090").
	GRPCEndpoint string
	// Ready reports whether the core can serve (database and bus up); nil
	// means always ready.
	Ready func(ctx context.Context) error
	// OpenAPI, when set, is served at /api/v1/openapi.json.
	OpenAPI []byte
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Console, when set, serves the operator web console at "/" and
	// under console.Prefix; the REST API keeps /api/v1.
	Console http.Handler
	// ForwardKey, when set, is sent with every forwarded call beside the
	// HTTP client's address, so that the core's guard can trust that
	// address (access.ForwardedMetadata).
	ForwardKey string
	// EventHeartbeat is how often an idle event stream gets a heartbeat
	// comment (DefaultEventHeartbeat when 0).
	EventHeartbeat time.Duration
	Logger         *slog.Logger
}

// API is the core's HTTP handler.
type API struct {
	handler http.Handler
	conn    *grpc.ClientConn
	cfg     Config
	logger  *slog.Logger
}

// New connects the REST gateway to the gRPC endpoint (lazily: the listener
// may start after this) and builds the handler. Close releases the
// connection.
func New(cfg Config) (*API, error) {
	if cfg.GRPCEndpoint == "" {
		return nil, errors.New("httpapi: GRPCEndpoint is required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.EventHeartbeat <= 0 {
		cfg.EventHeartbeat = DefaultEventHeartbeat
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	conn, err := grpc.NewClient(cfg.GRPCEndpoint, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler())) // a REST request's trace goes on into gRPC
	if err != nil {
		return nil, fmt.Errorf("httpapi: dial %s: %w", cfg.GRPCEndpoint, err)
	}
	a := &API{conn: conn, cfg: cfg, logger: logger}

	var opts []runtime.ServeMuxOption
	if cfg.ForwardKey != "" {
		opts = append(opts, runtime.WithMetadata(func(_ context.Context, r *http.Request) metadata.MD {
			return access.ForwardedMetadata(cfg.ForwardKey, r.RemoteAddr)
		}))
	}
	gw := NewGatewayMux(opts...)
	ctx := context.Background()
	if err := chargeplanev1.RegisterAuthServiceHandler(ctx, gw, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("httpapi: register auth: %w", err)
	}
	if err := chargeplanev1.RegisterStationServiceHandler(ctx, gw, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("httpapi: register stations: %w", err)
	}
	if err := chargeplanev1.RegisterIdTokenServiceHandler(ctx, gw, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("httpapi: register id tokens: %w", err)
	}
	if err := chargeplanev1.RegisterTransactionServiceHandler(ctx, gw, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("httpapi: register transactions: %w", err)
	}
	if err := chargeplanev1.RegisterCommandServiceHandler(ctx, gw, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("httpapi: register commands: %w", err)
	}
	if err := chargeplanev1.RegisterRemoteControlServiceHandler(ctx, gw, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("httpapi: register remote control: %w", err)
	}
	if err := chargeplanev1.RegisterConfigurationServiceHandler(ctx, gw, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("httpapi: register configuration: %w", err)
	}
	for name, register := range map[string]func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		"users":                chargeplanev1.RegisterUserServiceHandler,
		"api keys":             chargeplanev1.RegisterApiKeyServiceHandler,
		"audit":                chargeplanev1.RegisterAuditServiceHandler,
		"firmware":             chargeplanev1.RegisterFirmwareServiceHandler,
		"monitoring":           chargeplanev1.RegisterMonitoringServiceHandler,
		"display messages":     chargeplanev1.RegisterDisplayMessageServiceHandler,
		"customer information": chargeplanev1.RegisterCustomerInformationServiceHandler,
		"data transfers":       chargeplanev1.RegisterDataTransferServiceHandler,
		"reservations":         chargeplanev1.RegisterReservationServiceHandler,
		"local list":           chargeplanev1.RegisterLocalListServiceHandler,
		"smart charging":       chargeplanev1.RegisterSmartChargingServiceHandler,
		"tariffs":              chargeplanev1.RegisterTariffServiceHandler,
		"certificates":         chargeplanev1.RegisterCertificateServiceHandler,
		"security events":      chargeplanev1.RegisterSecurityEventServiceHandler,
		"webhooks":             chargeplanev1.RegisterWebhookServiceHandler,
	} {
		if err := register(ctx, gw, conn); err != nil {
			conn.Close()
			return nil, fmt.Errorf("httpapi: register %s: %w", name, err)
		}
	}

	mux := http.NewServeMux()
	mux.Handle("/api/v1/", a.limitBody(gw))
	mux.HandleFunc("GET "+EventsPath, a.events)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", a.readyz)
	if cfg.OpenAPI != nil {
		mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(cfg.OpenAPI)
		})
	}
	if cfg.Console != nil {
		mux.Handle("GET /{$}", cfg.Console)
		mux.Handle("GET "+console.Prefix, cfg.Console)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codes.NotFound, "not found")
	})
	a.handler = mux
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// Close releases the gRPC connection.
func (a *API) Close() error { return a.conn.Close() }

// limitBody bounds request bodies. The gateway reports a failed body read
// as a plain InvalidArgument, so the limit being hit is remembered in the
// request context for errorHandler to answer 413.
func (a *API) limitBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > a.cfg.MaxBodyBytes {
			writeError(w, http.StatusRequestEntityTooLarge, codes.InvalidArgument, "request body too large")
			return
		}
		hit := new(bool)
		r = r.WithContext(context.WithValue(r.Context(), tooLargeKey{}, hit))
		r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes), hit: hit}
		h.ServeHTTP(w, r)
	})
}

type tooLargeKey struct{}

type limitedBody struct {
	io.ReadCloser
	hit *bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		*b.hit = true
	}
	return n, err
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := a.cfg.Ready(ctx); err != nil {
			a.logger.WarnContext(ctx, "not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// NewGatewayMux returns the grpc-gateway mux with the API's conventions:
// lowerCamelCase JSON with every field present (so "connected": false
// shows), unknown fields refused, every error a JSON {"code","message"}
// body, 201 for creations.
func NewGatewayMux(opts ...runtime.ServeMuxOption) *runtime.ServeMux {
	marshaler := &runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}}
	return runtime.NewServeMux(append([]runtime.ServeMuxOption{
		runtime.WithMarshalerOption(runtime.MIMEWildcard, marshaler),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
		runtime.WithForwardResponseOption(forwardHTTPCode),
		// Only Authorization (which the gateway always forwards) reaches the
		// services: clients must not inject arbitrary gRPC metadata.
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
		// The services' response metadata is internal (x-http-code).
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingTrailerMatcher(func(string) (string, bool) { return "", false }),
	}, opts...)...)
}

// errorBody is the JSON of every error; it matches the OpenAPI rpcStatus
// schema (code is the gRPC status code; details the status details, e.g. a
// google.rpc.ErrorInfo with the charger's CALLERROR code and description).
type errorBody struct {
	Code    codes.Code        `json:"code"`
	Message string            `json:"message"`
	Details []json.RawMessage `json:"details,omitempty"`
}

func writeJSON(w http.ResponseWriter, httpStatus int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(httpStatus)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, httpStatus int, code codes.Code, msg string) {
	if code == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="chargeplane"`)
	}
	writeJSON(w, httpStatus, errorBody{Code: code, Message: msg})
}

func errorHandler(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	var custom *runtime.HTTPStatusError
	httpStatus := 0
	if errors.As(err, &custom) {
		httpStatus = custom.HTTPStatus
		err = custom.Err
	}
	if hit, _ := r.Context().Value(tooLargeKey{}).(*bool); hit != nil && *hit {
		writeError(w, http.StatusRequestEntityTooLarge, codes.InvalidArgument, "request body too large")
		return
	}
	s := status.Convert(err)
	if httpStatus == 0 {
		httpStatus = commandHTTPStatus(s)
	}
	if httpStatus == 0 {
		httpStatus = runtime.HTTPStatusFromCode(s.Code())
	}
	body := errorBody{Code: s.Code(), Message: s.Message()}
	for _, d := range s.Proto().GetDetails() {
		if b, err := protojson.Marshal(d); err == nil {
			body.Details = append(body.Details, b)
		}
	}
	if s.Code() == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="chargeplane"`)
	}
	for _, d := range s.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			w.Header().Set("Retry-After", strconv.Itoa(int(ri.GetRetryDelay().AsDuration().Seconds())+1))
		}
	}
	writeJSON(w, httpStatus, body)
}

// commandHTTPStatus maps the outcomes of a charger command (api/command
// Status) whose gRPC code alone maps to the wrong HTTP status: a station
// that is not connected is a conflict with the resource's state (409, not
// 400), and a charger's CALLERROR is an upstream failure (502, not 409).
// 0 means the default mapping applies.
func commandHTTPStatus(s *status.Status) int {
	for _, d := range s.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != command.ErrorDomain {
			continue
		}
		switch {
		case s.Code() == codes.FailedPrecondition && (info.GetReason() == command.ReasonNotConnected || info.GetReason() == command.ReasonUnknownVersion):
			return http.StatusConflict
		case s.Code() == codes.Aborted && info.GetReason() == command.ReasonChargerCallError:
			return http.StatusBadGateway
		case s.Code() == codes.DeadlineExceeded:
			return http.StatusGatewayTimeout
		}
	}
	return 0
}

func routingErrorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, httpStatus int) {
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		writeError(w, httpStatus, codes.Unimplemented, "method not allowed")
	case http.StatusNotFound:
		writeError(w, httpStatus, codes.NotFound, "not found")
	case http.StatusBadRequest:
		writeError(w, httpStatus, codes.InvalidArgument, "bad request")
	default:
		writeError(w, httpStatus, codes.Internal, http.StatusText(httpStatus))
	}
}

// forwardHTTPCode turns the service's x-http-code response metadata into
// the HTTP status (201 Created for CreateStation).
func forwardHTTPCode(ctx context.Context, w http.ResponseWriter, _ proto.Message) error {
	md, ok := runtime.ServerMetadataFromContext(ctx)
	if !ok {
		return nil
	}
	vals := md.HeaderMD.Get(operator.HTTPCodeHeader)
	if len(vals) == 0 {
		return nil
	}
	code, err := strconv.Atoi(vals[0])
	if err != nil || code < 200 || code > 299 {
		return nil
	}
	w.WriteHeader(code)
	return nil
}
