package v201

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/customerinfo"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// Customer information (N09, N10): the request is recorded before it is
// sent, its answer recorded with what it asked of the CSMS's own data
// (api/customerinfo); the station's report arrives in
// NotifyCustomerInformation parts under the request id.

// CustomerRequests carries out customer information requests (a
// customerinfo.Requests).
type CustomerRequests interface {
	Create(ctx context.Context, r customerinfo.Request) (*ocpp201.CustomerInformationRequest, error)
	Answered(ctx context.Context, stationID string, req *ocpp201.CustomerInformationRequest, status string) (*customerinfo.Outcome, error)
	Unanswered(ctx context.Context, stationID string, requestID int, why string) error
}

func (c commands) customerInformation(ctx context.Context, m command.Meta, in *chargeplanev1.CustomerInformationRequest) (*ocpp201.CustomerInformationRequest, error) {
	r := customerinfo.Request{StationID: m.StationID, RequestedBy: m.RequestedBy, RequestID: command.RequestID(in.GetRequestId()),
		Report: in.GetReport(), Clear: in.GetClear(), IDToken: in.GetIdToken(), IDTokenType: in.GetIdTokenType(),
		CustomerIdentifier: in.GetCustomerIdentifier(), ExportCSMSData: in.GetExportCsmsData(), ClearCSMSData: in.GetClearCsmsData()}
	if h := in.GetCustomerCertificate(); h != nil {
		r.Certificate = &ocpp201.CertificateHashData{HashAlgorithm: ocpp201.HashAlgorithmEnum(h.GetHashAlgorithm()),
			IssuerNameHash: h.GetIssuerNameHash(), IssuerKeyHash: h.GetIssuerKeyHash(), SerialNumber: h.GetSerialNumber()}
	}
	req, err := c.Customers.Create(ctx, r)
	switch {
	case errors.Is(err, customerinfo.ErrInvalid):
		return nil, command.Invalid("%s", err.Error())
	case errors.Is(err, store.ErrAlreadyExists):
		return nil, &command.RefusedError{Code: codes.AlreadyExists, Message: fmt.Sprintf("request_id %d was used before on this station", r.RequestID)}
	}
	return req, err
}

func (c commands) customerInformationAnswered(ctx context.Context, a answer[ocpp201.CustomerInformationRequest, ocpp201.CustomerInformationResponse]) (*customerinfo.Outcome, error) {
	return c.Customers.Answered(ctx, a.StationID, a.Request, string(a.Response.Status))
}

func (c commands) customerInformationUnanswered(ctx context.Context, m command.Meta, req *ocpp201.CustomerInformationRequest, err error) error {
	return c.Customers.Unanswered(ctx, m.StationID, req.RequestId, command.Describe(err))
}

func customerInformationSent(a answer[ocpp201.CustomerInformationRequest, ocpp201.CustomerInformationResponse], o *customerinfo.Outcome) (command.CustomerInfoReply, error) {
	return command.CustomerInfoReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), Request: o.Request, CSMSData: o.CSMSData}, nil
}
