package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chargeplane/chargeplane/api/app"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/config"
)

// Two core instances share one PostgreSQL database: an API key revoked and
// a user disabled through one are refused by the other within seconds
// (access.DefaultRecheck), and the key's last use made on either is shown.
func TestRevocationReachesEveryCore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := coreEnv(t)
	env["DATABASE_URL"] = testenv.PostgresURL(t)
	env["AMQP_URL"] = testenv.AMQPURL(t)
	env["AMQP_PREFIX"] = testenv.UniquePrefix(t)

	st, err := store.Open(ctx, store.Config{DatabaseURL: env["DATABASE_URL"]})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	hash, _ := auth.HashSecret(operatorPassword)
	if err := st.CreateUser(ctx, &store.User{Email: operatorEmail, PasswordHash: hash, Role: "admin"}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	var cores [2]*restClient
	for i := range cores {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		e["CORE_ID"] = "e2e-access-" + uuid.NewString()[:8]
		e["DATA_DIR"] = t.TempDir()
		cfg, err := config.LoadFrom(config.API, e)
		if err != nil {
			t.Fatal(err)
		}
		a, err := app.New(cfg, testLogger(t).With("part", e["CORE_ID"]))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_ = a.Shutdown(ctx)
		})
		httpAddr, _, _ := a.Addrs()
		cores[i] = newRESTClient(t, "http://"+httpAddr)
	}
	a, b := cores[0], cores[1]
	a.login(ctx, t, operatorEmail, operatorPassword)

	code, _, body, err := a.do(ctx, http.MethodPost, "/api/v1/api-keys", map[string]string{"name": "integration", "role": "operator"}, true)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create key: %d %s %v", code, body, err)
	}
	var created struct {
		APIKey struct{ ID string } `json:"apiKey"`
		Secret string              `json:"secret"`
	}
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	viaB := &restClient{base: b.base, http: b.http, token: created.Secret}
	if code, _, body, _ := viaB.do(ctx, http.MethodGet, "/api/v1/stations", nil, true); code != http.StatusOK {
		t.Fatalf("key on the other core: %d %s", code, body)
	}

	// A user made on A, signed in on B, disabled on A.
	code, _, body, _ = a.do(ctx, http.MethodPost, "/api/v1/users", map[string]string{
		"email": "viewer@e2e.example", "password": "quiet lantern above seven hills", "role": "viewer"}, true)
	if code != http.StatusCreated {
		t.Fatalf("create user: %d %s", code, body)
	}
	var user struct{ ID string }
	_ = json.Unmarshal(body, &user)
	viewerB := &restClient{base: b.base, http: b.http}
	viewerB.login(ctx, t, "viewer@e2e.example", "quiet lantern above seven hills")
	if code, _, _, _ := viewerB.do(ctx, http.MethodGet, "/api/v1/stations", nil, true); code != http.StatusOK {
		t.Fatalf("viewer on B: %d", code)
	}
	if code, _, body, _ := viewerB.do(ctx, http.MethodPost, "/api/v1/stations", map[string]string{"id": "CP-X"}, true); code != http.StatusForbidden {
		t.Fatalf("viewer creates a station: %d %s, want 403", code, body)
	}

	start := time.Now()
	if code, _, body, _ := a.do(ctx, http.MethodPost, "/api/v1/api-keys/"+created.APIKey.ID+"/revoke", map[string]string{}, true); code != http.StatusOK {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if code, _, body, _ := a.do(ctx, http.MethodPost, "/api/v1/users/"+user.ID+"/disable", map[string]string{}, true); code != http.StatusOK {
		t.Fatalf("disable: %d %s", code, body)
	}
	refused := func(c *restClient) bool {
		code, _, _, _ := c.do(ctx, http.MethodGet, "/api/v1/stations", nil, true)
		return code == http.StatusUnauthorized
	}
	for !refused(viaB) || !refused(viewerB) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the other core still accepts the revoked key or the disabled user's token after %v", time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("revocation and disable seen by the other core after %v", time.Since(start).Round(time.Millisecond))
}
