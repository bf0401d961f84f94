package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/admission"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Limits from OCPP: a security-profile password is 16–40 characters
// (2.0.1; 1.6 allows 16–20, a subset); the identity's are
// ocppj.ValidateIdentity's.
const (
	MinPasswordLen    = 16
	MaxPasswordLen    = 40
	MaxStationNameLen = 255
	DefaultPageSize   = 50
	MaxPageSize       = 1000
)

// HTTPCodeHeader is response metadata the REST gateway turns into the HTTP
// status (201 for a creation); it is not forwarded to REST clients.
const HTTPCodeHeader = "x-http-code"

// StationStore is what StationService needs from the store.
type StationStore interface {
	CreateStation(ctx context.Context, st *store.Station) error
	GetStation(ctx context.Context, id string) (*store.Station, error)
	ListStations(ctx context.Context, p store.Page, f store.StationFilter) ([]store.Station, int64, error)
	SetOnboarding(ctx context.Context, id, to string, from []string, passwordHash *string, profile *int) (*store.Station, error)
	SetBlocked(ctx context.Context, id string, blocked bool) (*store.Station, error)
	UpdateStation(ctx context.Context, id string, p store.StationPatch) (*store.Station, error)
	DeleteStation(ctx context.Context, id string) error
	ActiveTransactions(ctx context.Context, stationID string) ([]store.Transaction, error)
}

// Disconnector closes a station's current connection (the core's control
// plane asks its gateway).
type Disconnector interface {
	CloseStationConnection(ctx context.Context, st *store.Station, reason string) error
}

// StationService implements chargeplane.v1.StationService.
type StationService struct {
	chargeplanev1.UnimplementedStationServiceServer

	stations StationStore
	logger   *slog.Logger
	conns    Disconnector // nil: a change that should close a connection does not
	cmds     commands     // nil sender: accepting a station triggers no boot
}

// WithDisconnector makes raising a station's security profile close its
// current connection, which was admitted by the weaker check, and blocking
// a station close its connection.
func (s *StationService) WithDisconnector(d Disconnector) *StationService {
	s.conns = d
	return s
}

// validateProfile checks a station's security profile against whether it
// has a password: profiles 1 and 2 are Basic auth.
func validateProfile(profile int32, hasPassword bool) error {
	if profile < admission.ProfileNone || profile > admission.MaxProfile {
		return fmt.Errorf("security_profile must be between 0 and %d", admission.MaxProfile)
	}
	if (profile == admission.ProfileBasic || profile == admission.ProfileTLSBasic) && !hasPassword {
		return fmt.Errorf("security_profile %d needs a password", profile)
	}
	return nil
}

// WithCommands makes accepting a connected station send it TriggerMessage
// BootNotification, so that it need not wait for its retry interval.
func (s *StationService) WithCommands(cmds *command.Sender) *StationService {
	s.cmds = commands{s: cmds, log: s.logger}
	return s
}

// NewStationService returns the station management service.
func NewStationService(stations StationStore, logger *slog.Logger) *StationService {
	if logger == nil {
		logger = slog.Default()
	}
	return &StationService{stations: stations, logger: logger}
}

// ValidateStationRef says why id cannot name a station in a request about
// an existing one. It is looser than ocppj.ValidateIdentity, the rule for
// registering a station: one registered before that rule (e.g. "a/b")
// stays readable and deletable (REST takes it percent-encoded). Any id is
// safe to look up, the queries are parameterised; this only bounds it.
func ValidateStationRef(id string) error {
	switch {
	case id == "":
		return errors.New("station id is required")
	case len(id) > ocppj.MaxIdentityLen:
		return fmt.Errorf("station id is longer than %d characters", ocppj.MaxIdentityLen)
	}
	return nil
}

// ValidateStationPassword reports why pw cannot be a Basic-auth password.
func ValidateStationPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen || n > MaxPasswordLen {
		return fmt.Errorf("password must be %d to %d characters", MinPasswordLen, MaxPasswordLen)
	}
	for _, r := range pw {
		if r < ' ' || r == 0x7f {
			return fmt.Errorf("password must not contain control characters")
		}
	}
	return nil
}

func validateName(name string) error {
	if utf8.RuneCountInString(name) > MaxStationNameLen {
		return fmt.Errorf("name is longer than %d characters", MaxStationNameLen)
	}
	return nil
}

func invalid(err error) error { return status.Error(codes.InvalidArgument, err.Error()) }

func notFoundMsg(id string) string { return fmt.Sprintf("station %q not found", id) }

// CreateStation registers a station so that it may connect.
func (s *StationService) CreateStation(ctx context.Context, req *chargeplanev1.CreateStationRequest) (*chargeplanev1.CreateStationResponse, error) {
	if err := ocppj.ValidateIdentity(req.GetId()); err != nil {
		return nil, invalid(err)
	}
	if err := validateName(req.GetName()); err != nil {
		return nil, invalid(err)
	}
	st := &store.Station{ID: req.GetId(), Name: req.GetName(), Status: "Unavailable"}
	if req.GetPassword() != "" {
		if err := ValidateStationPassword(req.GetPassword()); err != nil {
			return nil, invalid(err)
		}
		h, err := auth.HashSecret(req.GetPassword())
		if err != nil {
			s.logger.ErrorContext(ctx, "hash station password", "err", err)
			return nil, status.Error(codes.Internal, "internal error")
		}
		st.PasswordHash = h
	}
	st.SecurityProfile = admission.DefaultProfile(st.PasswordHash != "")
	if req.SecurityProfile != nil {
		if err := validateProfile(req.GetSecurityProfile(), st.PasswordHash != ""); err != nil {
			return nil, invalid(err)
		}
		st.SecurityProfile = int(req.GetSecurityProfile())
	}
	if err := s.stations.CreateStation(ctx, st); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return nil, status.Errorf(codes.AlreadyExists, "station %q already exists", st.ID)
		}
		return nil, storeError(ctx, s.logger, err, notFoundMsg(st.ID))
	}
	// Read back what the store made of it (timestamps, defaults).
	created, err := s.stations.GetStation(ctx, st.ID)
	if err != nil {
		return nil, storeError(ctx, s.logger, err, notFoundMsg(st.ID))
	}
	// Best effort: only the REST gateway reads it, and a failure to set a
	// header must not undo a committed creation.
	_ = grpc.SetHeader(ctx, metadata.Pairs(HTTPCodeHeader, "201"))
	s.logger.InfoContext(ctx, "station created", "station", st.ID, "has_password", st.PasswordHash != "", "security_profile", st.SecurityProfile)
	return &chargeplanev1.CreateStationResponse{Station: StationToProto(created)}, nil
}

// GetStation returns one station.
func (s *StationService) GetStation(ctx context.Context, req *chargeplanev1.GetStationRequest) (*chargeplanev1.GetStationResponse, error) {
	if err := ValidateStationRef(req.GetId()); err != nil {
		return nil, invalid(err)
	}
	st, err := s.stations.GetStation(ctx, req.GetId())
	if err != nil {
		return nil, storeError(ctx, s.logger, err, notFoundMsg(req.GetId()))
	}
	out, err := s.withActiveTransactions(ctx, st)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.GetStationResponse{Station: out}, nil
}

// pageTokenPrefix is the page token kind of the stations' and the users'
// lists (the first lists, hence the plain name).
const pageTokenPrefix = "v1:"

// listStationsFilter reads ListStations' filters.
func listStationsFilter(req *chargeplanev1.ListStationsRequest) (store.StationFilter, error) {
	f, err := stationFilter(req.GetStatus())
	if err != nil {
		return f, err
	}
	yes, no := true, false
	// The console's classification (stations-model.js): pending first,
	// then offline, then faulted; online is what is left.
	switch req.GetState() {
	case "":
	case "pending":
		f.Pending = &yes
	case "offline":
		f.Pending, f.Connected = &no, &no
	case "faulted":
		f.Pending, f.Connected, f.Faulted = &no, &yes, &yes
	case "online":
		f.Pending, f.Connected, f.Faulted = &no, &yes, &no
	default:
		return f, errors.New("state must be online, offline, faulted or pending")
	}
	if v := req.GetOcppVersion(); v != "" {
		var ok bool
		if f.OCPPVersion, ok = ocppj.ParseVersion(v); !ok {
			return f, errors.New("ocpp_version must be 1.6 or 2.0.1")
		}
	}
	f.Search = strings.TrimSpace(req.GetSearch())
	if utf8.RuneCountInString(f.Search) > 64 {
		return f, errors.New("search is longer than 64 characters")
	}
	return f, nil
}

// ListStations returns stations ordered by id, one page at a time.
func (s *StationService) ListStations(ctx context.Context, req *chargeplanev1.ListStationsRequest) (*chargeplanev1.ListStationsResponse, error) {
	page, err := readPage(req, pageTokenPrefix, ValidateStationRef)
	if err != nil {
		return nil, err
	}
	filter, err := listStationsFilter(req)
	if err != nil {
		return nil, invalid(err)
	}
	rows, total, err := s.stations.ListStations(ctx, page.byID(), filter)
	if err != nil {
		return nil, storeError(ctx, s.logger, err, "")
	}
	resp := &chargeplanev1.ListStationsResponse{TotalSize: total}
	rows, resp.NextPageToken = cutPage(page, rows, func(st *store.Station) string { return st.ID })
	resp.Stations = make([]*chargeplanev1.Station, 0, len(rows))
	for i := range rows {
		resp.Stations = append(resp.Stations, StationToProto(&rows[i]))
	}
	return resp, nil
}

// UpdateStation changes the fields present in the request; an empty
// password removes the station's password.
func (s *StationService) UpdateStation(ctx context.Context, req *chargeplanev1.UpdateStationRequest) (*chargeplanev1.UpdateStationResponse, error) {
	if err := ValidateStationRef(req.GetId()); err != nil {
		return nil, invalid(err)
	}
	var patch store.StationPatch
	if req.Name != nil {
		if err := validateName(req.GetName()); err != nil {
			return nil, invalid(err)
		}
		name := req.GetName()
		patch.Name = &name
	}
	if req.Password != nil {
		hash := ""
		if req.GetPassword() != "" {
			if err := ValidateStationPassword(req.GetPassword()); err != nil {
				return nil, invalid(err)
			}
			h, err := auth.HashSecret(req.GetPassword())
			if err != nil {
				s.logger.ErrorContext(ctx, "hash station password", "err", err)
				return nil, status.Error(codes.Internal, "internal error")
			}
			hash = h
		}
		patch.PasswordHash = &hash
	}
	var before *store.Station
	if req.Password != nil || req.SecurityProfile != nil {
		var err error
		if before, err = s.stations.GetStation(ctx, req.GetId()); err != nil {
			return nil, storeError(ctx, s.logger, err, notFoundMsg(req.GetId()))
		}
		hasPassword := before.PasswordHash != ""
		if patch.PasswordHash != nil {
			hasPassword = *patch.PasswordHash != ""
		}
		profile := int32(before.SecurityProfile)
		switch {
		case req.SecurityProfile != nil:
			profile = req.GetSecurityProfile()
		case hasPassword && profile == admission.ProfileNone:
			// Giving a station a password means it is to be used.
			profile = admission.ProfileBasic
		case !hasPassword && profile == admission.ProfileBasic:
			profile = admission.ProfileNone
		}
		if err := validateProfile(profile, hasPassword); err != nil {
			return nil, invalid(err)
		}
		if p := int(profile); p != before.SecurityProfile {
			patch.SecurityProfile = &p
		}
	}
	st, err := s.stations.UpdateStation(ctx, req.GetId(), patch)
	if err != nil {
		return nil, storeError(ctx, s.logger, err, notFoundMsg(req.GetId()))
	}
	s.logger.InfoContext(ctx, "station updated", "station", st.ID, "name_changed", patch.Name != nil, "password_changed", patch.PasswordHash != nil,
		"security_profile", st.SecurityProfile)
	// st is read after the raise: a connection recorded before it is seen
	// here, one recorded after it is refused by the store (RecordAdmission).
	if before != nil && st.SecurityProfile > before.SecurityProfile && s.conns != nil && st.ConnectionID != "" {
		if st.ConnectionProfile < st.SecurityProfile {
			// The connection was admitted by a weaker path: the station
			// must come back through the stronger check.
			if err := s.conns.CloseStationConnection(ctx, st, "security profile raised"); err != nil {
				s.logger.ErrorContext(ctx, "could not close the connection of a station whose security profile was raised", "station", st.ID, "err", err)
			}
		} else {
			s.logger.InfoContext(ctx, "connection kept: it already proved the raised security profile", "station", st.ID,
				"connection", st.ConnectionID, "proved_profile", st.ConnectionProfile)
		}
	}
	out, err := s.withActiveTransactions(ctx, st)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.UpdateStationResponse{Station: out}, nil
}

// DeleteStation removes a station; a connected station is refused at its
// next admission.
func (s *StationService) DeleteStation(ctx context.Context, req *chargeplanev1.DeleteStationRequest) (*chargeplanev1.DeleteStationResponse, error) {
	if err := ValidateStationRef(req.GetId()); err != nil {
		return nil, invalid(err)
	}
	if err := s.stations.DeleteStation(ctx, req.GetId()); err != nil {
		return nil, storeError(ctx, s.logger, err, notFoundMsg(req.GetId()))
	}
	s.logger.InfoContext(ctx, "station deleted", "station", req.GetId())
	return &chargeplanev1.DeleteStationResponse{}, nil
}

// withActiveTransactions converts st and adds its sessions in progress
// and its newest firmware and log statuses.
// Only single-station answers carry them: a page of stations would cost a
// query per station.
func (s *StationService) withActiveTransactions(ctx context.Context, st *store.Station) (*chargeplanev1.Station, error) {
	out := StationToProto(st)
	txs, err := s.stations.ActiveTransactions(ctx, st.ID)
	if err != nil {
		return nil, storeError(ctx, s.logger, err, notFoundMsg(st.ID))
	}
	out.ActiveTransactions = make([]*chargeplanev1.TransactionSummary, 0, len(txs))
	for i := range txs {
		out.ActiveTransactions = append(out.ActiveTransactions, TransactionSummaryToProto(&txs[i]))
	}
	if r, ok := s.stations.(statusReportReader); ok {
		if err := addStatusReports(ctx, r, out); err != nil {
			return nil, storeError(ctx, s.logger, err, notFoundMsg(st.ID))
		}
	}
	return out, nil
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func tsp(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return ts(*t)
}

// StationToProto converts a stored station for the API; the password hash
// never leaves, only whether there is one.
func StationToProto(st *store.Station) *chargeplanev1.Station {
	statusText := st.Status
	switch {
	case !st.Connected:
		statusText = "Unavailable"
	case statusText == "":
		statusText = "Available"
	}
	out := &chargeplanev1.Station{
		Id:                    st.ID,
		Name:                  st.Name,
		Vendor:                st.Vendor,
		Model:                 st.Model,
		SerialNumber:          st.SerialNumber,
		FirmwareVersion:       st.FirmwareVersion,
		OcppVersion:           st.OCPPVersion.Text(),
		Status:                statusText,
		Connected:             st.Connected,
		LastSeen:              tsp(st.LastSeen),
		HasPassword:           st.PasswordHash != "",
		SecurityProfile:       int32(st.SecurityProfile),
		ChargeBoxSerialNumber: st.ChargeBoxSerialNumber,
		Iccid:                 st.ICCID,
		Imsi:                  st.IMSI,
		MeterType:             st.MeterType,
		MeterSerialNumber:     st.MeterSerialNumber,
		RegistrationStatus:    st.RegistrationStatus,
		Onboarding:            onboardingText(st.Onboarding),
		Blocked:               st.Blocked,
		LastBoot:              tsp(st.LastBoot),
		CreatedAt:             ts(st.CreatedAt),
		UpdatedAt:             ts(st.UpdatedAt),
		Connectors:            make([]*chargeplanev1.Connector, 0, len(st.Connectors)),
	}
	for _, c := range st.Connectors {
		out.Connectors = append(out.Connectors, &chargeplanev1.Connector{
			EvseId:          int32(c.EVSEID),
			ConnectorId:     int32(c.ConnectorID),
			Status:          c.Status,
			ErrorCode:       c.ErrorCode,
			UpdatedAt:       ts(c.UpdatedAt),
			Info:            c.Info,
			VendorId:        c.VendorID,
			VendorErrorCode: c.VendorErrorCode,
		})
	}
	return out
}
