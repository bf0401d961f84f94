package store

import (
	"context"
	"errors"
	"testing"
)

// An erasure applies once, and only to a pending request: a second answer
// (a retried NotifyCustomerInformation) or one after the request failed
// erases nothing, counts nothing and leaves the request as it was.
func TestCustomerErasureOnlyWhilePending(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		for _, tok := range []string{"ALICE", "BOB"} {
			if err := s.CreateIDToken(ctx, &IDToken{Value: tok}); err != nil {
				t.Fatal(err)
			}
		}
		for id, tok := range map[int]string{1: "ALICE", 2: "BOB"} {
			if err := s.CreateCustomerRequest(ctx, &CustomerRequest{StationID: "CP1", RequestID: id, IDToken: tok, ClearCSMSData: true}); err != nil {
				t.Fatal(err)
			}
		}
		erase := func(id int, tok string) *CustomerRequest {
			t.Helper()
			r, err := s.AnswerCustomerRequest(ctx, CustomerAnswer{StationID: "CP1", RequestID: id, Status: "Accepted",
				Erase: &Erasure{IDToken: tok, Pseudonym: "erased-" + tok}})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := erase(1, "ALICE"); r.Status != "Accepted" || r.TokensDeleted != 1 || r.IDToken != "erased-ALICE" {
			t.Fatalf("first erasure: %+v", r)
		}
		// Recreated after the erasure: a second answer must not delete it.
		if err := s.CreateIDToken(ctx, &IDToken{Value: "ALICE"}); err != nil {
			t.Fatal(err)
		}
		if r := erase(1, "ALICE"); r.TokensDeleted != 1 {
			t.Errorf("second answer changed the request: %+v", r)
		}
		if _, err := s.GetIDTokenByValue(ctx, "ALICE"); err != nil {
			t.Errorf("second answer erased again: %v", err)
		}

		if err := s.FailPendingCustomerRequest(ctx, "CP1", 2, "timed out"); err != nil {
			t.Fatal(err)
		}
		if r := erase(2, "BOB"); r.Status != CustomerRequestFailed || r.TokensDeleted != 0 {
			t.Errorf("answer after the failure changed the request: %+v", r)
		}
		if _, err := s.GetIDTokenByValue(ctx, "BOB"); err != nil {
			t.Errorf("answer after the failure erased: %v", err)
		}
		if _, err := s.AnswerCustomerRequest(ctx, CustomerAnswer{StationID: "CP1", RequestID: 9, Status: "Accepted",
			Erase: &Erasure{IDToken: "X", Pseudonym: "erased-X"}}); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown request: %v, want ErrNotFound", err)
		}
	})
}

// An erasure leaves no copy of the token in the requests: every request
// that names it (any station's, matched without case, an export-only one
// answered before, one still pending) keeps the pseudonym and no export;
// another token's request is untouched. An export read before the
// erasure and recorded after it is not kept.
func TestCustomerErasureClearsEveryRequestOfTheToken(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		mustCreateStation(t, s, "CP2")
		if err := s.CreateIDToken(ctx, &IDToken{Value: "ALICE"}); err != nil {
			t.Fatal(err)
		}
		const export = `{"idTokens":[{"value":"ALICE"}],"transactions":[]}`
		for _, r := range []CustomerRequest{
			{StationID: "CP1", RequestID: 1, IDToken: "alice", ExportCSMSData: true},
			{StationID: "CP2", RequestID: 2, IDToken: "ALICE", ExportCSMSData: true},
			{StationID: "CP1", RequestID: 3, IDToken: "BOB", ExportCSMSData: true},
			{StationID: "CP2", RequestID: 4, IDToken: "Alice", ClearCSMSData: true},
		} {
			if err := s.CreateCustomerRequest(ctx, &r); err != nil {
				t.Fatal(err)
			}
		}
		answer := func(a CustomerAnswer) *CustomerRequest {
			t.Helper()
			a.Status = "Accepted"
			r, err := s.AnswerCustomerRequest(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := answer(CustomerAnswer{StationID: "CP1", RequestID: 1, CSMSData: export, IDToken: "alice"}); r.CSMSData != export {
			t.Fatalf("export not kept: %+v", r)
		}
		if r := answer(CustomerAnswer{StationID: "CP1", RequestID: 3, CSMSData: `{"bob":1}`, IDToken: "BOB"}); r.CSMSData != `{"bob":1}` {
			t.Fatalf("export not kept: %+v", r)
		}
		erased := answer(CustomerAnswer{StationID: "CP2", RequestID: 4, IDToken: "Alice", Erase: &Erasure{IDToken: "Alice", Pseudonym: "erased-1"}})
		if erased.IDToken != "erased-1" || erased.TokensDeleted != 1 {
			t.Fatalf("erasing request: %+v", erased)
		}
		get := func(station string, id int) *CustomerRequest {
			t.Helper()
			r, err := s.GetCustomerRequest(ctx, station, id)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := get("CP1", 1); r.IDToken != "erased-1" || r.CSMSData != "" || r.Status != "Accepted" {
			t.Errorf("earlier export-only request after the erasure: %+v", r)
		}
		if r := get("CP2", 2); r.IDToken != "erased-1" || r.CSMSData != "" || r.Status != CustomerRequestPending {
			t.Errorf("pending request after the erasure: %+v", r)
		}
		if r := get("CP1", 3); r.IDToken != "BOB" || r.CSMSData != `{"bob":1}` {
			t.Errorf("another token's request: %+v", r)
		}
		// Request 2's export was taken before the erasure, its answer
		// recorded after: the status counts, the export is not kept.
		if r := answer(CustomerAnswer{StationID: "CP2", RequestID: 2, CSMSData: export, IDToken: "ALICE"}); r.Status != "Accepted" || r.CSMSData != "" || r.IDToken != "erased-1" {
			t.Errorf("stale export recorded: %+v", r)
		}
	})
}
