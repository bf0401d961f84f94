package operator

import (
	"context"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// TransactionStore is what TransactionService needs from the store.
type TransactionStore interface {
	GetTransaction(ctx context.Context, id int64) (*store.Transaction, error)
	ListTransactions(ctx context.Context, f store.TransactionFilter, p store.Page) ([]store.Transaction, int64, error)
}

// TransactionService implements chargeplane.v1.TransactionService.
type TransactionService struct {
	chargeplanev1.UnimplementedTransactionServiceServer

	txs    TransactionStore
	logger *slog.Logger
}

// NewTransactionService returns the read side of charging sessions.
func NewTransactionService(txs TransactionStore, logger *slog.Logger) *TransactionService {
	if logger == nil {
		logger = slog.Default()
	}
	return &TransactionService{txs: txs, logger: logger}
}

// GetTransaction returns one transaction with its meter values.
func (s *TransactionService) GetTransaction(ctx context.Context, req *chargeplanev1.GetTransactionRequest) (*chargeplanev1.GetTransactionResponse, error) {
	if req.GetId() <= 0 {
		return nil, status.Error(codes.InvalidArgument, "id must be a positive transaction id")
	}
	t, err := s.txs.GetTransaction(ctx, req.GetId())
	if err != nil {
		return nil, storeError(ctx, s.logger, err, fmt.Sprintf("transaction %d not found", req.GetId()))
	}
	return &chargeplanev1.GetTransactionResponse{Transaction: TransactionToProto(t)}, nil
}

// ListTransactions returns transactions newest first, one page at a time.
func (s *TransactionService) ListTransactions(ctx context.Context, req *chargeplanev1.ListTransactionsRequest) (*chargeplanev1.ListTransactionsResponse, error) {
	page, err := readNewestPage(req, transactionCursor)
	if err != nil {
		return nil, err
	}
	f := store.TransactionFilter{StationID: req.GetStationId(), IDToken: req.GetIdToken(), Active: req.Active}
	if f.StationID != "" {
		if err := ValidateStationRef(f.StationID); err != nil {
			return nil, invalid(err)
		}
	}
	if f.IDToken != "" {
		if err := validateTokenText("id_token", f.IDToken, false); err != nil {
			return nil, invalid(err)
		}
	}
	if req.StartedAfter != nil {
		if err := validateTimestamp("started_after", req.StartedAfter); err != nil {
			return nil, invalid(err)
		}
		f.From = req.StartedAfter.AsTime()
	}
	if req.StartedBefore != nil {
		if err := validateTimestamp("started_before", req.StartedBefore); err != nil {
			return nil, invalid(err)
		}
		f.To = req.StartedBefore.AsTime()
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return nil, status.Error(codes.InvalidArgument, "started_after must be before started_before")
	}
	rows, total, err := s.txs.ListTransactions(ctx, f, page.byID())
	if err != nil {
		return nil, storeError(ctx, s.logger, err, "")
	}
	resp := &chargeplanev1.ListTransactionsResponse{TotalSize: total}
	rows, resp.NextPageToken = cutNewest(page, rows, func(t *store.Transaction) int64 { return t.ID })
	resp.Transactions = make([]*chargeplanev1.Transaction, 0, len(rows))
	for i := range rows {
		resp.Transactions = append(resp.Transactions, TransactionToProto(&rows[i]))
	}
	return resp, nil
}

// TransactionToProto converts a stored transaction, with whatever meter
// values it carries, for the API.
func TransactionToProto(t *store.Transaction) *chargeplanev1.Transaction {
	out := &chargeplanev1.Transaction{
		Id:             t.ID,
		TransactionUid: t.TransactionUID,
		StationId:      t.StationID,
		OcppVersion:    t.OCPPVersion.Text(),
		EvseId:         int32(t.EVSEID),
		ConnectorId:    int32(t.ConnectorID),
		IdToken:        t.IDToken,
		IdTokenType:    t.IDTokenType,
		AuthStatus:     t.AuthStatus,
		StopIdToken:    t.StopIDToken,
		StartedAt:      ts(t.StartedAt),
		StoppedAt:      tsp(t.StoppedAt),
		MeterStartWh:   t.MeterStartWh,
		MeterStopWh:    t.MeterStopWh,
		EnergyWh:       t.EnergyWh,
		Status:         t.Status,
		StopReason:     t.StopReason,
		Offline:        t.Offline,
		SeqNo:          int32(t.SeqNo),
		StartReceived:  t.StartedSeen,
		CreatedAt:      ts(t.CreatedAt),
		UpdatedAt:      ts(t.UpdatedAt),
		MeterValues:    make([]*chargeplanev1.MeterValue, 0, len(t.MeterValues)),
		Cost:           t.Cost,
		CostCurrency:   t.CostCurrency,
	}
	for i := range t.MeterValues {
		out.MeterValues = append(out.MeterValues, MeterValueToProto(&t.MeterValues[i]))
	}
	return out
}

// MeterValueToProto converts a stored sampled value for the API.
func MeterValueToProto(m *store.MeterValue) *chargeplanev1.MeterValue {
	return &chargeplanev1.MeterValue{
		Timestamp:   ts(m.SampledAt),
		Value:       m.Value,
		ValueWh:     m.ValueWh,
		Measurand:   m.Measurand,
		Phase:       m.Phase,
		Unit:        m.Unit,
		Multiplier:  int32(m.Multiplier),
		Context:     m.Context,
		Location:    m.Location,
		Format:      m.Format,
		EvseId:      int32(m.EVSEID),
		ConnectorId: int32(m.ConnectorID),
	}
}

// TransactionSummaryToProto is the short form the station resource lists
// its active sessions in.
func TransactionSummaryToProto(t *store.Transaction) *chargeplanev1.TransactionSummary {
	return &chargeplanev1.TransactionSummary{
		Id:             t.ID,
		TransactionUid: t.TransactionUID,
		EvseId:         int32(t.EVSEID),
		ConnectorId:    int32(t.ConnectorID),
		IdToken:        t.IDToken,
		StartedAt:      ts(t.StartedAt),
		MeterStartWh:   t.MeterStartWh,
		EnergyWh:       t.EnergyWh,
	}
}
