package operator_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/access"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/redact"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// GetStoredConfiguration serves the 1.6 keys kept for a station (api/ocpp
// TestConfigurationKept16 shows how answers keep them) behind the real
// guard: any role may read them, as it may read the device model, while
// asking the charger (GetConfiguration) needs an operator; without a
// credential nothing is served. An unknown station is NOT_FOUND; a known
// one with nothing kept has no keys.
func TestStoredConfiguration(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		h := serve(t, st)
		ctx := context.Background()
		for _, id := range []string{"CS", "EMPTY"} {
			if err := st.CreateStation(ctx, &store.Station{ID: id}); err != nil {
				t.Fatal(err)
			}
		}
		at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
		v, marker := "300", redact.Marker
		if _, err := st.ApplyConfiguration(ctx, store.ConfigurationChange{StationID: "CS", Full: true, Set: []store.ConfigurationKey{
			{Key: "HeartbeatInterval", Value: &v, ReportedAt: at},
			{Key: "AuthorizationKey", Value: &marker, ReportedAt: at},
			{Key: "ChargeProfileMaxStackLevel", Readonly: true, ReportedAt: at},
			{Key: "ConnectionTimeOut", Value: &v, AwaitingReboot: true, ReportedAt: at.Add(time.Minute)},
		}}); err != nil {
			t.Fatal(err)
		}

		if got, want := access.Policies[chargeplanev1.ConfigurationService_GetStoredConfiguration_FullMethodName],
			access.Policies[chargeplanev1.ConfigurationService_GetDeviceModel_FullMethodName]; got != want || got.Mutates {
			t.Errorf("policy %+v, want GetDeviceModel's %+v", got, want)
		}
		as := func(role auth.Role) context.Context {
			id := "user-" + string(role)
			ensureUser(t, st, id, id+"@example.com", role)
			tok, _, err := h.tokens.Issue(auth.Subject{UserID: id, Email: id + "@example.com", Role: role})
			if err != nil {
				t.Fatal(err)
			}
			return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
		}

		_, err := h.config.GetStoredConfiguration(ctx, &chargeplanev1.GetStoredConfigurationRequest{StationId: "CS"})
		wantCode(t, err, codes.Unauthenticated)
		// A viewer may not ask the charger: the stored keys are how it
		// sees them.
		_, err = h.config.GetConfiguration(as(auth.RoleViewer), &chargeplanev1.GetConfigurationRequest{StationId: "CS"})
		wantCode(t, err, codes.PermissionDenied)

		for _, role := range auth.Roles {
			resp, err := h.config.GetStoredConfiguration(as(role), &chargeplanev1.GetStoredConfigurationRequest{StationId: "CS"})
			if err != nil {
				t.Fatalf("%s: %v", role, err)
			}
			type key struct {
				key, value     string
				ro, reboot     bool
				reportedAtUnix int64
			}
			var got []key
			for _, k := range resp.GetConfigurationKeys() {
				val := "<none>"
				if k.Value != nil {
					val = k.GetValue()
				}
				got = append(got, key{k.GetKey(), val, k.GetReadonly(), k.GetAwaitingReboot(), k.GetReportedAt().AsTime().Unix()})
			}
			want := []key{
				{"AuthorizationKey", redact.Marker, false, false, at.Unix()},
				{"ChargeProfileMaxStackLevel", "<none>", true, false, at.Unix()},
				{"ConnectionTimeOut", "300", false, true, at.Add(time.Minute).Unix()},
				{"HeartbeatInterval", "300", false, false, at.Unix()},
			}
			if len(got) != len(want) {
				t.Fatalf("%s: got %+v, want %+v", role, got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("%s: key %d = %+v, want %+v", role, i, got[i], want[i])
				}
			}
		}

		resp, err := h.config.GetStoredConfiguration(as(auth.RoleViewer), &chargeplanev1.GetStoredConfigurationRequest{StationId: "EMPTY"})
		if err != nil || len(resp.GetConfigurationKeys()) != 0 {
			t.Errorf("station with nothing kept: %v %v", resp, err)
		}
		_, err = h.config.GetStoredConfiguration(as(auth.RoleViewer), &chargeplanev1.GetStoredConfigurationRequest{StationId: "NOPE"})
		if status.Code(err) != codes.NotFound {
			t.Errorf("unknown station: %v", err)
		}
		_, err = h.config.GetStoredConfiguration(as(auth.RoleViewer), &chargeplanev1.GetStoredConfigurationRequest{StationId: ""})
		wantCode(t, err, codes.InvalidArgument)
	})
}
