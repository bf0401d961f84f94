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
