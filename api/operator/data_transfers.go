package operator

import (
	"context"
	"log/slog"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// DataTransferStore is what DataTransferService reads.
type DataTransferStore interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
	ListDataTransfers(ctx context.Context, f store.DataTransferFilter, p store.Page) ([]store.DataTransfer, int64, error)
}

// DataTransferService implements chargeplane.v1.DataTransferService.
type DataTransferService struct {
	chargeplanev1.UnimplementedDataTransferServiceServer

	store DataTransferStore
	log   *slog.Logger
}

// NewDataTransferService returns the listing of stations' DataTransfers.
func NewDataTransferService(st DataTransferStore, logger *slog.Logger) *DataTransferService {
	if logger == nil {
		logger = slog.Default()
	}
	return &DataTransferService{store: st, log: logger}
}

const dataTransferCursor = "dt1:"

// ListDataTransfers returns the station's DataTransfers newest first, one
// page at a time.
func (s *DataTransferService) ListDataTransfers(ctx context.Context, req *chargeplanev1.ListDataTransfersRequest) (*chargeplanev1.ListDataTransfersResponse, error) {
	page, err := readNewestPage(req, dataTransferCursor)
	if err != nil {
		return nil, err
	}
	id := req.GetStationId()
	if err := ValidateStationRef(id); err != nil {
		return nil, invalid(err)
	}
	if _, err := s.store.GetStation(ctx, id); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(id))
	}
	f := store.DataTransferFilter{StationID: id, VendorID: req.GetVendorId(), MessageID: req.GetMessageId()}
	rows, total, err := s.store.ListDataTransfers(ctx, f, page.byID())
	if err != nil {
		return nil, storeError(ctx, s.log, err, "")
	}
	resp := &chargeplanev1.ListDataTransfersResponse{Total: total}
	rows, resp.NextPageToken = cutNewest(page, rows, func(d *store.DataTransfer) int64 { return d.ID })
	resp.DataTransfers = make([]*chargeplanev1.StationDataTransfer, 0, len(rows))
	for i := range rows {
		d := &rows[i]
		out := &chargeplanev1.StationDataTransfer{Id: d.ID, OcppVersion: d.OCPPVersion.Text(), VendorId: d.VendorID,
			MessageId: d.MessageID, Status: d.Status, ReceivedAt: ts(d.ReceivedAt)}
		if d.Data != "" {
			out.Data = &structpb.Value{}
			if err := protojson.Unmarshal([]byte(d.Data), out.Data); err != nil {
				s.log.WarnContext(ctx, "stored DataTransfer data unreadable", "station", id, "id", d.ID, "err", err)
				out.Data = nil
			}
		}
		resp.DataTransfers = append(resp.DataTransfers, out)
	}
	return resp, nil
}
