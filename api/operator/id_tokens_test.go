package operator_test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/access"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/httpapi"
	"github.com/chargeplane/chargeplane/api/operator"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// sessionAPI is every operator service behind the real interceptors on a
// real gRPC listener, plus the REST gateway reaching them through it.
type sessionAPI struct {
	ctx      context.Context // carries a valid bearer token
	bearer   string
	idTokens chargeplanev1.IdTokenServiceClient
	txs      chargeplanev1.TransactionServiceClient
	stations chargeplanev1.StationServiceClient
	restURL  string
}

func serveSessions(t *testing.T, st *store.Store) *sessionAPI {
	t.Helper()
	tokens, err := auth.NewTokens([]byte(testSecret), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	creds := access.NewAuthenticator(access.AuthenticatorConfig{Tokens: tokens, Store: st, Logger: quiet})
	authSvc, err := operator.NewAuthService(st, tokens, creds, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(access.ServerOptions(access.NewGuard(access.GuardConfig{Credentials: creds, Logger: quiet}), quiet)...)
	chargeplanev1.RegisterAuthServiceServer(srv, authSvc)
	chargeplanev1.RegisterStationServiceServer(srv, operator.NewStationService(st, quiet))
	chargeplanev1.RegisterIdTokenServiceServer(srv, operator.NewIDTokenService(st, quiet))
	chargeplanev1.RegisterTransactionServiceServer(srv, operator.NewTransactionService(st, quiet))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{GRPCEndpoint: lis.Addr().String(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(api)
	t.Cleanup(func() {
		hs.Close()
		api.Close()
		conn.Close()
		srv.Stop()
		<-done
	})
	ensureUser(t, st, "test-user", "test@example.com", auth.RoleAdmin)
	tok, _, err := tokens.Issue(auth.Subject{UserID: "test-user", Email: "test@example.com", Role: auth.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{tokens: tokens, st: st}
	return &sessionAPI{
		ctx:      h.authed(t),
		bearer:   tok,
		idTokens: chargeplanev1.NewIdTokenServiceClient(conn),
		txs:      chargeplanev1.NewTransactionServiceClient(conn),
		stations: chargeplanev1.NewStationServiceClient(conn),
		restURL:  hs.URL,
	}
}

func ptr[T any](v T) *T { return &v }

func TestIDTokens(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		a := serveSessions(t, st)
		ctx := a.ctx
		expiry := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)

		// Defaults: Central, Accepted, no expiry, no limit.
		plain, err := a.idTokens.CreateIdToken(ctx, &chargeplanev1.CreateIdTokenRequest{Value: "04A1B2C3"})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		p := plain.GetIdToken()
		if p.GetId() == "" || p.GetValue() != "04A1B2C3" || p.GetType() != "Central" || p.GetStatus() != "Accepted" ||
			p.ExpiresAt != nil || p.MaxActiveTransactions != nil || p.GetGroupId() != "" || p.CreatedAt == nil || p.UpdatedAt == nil {
			t.Errorf("created with defaults = %v", p)
		}

		full, err := a.idTokens.CreateIdToken(ctx, &chargeplanev1.CreateIdTokenRequest{
			Value: "EMAID-DE-8AA-1A2B3C4D5-X", Type: "eMAID", Status: "Blocked",
			ExpiresAt: timestamppb.New(expiry), GroupId: "FLEET-1", MaxActiveTransactions: ptr[int32](2),
		})
		if err != nil {
			t.Fatalf("create full: %v", err)
		}
		f := full.GetIdToken()
		if f.GetType() != "eMAID" || f.GetStatus() != "Blocked" || !f.GetExpiresAt().AsTime().Equal(expiry) ||
			f.GetGroupId() != "FLEET-1" || f.GetMaxActiveTransactions() != 2 {
			t.Errorf("created = %v", f)
		}

		got, err := a.idTokens.GetIdToken(ctx, &chargeplanev1.GetIdTokenRequest{Id: f.GetId()})
		if err != nil || got.GetIdToken().GetValue() != f.GetValue() || !got.GetIdToken().GetExpiresAt().AsTime().Equal(expiry) {
			t.Fatalf("get = %v, %v", got, err)
		}

		// The charger's view follows what the operator stored.
		if auth, err := st.AuthorizeIDToken(context.Background(), "emaid-de-8aa-1a2b3c4d5-x", time.Now()); err != nil || auth.Status != "Blocked" {
			t.Errorf("authorize blocked token = %+v, %v", auth, err)
		}

		// Duplicate value, whatever the case.
		_, err = a.idTokens.CreateIdToken(ctx, &chargeplanev1.CreateIdTokenRequest{Value: "04a1b2c3"})
		wantCode(t, err, codes.AlreadyExists)

		for name, req := range map[string]*chargeplanev1.CreateIdTokenRequest{
			"empty value":    {},
			"too long":       {Value: strings.Repeat("A", 37)},
			"control char":   {Value: "AB\x01"},
			"non-ASCII":      {Value: "KÄRTE"},
			"blank edges":    {Value: " AB"},
			"unknown type":   {Value: "X1", Type: "Magic"},
			"unknown status": {Value: "X1", Status: "ConcurrentTx"},
			"zero limit":     {Value: "X1", MaxActiveTransactions: ptr[int32](0)},
			"long group":     {Value: "X1", GroupId: strings.Repeat("G", 37)},
			"bad expiry":     {Value: "X1", ExpiresAt: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}},
		} {
			_, err := a.idTokens.CreateIdToken(ctx, req)
			if c := status.Code(err); c != codes.InvalidArgument {
				t.Errorf("%s: code %v (%v), want InvalidArgument", name, c, err)
			}
		}
		// 36 characters is the 2.0.1 maximum and is accepted.
		if _, err := a.idTokens.CreateIdToken(ctx, &chargeplanev1.CreateIdTokenRequest{Value: strings.Repeat("B", 36)}); err != nil {
			t.Errorf("36-character token: %v", err)
		}

		// Update: only present fields change; clearing works.
		up, err := a.idTokens.UpdateIdToken(ctx, &chargeplanev1.UpdateIdTokenRequest{
			Id: f.GetId(), Status: ptr("Accepted"), ClearExpiresAt: true, GroupId: ptr(""), MaxActiveTransactions: ptr[int32](0),
		})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		u := up.GetIdToken()
		if u.GetStatus() != "Accepted" || u.ExpiresAt != nil || u.GetGroupId() != "" || u.MaxActiveTransactions != nil ||
			u.GetType() != "eMAID" || u.GetValue() != f.GetValue() {
			t.Errorf("updated = %v", u)
		}
		up, err = a.idTokens.UpdateIdToken(ctx, &chargeplanev1.UpdateIdTokenRequest{Id: f.GetId(), ExpiresAt: timestamppb.New(expiry), MaxActiveTransactions: ptr[int32](1)})
		if err != nil || !up.GetIdToken().GetExpiresAt().AsTime().Equal(expiry) || up.GetIdToken().GetMaxActiveTransactions() != 1 || up.GetIdToken().GetStatus() != "Accepted" {
			t.Errorf("update expiry and limit = %v, %v", up, err)
		}
		_, err = a.idTokens.UpdateIdToken(ctx, &chargeplanev1.UpdateIdTokenRequest{Id: f.GetId(), Value: ptr("04A1B2C3")})
		wantCode(t, err, codes.AlreadyExists)
		_, err = a.idTokens.UpdateIdToken(ctx, &chargeplanev1.UpdateIdTokenRequest{Id: f.GetId(), Status: ptr("Whatever")})
		wantCode(t, err, codes.InvalidArgument)
		_, err = a.idTokens.UpdateIdToken(ctx, &chargeplanev1.UpdateIdTokenRequest{Id: f.GetId(), ExpiresAt: timestamppb.Now(), ClearExpiresAt: true})
		wantCode(t, err, codes.InvalidArgument)
		_, err = a.idTokens.UpdateIdToken(ctx, &chargeplanev1.UpdateIdTokenRequest{Id: "no-such-id", Status: ptr("Blocked")})
		wantCode(t, err, codes.NotFound)

		// Delete, then it is gone.
		if _, err := a.idTokens.DeleteIdToken(ctx, &chargeplanev1.DeleteIdTokenRequest{Id: p.GetId()}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		_, err = a.idTokens.GetIdToken(ctx, &chargeplanev1.GetIdTokenRequest{Id: p.GetId()})
		wantCode(t, err, codes.NotFound)
		_, err = a.idTokens.DeleteIdToken(ctx, &chargeplanev1.DeleteIdTokenRequest{Id: p.GetId()})
		wantCode(t, err, codes.NotFound)
		if auth, err := st.AuthorizeIDToken(context.Background(), "04A1B2C3", time.Now()); err != nil || auth.Status != store.AuthUnknown {
			t.Errorf("authorize deleted token = %+v, %v", auth, err)
		}
	})
}

func TestIDTokenListing(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		a := serveSessions(t, st)
		ctx := a.ctx
		want := map[string]bool{}
		for i := range 7 {
			req := &chargeplanev1.CreateIdTokenRequest{Value: fmt.Sprintf("CARD-%02d", i), Type: "ISO14443"}
			if i%3 == 0 {
				req.Status, req.Type = "Blocked", "KeyCode"
			}
			if _, err := a.idTokens.CreateIdToken(ctx, req); err != nil {
				t.Fatal(err)
			}
			want[req.Value] = true
		}
		if _, err := a.idTokens.CreateIdToken(ctx, &chargeplanev1.CreateIdTokenRequest{Value: "APP_1"}); err != nil {
			t.Fatal(err)
		}

		// Paging visits every card once, in id order, with a stable total.
		seen := map[string]bool{}
		token, lastID := "", ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			resp, err := a.idTokens.ListIdTokens(ctx, &chargeplanev1.ListIdTokensRequest{PageSize: 3, PageToken: token, ValuePrefix: "card-"})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetTotalSize() != 7 {
				t.Errorf("total = %d, want 7", resp.GetTotalSize())
			}
			for _, tok := range resp.GetIdTokens() {
				if seen[tok.GetValue()] || tok.GetId() <= lastID {
					t.Errorf("token %v repeated or out of order", tok)
				}
				seen[tok.GetValue()], lastID = true, tok.GetId()
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		if len(seen) != len(want) {
			t.Errorf("paged values = %v, want %v", seen, want)
		}

		// "_" in a prefix is a literal, not a LIKE wildcard.
		resp, err := a.idTokens.ListIdTokens(ctx, &chargeplanev1.ListIdTokensRequest{ValuePrefix: "APP_"})
		if err != nil || len(resp.GetIdTokens()) != 1 || resp.GetIdTokens()[0].GetValue() != "APP_1" {
			t.Errorf("prefix APP_ = %v, %v", resp, err)
		}
		resp, err = a.idTokens.ListIdTokens(ctx, &chargeplanev1.ListIdTokensRequest{Status: "Blocked"})
		if err != nil || resp.GetTotalSize() != 3 {
			t.Errorf("status Blocked = %v, %v", resp, err)
		}
		for _, tok := range resp.GetIdTokens() {
			if tok.GetStatus() != "Blocked" || tok.GetType() != "KeyCode" {
				t.Errorf("filtered token %v", tok)
			}
		}
		resp, err = a.idTokens.ListIdTokens(ctx, &chargeplanev1.ListIdTokensRequest{Type: "ISO14443", Status: "Accepted"})
		if err != nil || resp.GetTotalSize() != 4 {
			t.Errorf("type ISO14443 = %v, %v", resp, err)
		}

		for name, req := range map[string]*chargeplanev1.ListIdTokensRequest{
			"bad token":          {PageToken: "!!"},
			"other kind's token": {PageToken: "dHgxOjEw"}, // "tx1:10", a transactions cursor
			"negative size":      {PageSize: -1},
			"bad status":         {Status: "Nope"},
			"bad type":           {Type: "Nope"},
		} {
			_, err := a.idTokens.ListIdTokens(ctx, req)
			if c := status.Code(err); c != codes.InvalidArgument {
				t.Errorf("%s: code %v (%v), want InvalidArgument", name, c, err)
			}
		}
	})
}
