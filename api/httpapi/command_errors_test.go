package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// The REST statuses of a command's outcomes are part of the API contract
// (cmd-contract: 409, 504, 502, 400, 404) and the body carries the details.
func TestCommandErrorsOverREST(t *testing.T) {
	for _, tc := range []struct {
		err        error
		status     int
		reason     string
		wantDetail map[string]string
	}{
		{fmt.Errorf("x: %w", command.ErrNotConnected), http.StatusConflict, command.ReasonNotConnected, nil},
		{command.ErrUnknownVersion, http.StatusConflict, command.ReasonUnknownVersion, nil},
		{fmt.Errorf("x: %w", command.ErrTimeout), http.StatusGatewayTimeout, command.ReasonTimeout, nil},
		{&command.ChargerError{Code: ocppj.CodeNotSupported, Description: "no way"}, http.StatusBadGateway, command.ReasonChargerCallError,
			map[string]string{"code": "NotSupported", "description": "no way"}},
		{&command.InvalidError{Reason: "bad payload"}, http.StatusBadRequest, command.ReasonInvalidCommand, map[string]string{"reason": "bad payload"}},
		{command.ErrStationNotFound, http.StatusNotFound, command.ReasonStationNotFound, nil},
		{errors.New("boom"), http.StatusInternalServerError, "", nil},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/api/v1/stations/CP1/call", nil)
		errorHandler(req.Context(), nil, nil, rec, req, command.Status(tc.err))
		if rec.Code != tc.status {
			t.Errorf("%v: HTTP %d, want %d", tc.err, rec.Code, tc.status)
		}
		var body struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Details []struct {
				Type     string            `json:"@type"`
				Reason   string            `json:"reason"`
				Domain   string            `json:"domain"`
				Metadata map[string]string `json:"metadata"`
			} `json:"details"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: body %s: %v", tc.err, rec.Body, err)
		}
		if tc.reason == "" {
			if len(body.Details) != 0 || body.Message != "internal error" {
				t.Errorf("internal error leaks: %s", rec.Body)
			}
			continue
		}
		if len(body.Details) != 1 || body.Details[0].Reason != tc.reason || body.Details[0].Domain != command.ErrorDomain ||
			body.Details[0].Type != "type.googleapis.com/google.rpc.ErrorInfo" {
			t.Errorf("%v: details %s", tc.err, rec.Body)
			continue
		}
		for k, v := range tc.wantDetail {
			if body.Details[0].Metadata[k] != v {
				t.Errorf("%v: metadata %s = %q, want %q", tc.err, k, body.Details[0].Metadata[k], v)
			}
		}
	}
}
