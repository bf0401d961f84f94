package operator_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/audit"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/operator"
	"github.com/chargeplane/chargeplane/api/redact"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

func (h *harness) as(t *testing.T, id string, role auth.Role) context.Context {
	t.Helper()
	email := id + "@example.com"
	ensureUser(t, h.st, id, email, role)
	tok, _, err := h.tokens.Issue(auth.Subject{UserID: id, Email: email, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
}

func TestAuditTrail(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		h := serve(t, st)
		admin, ops, viewer := h.as(t, "root", auth.RoleAdmin), h.as(t, "ops", auth.RoleOperator), h.as(t, "eve", auth.RoleViewer)
		start := time.Now().Add(-time.Second)

		const secret = "station-secret-0123456789"
		if _, err := h.stations.CreateStation(ops, &chargeplanev1.CreateStationRequest{Id: "CP-A", Password: secret, Name: "Depot"}); err != nil {
			t.Fatal(err)
		}
		_, err := h.stations.CreateStation(ops, &chargeplanev1.CreateStationRequest{Id: "CP-A"})
		wantCode(t, err, codes.AlreadyExists)
		// A viewer's delete is refused, recorded as denied, and changes nothing.
		_, err = h.stations.DeleteStation(viewer, &chargeplanev1.DeleteStationRequest{Id: "CP-A"})
		wantCode(t, err, codes.PermissionDenied)
		if got, err := h.stations.GetStation(admin, &chargeplanev1.GetStationRequest{Id: "CP-A"}); err != nil || got.GetStation().GetName() != "Depot" {
			t.Fatalf("the refused delete changed the station: %v %v", got, err)
		}
		// Reads are not recorded; a viewer reading the trail is refused (and recorded).
		_, err = h.audit.ListAuditRecords(viewer, &chargeplanev1.ListAuditRecordsRequest{})
		wantCode(t, err, codes.PermissionDenied)

		list, err := h.audit.ListAuditRecords(admin, &chargeplanev1.ListAuditRecordsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		type row struct{ actor, method, outcome, target string }
		var got []row
		for _, r := range list.GetRecords() {
			got = append(got, row{r.GetActor(), r.GetMethod(), r.GetOutcome(), r.GetTargetId()})
			if r.GetAddress() != "127.0.0.1" || r.GetAt().AsTime().Before(start) || r.GetActorId() == "" {
				t.Errorf("record lacks who/where/when: %v", r)
			}
			if strings.Contains(r.GetRequest(), secret) {
				t.Errorf("secret in the trail: %s", r.GetRequest())
			}
		}
		want := []row{
			{"eve@example.com", "AuditService/ListAuditRecords", "denied", ""},
			{"eve@example.com", "StationService/DeleteStation", "denied", "CP-A"},
			{"ops@example.com", "StationService/CreateStation", "error", "CP-A"},
			{"ops@example.com", "StationService/CreateStation", "ok", "CP-A"},
		}
		if len(got) != len(want) {
			t.Fatalf("trail = %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("trail = %v, want %v", got, want)
			}
		}
		created := list.GetRecords()[3]
		if !strings.Contains(created.GetRequest(), `"password":"`+redact.Marker+`"`) || !strings.Contains(created.GetRequest(), "Depot") {
			t.Errorf("request = %s, want it with the password redacted", created.GetRequest())
		}
		if dup := list.GetRecords()[2]; dup.GetCode() != codes.AlreadyExists.String() {
			t.Errorf("failed create recorded with code %q", dup.GetCode())
		}

		// Filters and paging.
		byActor, err := h.audit.ListAuditRecords(admin, &chargeplanev1.ListAuditRecordsRequest{Actor: "ops@example.com", PageSize: 1})
		if err != nil || len(byActor.GetRecords()) != 1 || byActor.GetNextPageToken() == "" || byActor.GetRecords()[0].GetOutcome() != "error" {
			t.Fatalf("page 1 by actor: %v %v", byActor, err)
		}
		next, err := h.audit.ListAuditRecords(admin, &chargeplanev1.ListAuditRecordsRequest{Actor: "ops@example.com", PageSize: 1, PageToken: byActor.GetNextPageToken()})
		if err != nil || len(next.GetRecords()) != 1 || next.GetRecords()[0].GetOutcome() != "ok" || next.GetNextPageToken() != "" {
			t.Fatalf("page 2 by actor: %v %v", next, err)
		}
		byStation, err := h.audit.ListAuditRecords(admin, &chargeplanev1.ListAuditRecordsRequest{StationId: "CP-A"})
		if err != nil || len(byStation.GetRecords()) != 3 {
			t.Fatalf("by station: %v %v", byStation, err)
		}
		future, err := h.audit.ListAuditRecords(admin, &chargeplanev1.ListAuditRecordsRequest{Since: timestamppb.New(time.Now().Add(time.Hour))})
		if err != nil || len(future.GetRecords()) != 0 {
			t.Fatalf("since the future: %v %v", future, err)
		}
		past, err := h.audit.ListAuditRecords(admin, &chargeplanev1.ListAuditRecordsRequest{Until: timestamppb.New(start)})
		if err != nil || len(past.GetRecords()) != 0 {
			t.Fatalf("until before the calls: %v %v", past, err)
		}
		_, err = h.audit.ListAuditRecords(admin, &chargeplanev1.ListAuditRecordsRequest{PageToken: "garbage"})
		wantCode(t, err, codes.InvalidArgument)
		// Calls without a credential are not recorded.
		_, err = h.stations.DeleteStation(context.Background(), &chargeplanev1.DeleteStationRequest{Id: "CP-A"})
		wantCode(t, err, codes.Unauthenticated)
		again, _ := h.audit.ListAuditRecords(admin, &chargeplanev1.ListAuditRecordsRequest{})
		if len(again.GetRecords()) != len(want) {
			t.Errorf("an unauthenticated call was recorded: %v", again.GetRecords())
		}
	})
}

// A page of the largest size says whether another follows: the last page
// of exactly that size has no token (never a token to an empty page), and
// one with a successor has a token to it (every list pages through
// listPage; the trail stands for them).
func TestAuditFullPage(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		h := serve(t, st)
		admin := h.as(t, "root", auth.RoleAdmin)
		ctx := context.Background()
		insert := func(i int) {
			r := &audit.Record{At: time.Now(), Actor: "ops@example.com", Method: "StationService/UpdateStation", TargetID: fmt.Sprint(i), Outcome: audit.OutcomeOK}
			if err := st.InsertAudit(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		for i := range operator.MaxPageSize {
			insert(i)
		}
		only, err := h.audit.ListAuditRecords(admin, &chargeplanev1.ListAuditRecordsRequest{PageSize: operator.MaxPageSize})
		if err != nil || len(only.GetRecords()) != operator.MaxPageSize || only.GetNextPageToken() != "" {
			t.Fatalf("the one full page: %d records, token %q, %v", len(only.GetRecords()), only.GetNextPageToken(), err)
		}
		insert(operator.MaxPageSize)
		first, err := h.audit.ListAuditRecords(admin, &chargeplanev1.ListAuditRecordsRequest{PageSize: operator.MaxPageSize})
		if err != nil || len(first.GetRecords()) != operator.MaxPageSize || first.GetNextPageToken() == "" {
			t.Fatalf("first page: %d records, token %q, %v", len(first.GetRecords()), first.GetNextPageToken(), err)
		}
		rest, err := h.audit.ListAuditRecords(admin, &chargeplanev1.ListAuditRecordsRequest{PageSize: operator.MaxPageSize, PageToken: first.GetNextPageToken()})
		if err != nil || len(rest.GetRecords()) != 1 || rest.GetRecords()[0].GetTargetId() != "0" || rest.GetNextPageToken() != "" {
			t.Fatalf("second page: %v, token %q, %v", rest.GetRecords(), rest.GetNextPageToken(), err)
		}
	})
}
