package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is the store's injected time, moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// each runs fn against a freshly migrated PostgreSQL database and a fresh
// SQLite file: the store must behave the same on both.
func each(t *testing.T, fn func(t *testing.T, s *Store, clk *clock)) {
	t.Helper()
	for _, name := range []string{"postgres", "sqlite"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{t: t0}
			s := openStore(t, name, clk)
			fn(t, s, clk)
		})
	}
}

func openStore(t *testing.T, name string, clk *clock) *Store {
	t.Helper()
	s := openUnmigrated(t, name, clk)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", name, err)
	}
	return s
}

// openUnmigrated opens a fresh, empty database.
func openUnmigrated(t *testing.T, name string, clk *clock) *Store {
	t.Helper()
	cfg := Config{Now: clk.Now, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
	if name == "postgres" {
		cfg.DatabaseURL = testenv.PostgresURL(t)
	} else {
		cfg.DataDir = filepath.Join(t.TempDir(), "data")
	}
	ctx := context.Background()
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func mustCreateStation(t *testing.T, s *Store, id string) {
	t.Helper()
	if err := s.CreateStation(context.Background(), &Station{ID: id, Name: "Station " + id}); err != nil {
		t.Fatalf("create station %s: %v", id, err)
	}
}

func mustGet(t *testing.T, s *Store, id string) *Station {
	t.Helper()
	st, err := s.GetStation(context.Background(), id)
	if err != nil {
		t.Fatalf("get station %s: %v", id, err)
	}
	return st
}

func migrationNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// The dialects keep separate migration folders; they must never drift to
// different versions.
func TestMigrationsInStep(t *testing.T) {
	pg := migrationNames(t, "migrations/postgres")
	lite := migrationNames(t, "migrations/sqlite")
	if !slices.Equal(pg, lite) {
		t.Fatalf("migration files differ:\npostgres: %v\nsqlite:   %v", pg, lite)
	}
	for i, n := range pg {
		want := fmt.Sprintf("%05d_", i+1)
		if len(n) < len(want) || n[:len(want)] != want || filepath.Ext(n) != ".sql" {
			t.Errorf("migration %q: want name %s<what>.sql (consecutive versions)", n, want)
		}
	}
}

func TestMigrateIdempotent(t *testing.T) {
	want := int64(len(migrationNames(t, "migrations/postgres")))
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		v, err := s.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v != want {
			t.Errorf("schema version = %d, want %d", v, want)
		}
		// The second run must not have touched the data.
		mustGet(t, s, "CP1")
		if err := s.Ping(ctx); err != nil {
			t.Errorf("ping: %v", err)
		}
	})
}

// SchemaVersions looks at an empty database without writing to it, so that
// a command can refuse a database before touching it.
func TestSchemaVersions(t *testing.T) {
	want := int64(len(migrationNames(t, "migrations/postgres")))
	for _, name := range []string{"postgres", "sqlite"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := openUnmigrated(t, name, &clock{t: t0})
			for range 2 {
				current, newest, err := s.SchemaVersions(ctx)
				if err != nil || current != 0 || newest != want {
					t.Fatalf("empty: %d %d %v, want 0 %d", current, newest, err, want)
				}
				if s.db.Migrator().HasTable(migrationTable) {
					t.Fatal("looking created the migration table")
				}
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if current, newest, err := s.SchemaVersions(ctx); err != nil || current != want || newest != want {
				t.Errorf("migrated: %d %d %v, want %d %d", current, newest, err, want, want)
			}
		})
	}
}

// Describe never shows the password, whatever the URL's form.
func TestDescribe(t *testing.T) {
	abs, err := filepath.Abs(filepath.Join("data", SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{DataDir: "data"}, "sqlite " + abs},
		{Config{DatabaseURL: "postgres://alice:hunter2@db.example:6543/cp?sslmode=disable"}, "postgres alice@db.example:6543/cp"},
		{Config{DatabaseURL: "host=db.example user=alice password=hunter2 dbname=cp"}, "postgres alice@db.example:5432/cp"},
		{Config{DatabaseURL: "postgres://alice:hunter2@[db.example/cp"}, "postgres (DATABASE_URL does not parse)"},
	} {
		if got := c.cfg.Describe(); got != c.want || strings.Contains(got, "hunter2") {
			t.Errorf("%s: %q, want %q", c.cfg.DatabaseURL, got, c.want)
		}
	}
}

func TestUsers(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		u := &User{Email: "  Alice@Example.COM ", PasswordHash: "h", FirstName: "Alice", LastName: "A", Role: "operator"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("create: %v", err)
		}
		if u.ID == "" || u.Email != "alice@example.com" {
			t.Fatalf("after create: id %q email %q", u.ID, u.Email)
		}
		got, err := s.UserByEmail(ctx, "ALICE@example.com")
		if err != nil {
			t.Fatalf("by email: %v", err)
		}
		if got.ID != u.ID || got.FirstName != "Alice" || got.PasswordHash != "h" || got.Role != "operator" || got.DisabledAt != nil || !got.CreatedAt.Equal(t0) {
			t.Errorf("by email = %+v", got)
		}
		if err := s.CreateUser(ctx, &User{Email: "norole@example.com"}); err == nil {
			t.Error("a user without a role was created")
		}
		err = s.CreateUser(ctx, &User{Email: "alice@EXAMPLE.com", Role: "viewer"})
		if !errors.Is(err, ErrAlreadyExists) {
			t.Errorf("duplicate email in other case: err = %v, want ErrAlreadyExists", err)
		}
		err = s.CreateUser(ctx, &User{ID: u.ID, Email: "bob@example.com", Role: "viewer"})
		if !errors.Is(err, ErrAlreadyExists) {
			t.Errorf("duplicate id: err = %v, want ErrAlreadyExists", err)
		}
		if _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing user: err = %v, want ErrNotFound", err)
		}
	})
}

func TestStationCRUD(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		if err := s.CreateStation(ctx, &Station{ID: "CP1", Name: "one", PasswordHash: "ph"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateStation(ctx, &Station{ID: "CP1"}); !errors.Is(err, ErrAlreadyExists) {
			t.Errorf("duplicate station: err = %v, want ErrAlreadyExists", err)
		}
		st := mustGet(t, s, "CP1")
		if st.Name != "one" || st.PasswordHash != "ph" || st.Status != StatusUnavailable || st.Connected ||
			!st.CreatedAt.Equal(t0) || st.LastSeen != nil || len(st.Connectors) != 0 {
			t.Errorf("created station = %+v", st)
		}
		if _, err := s.GetStation(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("get missing: err = %v", err)
		}

		clk.Add(time.Minute)
		name := "renamed"
		st, err := s.UpdateStation(ctx, "CP1", StationPatch{Name: &name})
		if err != nil {
			t.Fatal(err)
		}
		if st.Name != "renamed" || st.PasswordHash != "ph" || !st.UpdatedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("after name patch: %+v", st)
		}
		empty := ""
		st, err = s.UpdateStation(ctx, "CP1", StationPatch{PasswordHash: &empty})
		if err != nil {
			t.Fatal(err)
		}
		if st.Name != "renamed" || st.PasswordHash != "" {
			t.Errorf("after password patch: name %q hash %q", st.Name, st.PasswordHash)
		}
		if _, err := s.UpdateStation(ctx, "nope", StationPatch{Name: &name}); !errors.Is(err, ErrNotFound) {
			t.Errorf("update missing: err = %v", err)
		}
		if _, err := s.UpdateStation(ctx, "nope", StationPatch{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("empty patch of missing: err = %v", err)
		}

		for _, c := range []Connector{{EVSEID: 1, ConnectorID: 1}, {EVSEID: 1, ConnectorID: 2}} {
			c.StationID, c.Status, c.UpdatedAt = "CP1", "Available", t0
			if err := s.UpsertConnector(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteStation(ctx, "CP1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetStation(ctx, "CP1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("get deleted: err = %v", err)
		}
		var n int64
		if err := s.db.Model(&Connector{}).Where("station_id = ?", "CP1").Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d connectors survived their station's deletion", n)
		}
		if err := s.DeleteStation(ctx, "CP1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("delete missing: err = %v", err)
		}
		// The id is free again, and no orphan connector comes back with it.
		mustCreateStation(t, s, "CP1")
		if st := mustGet(t, s, "CP1"); len(st.Connectors) != 0 {
			t.Errorf("recreated station has connectors %+v", st.Connectors)
		}
	})
}

func TestGetStationForAdmission(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		if err := s.CreateStation(ctx, &Station{ID: "CP1", Name: "one", PasswordHash: "ph", PendingPasswordHash: "pend",
			PreviousPasswordHash: "prev", SecurityProfile: 2, Onboarding: "Pending", Blocked: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpsertConnector(ctx, Connector{StationID: "CP1", EVSEID: 1, ConnectorID: 1, Status: "Available", UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		st, err := s.GetStationForAdmission(ctx, "CP1")
		if err != nil {
			t.Fatal(err)
		}
		want := Station{ID: "CP1", PasswordHash: "ph", PendingPasswordHash: "pend", PreviousPasswordHash: "prev",
			SecurityProfile: 2, Onboarding: "Pending", Blocked: true}
		if !reflect.DeepEqual(*st, want) {
			t.Errorf("station for admission = %+v, want %+v (and nothing else)", *st, want)
		}
		if _, err := s.GetStationForAdmission(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing station: err = %v, want ErrNotFound", err)
		}
	})
}

func TestListStationsPaging(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		// Mixed case and digits: both databases must order them byte-wise.
		ids := []string{"b2", "A1", "c3", "a1", "B10", "b1", "Z9"}
		for _, id := range ids {
			mustCreateStation(t, s, id)
		}
		// Inserted out of order: the list must still come back ordered.
		for _, k := range [][2]int{{2, 1}, {1, 2}, {0, 1}, {1, 1}} {
			err := s.UpsertConnector(ctx, Connector{StationID: "a1", EVSEID: k[0], ConnectorID: k[1], Status: "Available", UpdatedAt: t0})
			if err != nil {
				t.Fatal(err)
			}
		}
		want := slices.Clone(ids)
		slices.Sort(want)

		var got []string
		after := ""
		for range 10 {
			page, total, err := s.ListStations(ctx, Page{Limit: 3, AfterID: after}, StationFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if total != int64(len(ids)) {
				t.Errorf("total = %d, want %d", total, len(ids))
			}
			if len(page) > 3 {
				t.Fatalf("page of %d, limit 3", len(page))
			}
			if len(page) == 0 {
				break
			}
			for _, st := range page {
				got = append(got, st.ID)
				if st.ID == "a1" {
					var keys [][2]int
					for _, c := range st.Connectors {
						keys = append(keys, [2]int{c.EVSEID, c.ConnectorID})
					}
					if !slices.Equal(keys, [][2]int{{0, 1}, {1, 1}, {1, 2}, {2, 1}}) {
						t.Errorf("a1 connectors in order %v", keys)
					}
				}
			}
			after = page[len(page)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Errorf("paged ids = %v, want %v", got, want)
		}

		all, _, err := s.ListStations(ctx, Page{}, StationFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != len(ids) {
			t.Errorf("default limit returned %d of %d", len(all), len(ids))
		}
	})
}

func TestListStationsEmpty(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		page, total, err := s.ListStations(context.Background(), Page{Limit: 5}, StationFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if page == nil || len(page) != 0 || total != 0 {
			t.Errorf("empty list = %v (nil %v), total %d", page, page == nil, total)
		}
	})
}

func TestConnectionFencing(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		if _, err := s.RecordAdmission(ctx, ConnectionEvent{StationID: "ghost", GatewayID: "g1", ConnectionID: "c0"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("admit unknown station: err = %v, want ErrNotFound", err)
		}

		c1 := ConnectionEvent{StationID: "CP1", GatewayID: "g1", ConnectionID: "c1", OCPPVersion: ocppj.V16, At: clk.Add(time.Second), Profile: 2}
		prev, err := s.RecordAdmission(ctx, c1)
		if err != nil || prev != (ConnectionEvent{}) {
			t.Fatalf("first admission: prev %+v err %v", prev, err)
		}
		st := mustGet(t, s, "CP1")
		if st.ConnectionID != "c1" || st.GatewayID != "g1" || st.ConnectionProfile != 2 || st.Connected {
			t.Errorf("admitted, not yet connected: %+v", st)
		}
		if ok, err := s.MarkConnected(ctx, c1); err != nil || !ok {
			t.Fatalf("mark c1 connected: %v %v", ok, err)
		}
		st = mustGet(t, s, "CP1")
		if !st.Connected || st.Status != StatusAvailable || st.OCPPVersion != ocppj.V16 || st.LastSeen == nil || !st.LastSeen.Equal(c1.At) {
			t.Errorf("connected: %+v", st)
		}
		if err := s.UpsertConnector(ctx, Connector{StationID: "CP1", EVSEID: 0, ConnectorID: 1, Status: "Charging", UpdatedAt: c1.At}); err != nil {
			t.Fatal(err)
		}
		// A connection weaker than the station's profile is never recorded
		// (the profile was raised after its admission was decided).
		p := 3
		if _, err := s.UpdateStation(ctx, "CP1", StationPatch{SecurityProfile: &p}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordAdmission(ctx, ConnectionEvent{StationID: "CP1", GatewayID: "g1", ConnectionID: "weak", Profile: 2}); !errors.Is(err, ErrWrongState) {
			t.Errorf("recording a profile-2 connection of a profile-3 station: err = %v, want ErrWrongState", err)
		}
		p = 0
		if _, err := s.UpdateStation(ctx, "CP1", StationPatch{SecurityProfile: &p}); err != nil {
			t.Fatal(err)
		}
		if st := mustGet(t, s, "CP1"); st.ConnectionID != "c1" {
			t.Errorf("the refused connection replaced c1: %+v", st)
		}
		// Re-admitting the same connection is not a replacement.
		if prev, err := s.RecordAdmission(ctx, c1); err != nil || prev != (ConnectionEvent{}) {
			t.Errorf("re-admit c1: prev %+v err %v", prev, err)
		}

		// The charger reconnects through another gateway.
		c2 := ConnectionEvent{StationID: "CP1", GatewayID: "g2", ConnectionID: "c2", OCPPVersion: ocppj.V201, At: clk.Add(time.Second)}
		prev, err = s.RecordAdmission(ctx, c2)
		if err != nil {
			t.Fatal(err)
		}
		if prev != (ConnectionEvent{StationID: "CP1", GatewayID: "g1", ConnectionID: "c1", OCPPVersion: ocppj.V16}) {
			t.Errorf("previous = %+v, want c1 on g1", prev)
		}
		st = mustGet(t, s, "CP1")
		if st.ConnectionProfile != 0 {
			t.Errorf("c2 proved profile 0, the station reads %d", st.ConnectionProfile)
		}
		if st.Connected || st.Status != StatusUnavailable || st.Connectors[0].Status != StatusUnavailable {
			t.Errorf("replaced live connection must read disconnected until c2 connects: %+v", st)
		}
		if ok, err := s.MarkConnected(ctx, c2); err != nil || !ok {
			t.Fatalf("mark c2 connected: %v %v", ok, err)
		}

		// Late events about c1 change nothing.
		late := c1
		late.At = clk.Add(time.Second)
		if ok, err := s.MarkDisconnected(ctx, late); err != nil || ok {
			t.Errorf("stale disconnect applied=%v err=%v", ok, err)
		}
		if ok, err := s.MarkConnected(ctx, late); err != nil || ok {
			t.Errorf("stale connect applied=%v err=%v", ok, err)
		}
		st = mustGet(t, s, "CP1")
		if !st.Connected || st.ConnectionID != "c2" || st.GatewayID != "g2" || st.OCPPVersion != ocppj.V201 || st.Status != StatusAvailable {
			t.Errorf("after stale events: %+v", st)
		}

		if err := s.UpsertConnector(ctx, Connector{StationID: "CP1", EVSEID: 1, ConnectorID: 1, Status: "Occupied", UpdatedAt: clk.Now()}); err != nil {
			t.Fatal(err)
		}
		gone := c2
		gone.At = clk.Add(time.Second)
		if ok, err := s.MarkDisconnected(ctx, gone); err != nil || !ok {
			t.Fatalf("disconnect c2: applied=%v err=%v", ok, err)
		}
		st = mustGet(t, s, "CP1")
		if st.Connected || st.Status != StatusUnavailable || st.ConnectionID != "" || st.GatewayID != "" {
			t.Errorf("after disconnect: %+v", st)
		}
		// c2 speaks 2.0.1: the 1.6 connector of c1 went when it connected.
		if len(st.Connectors) != 1 || st.Connectors[0].EVSEID != 1 {
			t.Fatalf("connectors: %+v", st.Connectors)
		}
		for _, c := range st.Connectors {
			if c.Status != StatusUnavailable || !c.UpdatedAt.Equal(gone.At) {
				t.Errorf("connector %d/%d after disconnect: %s at %v, want Unavailable at %v", c.EVSEID, c.ConnectorID, c.Status, c.UpdatedAt, gone.At)
			}
		}
		if ok, err := s.MarkDisconnected(ctx, gone); err != nil || ok {
			t.Errorf("second disconnect of c2 applied=%v err=%v", ok, err)
		}
		if ok, err := s.MarkConnected(ctx, c2); err != nil || ok {
			t.Errorf("closed connection reconnected: applied=%v err=%v", ok, err)
		}
		if ok, err := s.MarkConnected(ctx, ConnectionEvent{StationID: "ghost", ConnectionID: "c1"}); err != nil || ok {
			t.Errorf("connect unknown station: applied=%v err=%v", ok, err)
		}
	})
}

// Many core instances may admit connections of one station at once; each
// admission must see exactly the connection it replaced.
func TestConcurrentAdmissions(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		const n = 16
		prevs := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				ev := ConnectionEvent{StationID: "CP1", GatewayID: "g", ConnectionID: fmt.Sprintf("c%02d", i)}
				prev, err := s.RecordAdmission(ctx, ev)
				prevs[i], errs[i] = prev.ConnectionID, err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("admission %d: %v", i, err)
			}
		}
		// The admissions form one chain: every connection but the last
		// is replaced exactly once, and exactly one admission replaced none.
		final := mustGet(t, s, "CP1").ConnectionID
		seen := map[string]int{}
		for _, p := range prevs {
			seen[p]++
		}
		if seen[""] != 1 {
			t.Errorf("%d admissions saw no previous connection, want 1 (prevs %v)", seen[""], prevs)
		}
		for i := range n {
			id := fmt.Sprintf("c%02d", i)
			want := 1
			if id == final {
				want = 0
			}
			if seen[id] != want {
				t.Errorf("%s replaced %d times, want %d (final %s, prevs %v)", id, seen[id], want, final, prevs)
			}
		}
	})
}

func TestConnectorStatusOrdering(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		conn := func() Connector { return mustGet(t, s, "CP1").Connectors[0] }

		t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
		if err := s.UpsertConnector(ctx, Connector{StationID: "CP1", EVSEID: 1, ConnectorID: 1, Status: "Occupied", ErrorCode: "NoError", UpdatedAt: t2}); err != nil {
			t.Fatal(err)
		}
		// A replayed older report arrives late.
		if err := s.UpsertConnector(ctx, Connector{StationID: "CP1", EVSEID: 1, ConnectorID: 1, Status: "Available", UpdatedAt: t1}); err != nil {
			t.Fatal(err)
		}
		if c := conn(); c.Status != "Occupied" || !c.UpdatedAt.Equal(t2) {
			t.Errorf("older report overwrote newer: %+v", c)
		}
		// Sub-microsecond differences vanish in storage; equal times take
		// the later arrival.
		if err := s.UpsertConnector(ctx, Connector{StationID: "CP1", EVSEID: 1, ConnectorID: 1, Status: "Faulted", ErrorCode: "GroundFailure",
			Info: "i", VendorID: "v", VendorErrorCode: "e", UpdatedAt: t2.Add(300 * time.Nanosecond)}); err != nil {
			t.Fatal(err)
		}
		if c := conn(); c.Status != "Faulted" || c.ErrorCode != "GroundFailure" || c.Info != "i" || c.VendorID != "v" || c.VendorErrorCode != "e" {
			t.Errorf("equal-time report not applied: %+v", c)
		}
		// Non-UTC input is the same instant.
		t3 := t0.Add(3 * time.Minute).In(time.FixedZone("CET", 3600))
		if err := s.UpsertConnector(ctx, Connector{StationID: "CP1", EVSEID: 1, ConnectorID: 1, Status: "Available", UpdatedAt: t3}); err != nil {
			t.Fatal(err)
		}
		if c := conn(); c.Status != "Available" || !c.UpdatedAt.Equal(t3) || !c.ReportedAt.Equal(t3) {
			t.Errorf("newer report in another zone: %+v", c)
		}

		// The core's disconnection (its clock ahead of the charger's) must
		// not hide the charger's next report after it reconnects.
		ev := ConnectionEvent{StationID: "CP1", GatewayID: "g1", ConnectionID: "c1", At: t0.Add(time.Hour)}
		if _, err := s.RecordAdmission(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.MarkDisconnected(ctx, ev); err != nil || !ok {
			t.Fatalf("disconnect: %v %v", ok, err)
		}
		if c := conn(); c.Status != StatusUnavailable {
			t.Fatalf("after disconnect: %+v", c)
		}
		t4 := t0.Add(4 * time.Minute)
		if err := s.UpsertConnector(ctx, Connector{StationID: "CP1", EVSEID: 1, ConnectorID: 1, Status: "Available", UpdatedAt: t4}); err != nil {
			t.Fatal(err)
		}
		if c := conn(); c.Status != "Available" {
			t.Errorf("report after reconnect ignored: %+v", c)
		}

		// 1.6 connector 0: the whole charge point.
		if err := s.UpsertConnector(ctx, Connector{StationID: "CP1", EVSEID: 0, ConnectorID: 0, Status: "Faulted", UpdatedAt: t2}); err != nil {
			t.Fatal(err)
		}
		st := mustGet(t, s, "CP1")
		if st.Status != "Faulted" || len(st.Connectors) != 1 {
			t.Errorf("connector 0: status %q connectors %+v", st.Status, st.Connectors)
		}
		if err := s.UpsertConnector(ctx, Connector{StationID: "CP1", EVSEID: 0, ConnectorID: 0, Status: "Available", UpdatedAt: t1}); err != nil {
			t.Fatal(err)
		}
		if st := mustGet(t, s, "CP1"); st.Status != "Faulted" {
			t.Errorf("older whole-station status overwrote newer: %q", st.Status)
		}

		for _, c := range []Connector{{EVSEID: 0, ConnectorID: 0}, {EVSEID: 1, ConnectorID: 1}} {
			c.StationID, c.Status, c.UpdatedAt = "ghost", "Available", t1
			if err := s.UpsertConnector(ctx, c); !errors.Is(err, ErrNotFound) {
				t.Errorf("connector %d/%d of unknown station: err = %v, want ErrNotFound", c.EVSEID, c.ConnectorID, err)
			}
		}
		if err := s.UpsertConnector(ctx, Connector{StationID: "CP1", EVSEID: -1, ConnectorID: 1}); err == nil {
			t.Error("negative evse id accepted")
		}
	})
}

func TestBootAndLastSeen(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		boot := BootInfo{
			Vendor: "V", Model: "M", SerialNumber: "S", ChargeBoxSerialNumber: "CBS", FirmwareVersion: "1.2",
			ICCID: "icc", IMSI: "ims", MeterType: "MT", MeterSerialNumber: "MS", RegistrationStatus: "Accepted",
		}
		at := t0.Add(10 * time.Second)
		if err := s.RecordBoot(ctx, "CP1", boot, at); err != nil {
			t.Fatal(err)
		}
		st := mustGet(t, s, "CP1")
		got := BootInfo{st.Vendor, st.Model, st.SerialNumber, st.ChargeBoxSerialNumber, st.FirmwareVersion,
			st.ICCID, st.IMSI, st.MeterType, st.MeterSerialNumber, st.RegistrationStatus}
		if got != boot || st.LastBoot == nil || !st.LastBoot.Equal(at) || st.LastSeen == nil || !st.LastSeen.Equal(at) {
			t.Errorf("after boot: %+v", st)
		}
		if err := s.RecordBoot(ctx, "ghost", boot, at); !errors.Is(err, ErrNotFound) {
			t.Errorf("boot of unknown station: err = %v", err)
		}

		later := at.Add(time.Minute)
		if err := s.TouchLastSeen(ctx, "CP1", later); err != nil {
			t.Fatal(err)
		}
		// An older message handled late must not move last_seen back.
		if err := s.TouchLastSeen(ctx, "CP1", at.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if st := mustGet(t, s, "CP1"); !st.LastSeen.Equal(later) {
			t.Errorf("last seen = %v, want %v", st.LastSeen, later)
		}
		// A reboot reported late does not move last_seen back either.
		if err := s.RecordBoot(ctx, "CP1", boot, at.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		if st := mustGet(t, s, "CP1"); !st.LastSeen.Equal(later) || !st.LastBoot.Equal(at.Add(2*time.Second)) {
			t.Errorf("after late boot: last seen %v last boot %v", st.LastSeen, st.LastBoot)
		}
		if err := s.TouchLastSeen(ctx, "ghost", later); !errors.Is(err, ErrNotFound) {
			t.Errorf("touch unknown station: err = %v", err)
		}
	})
}

func TestLeaseExpiry(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		for _, id := range []string{"S1", "S2", "S3", "S4"} {
			mustCreateStation(t, s, id)
		}
		// renew renews gw's lease and checks whether it was a new one.
		renew := func(gw string, until time.Time, wantNew bool) {
			t.Helper()
			got, err := s.RenewLease(ctx, gw, until)
			if err != nil {
				t.Fatal(err)
			}
			if got != wantNew {
				t.Errorf("renew %s until %v: new lease = %v, want %v", gw, until, got, wantNew)
			}
		}
		renew("g1", t0.Add(10*time.Second), true)
		renew("g2", t0.Add(30*time.Second), true)
		if _, err := s.RenewLease(ctx, "", t0); err == nil {
			t.Error("empty gateway id accepted")
		}
		connect := func(station, gw, conn string, markConnected bool) ConnectionEvent {
			ev := ConnectionEvent{StationID: station, GatewayID: gw, ConnectionID: conn, OCPPVersion: ocppj.V16, At: t0}
			if _, err := s.RecordAdmission(ctx, ev); err != nil {
				t.Fatal(err)
			}
			if markConnected {
				if ok, err := s.MarkConnected(ctx, ev); err != nil || !ok {
					t.Fatalf("connect %s: %v %v", station, ok, err)
				}
			}
			return ev
		}
		s1 := connect("S1", "g1", "c1", true)
		connect("S2", "g1", "c2", false) // admitted, socket not confirmed yet
		connect("S3", "g2", "c3", true)
		for _, st := range []string{"S1", "S3"} {
			if err := s.UpsertConnector(ctx, Connector{StationID: st, EVSEID: 1, ConnectorID: 1, Status: "Charging", UpdatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}

		if ids, err := s.ExpireLeases(ctx, t0.Add(10*time.Second)); err != nil || len(ids) != 0 {
			t.Errorf("at the lease's end nothing expires yet: %v %v", ids, err)
		}
		// g1 renews once, then goes silent.
		renew("g1", t0.Add(20*time.Second), false)
		if ids, err := s.ExpireLeases(ctx, t0.Add(15*time.Second)); err != nil || len(ids) != 0 {
			t.Errorf("renewed lease expired: %v %v", ids, err)
		}
		sweep := clk.Add(25 * time.Second)
		ids, err := s.ExpireLeases(ctx, sweep)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, []string{"S1", "S2"}) {
			t.Errorf("expired stations = %v, want [S1 S2]", ids)
		}
		for _, id := range []string{"S1", "S2"} {
			st := mustGet(t, s, id)
			if st.Connected || st.Status != StatusUnavailable || st.ConnectionID != "" || st.GatewayID != "" {
				t.Errorf("%s after its gateway died: %+v", id, st)
			}
			for _, c := range st.Connectors {
				if c.Status != StatusUnavailable || !c.UpdatedAt.Equal(sweep) {
					t.Errorf("%s connector after expiry: %+v", id, c)
				}
			}
		}
		st3 := mustGet(t, s, "S3")
		if !st3.Connected || st3.Status != StatusAvailable || st3.Connectors[0].Status != "Charging" {
			t.Errorf("station on a live gateway touched: %+v", st3)
		}
		if st4 := mustGet(t, s, "S4"); st4.Status != StatusUnavailable || st4.Connected {
			t.Errorf("never-connected station: %+v", st4)
		}
		var n int64
		if err := s.db.Model(&gatewayLease{}).Where("id = ?", "g1").Count(&n).Error; err != nil || n != 0 {
			t.Errorf("expired gateway row left behind: %d %v", n, err)
		}
		if ids, err := s.ExpireLeases(ctx, sweep); err != nil || len(ids) != 0 {
			t.Errorf("second sweep: %v %v", ids, err)
		}
		// The dead gateway's late disconnect is fenced off.
		if ok, err := s.MarkDisconnected(ctx, s1); err != nil || ok {
			t.Errorf("late disconnect after expiry applied=%v err=%v", ok, err)
		}
		// It may come back, and is told its lease is a new one (so that it
		// has its chargers reconnect); its old connection stays gone.
		renew("g1", sweep.Add(30*time.Second), true)
		renew("g1", sweep.Add(40*time.Second), false)
		if ok, err := s.MarkConnected(ctx, s1); err != nil || ok {
			t.Errorf("expired connection revived: applied=%v err=%v", ok, err)
		}
		// g2 expires later too.
		ids, err = s.ExpireLeases(ctx, sweep.Add(time.Hour))
		if err != nil || !slices.Equal(ids, []string{"S3"}) {
			t.Errorf("later sweep = %v %v, want [S3]", ids, err)
		}
	})
}

// A renewal racing the sweep that expires its lease either comes first
// (the lease lives on, nothing is expired, not a new lease) or second (the
// stations were expired, and the renewal says so): never a renewal that
// says all is well after the sweep disconnected the gateway's stations.
func TestLeaseRenewalRacingSweep(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		for i := range 20 {
			gw, st := fmt.Sprintf("race-gw%d", i), fmt.Sprintf("RACE%d", i)
			mustCreateStation(t, s, st)
			if _, err := s.RenewLease(ctx, gw, clk.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			ev := ConnectionEvent{StationID: st, GatewayID: gw, ConnectionID: "c-" + st, OCPPVersion: ocppj.V16, At: clk.Now()}
			if _, err := s.RecordAdmission(ctx, ev); err != nil {
				t.Fatal(err)
			}
			sweepAt := clk.Add(2 * time.Second) // the lease ran out a second ago
			var (
				wg       sync.WaitGroup
				expired  []string
				newLease bool
				errs     [2]error
			)
			wg.Add(2)
			go func() { defer wg.Done(); expired, errs[0] = s.ExpireLeases(ctx, sweepAt) }()
			go func() { defer wg.Done(); newLease, errs[1] = s.RenewLease(ctx, gw, sweepAt.Add(10*time.Second)) }()
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("round %d: sweep %v, renewal %v", i, errs[0], errs[1])
			}
			if swept := slices.Contains(expired, st); swept != newLease {
				t.Fatalf("round %d: station expired %v but the renewal's new lease = %v", i, swept, newLease)
			}
		}
	})
}

func TestOpenUnreachablePostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Port 1 on loopback refuses at once.
	_, err := Open(ctx, Config{DatabaseURL: "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"})
	if err == nil {
		t.Fatal("open succeeded against a closed port")
	}
}

// The driver applies SQLite settings from the DSN and silently ignores some
// combinations; check each one took effect on a pooled connection.
func TestSQLiteSettings(t *testing.T) {
	s := openStore(t, "sqlite", &clock{t: t0})
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"busy_timeout": "10000",
		"synchronous":  "1", // NORMAL
	} {
		var got string
		if err := s.db.Raw("PRAGMA " + pragma).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
}

// SQLite compares the stored times as text: the order must hold whatever
// the number of fractional digits.
func TestTimeOrderAcrossPrecisions(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		base := t0.Add(time.Second)
		steps := []struct {
			at      time.Time
			status  string
			applies bool
		}{
			{base.Add(500 * time.Millisecond), "s1", true},
			{base.Add(250 * time.Millisecond), "s2", false},
			{base.Add(500*time.Millisecond + time.Microsecond), "s3", true},
			{base.Add(time.Second), "s4", true},
			{base.Add(999999 * time.Microsecond), "s5", false},
			{base.Add(time.Second + 400*time.Nanosecond), "s6", true}, // same microsecond
			{base.Add(2 * time.Second), "s7", true},
		}
		want := ""
		for _, st := range steps {
			if err := s.UpsertConnector(ctx, Connector{StationID: "CP1", EVSEID: 1, ConnectorID: 1, Status: st.status, UpdatedAt: st.at}); err != nil {
				t.Fatal(err)
			}
			if err := s.TouchLastSeen(ctx, "CP1", st.at); err != nil {
				t.Fatal(err)
			}
			if st.applies {
				want = st.status
			}
			got := mustGet(t, s, "CP1")
			if got.Connectors[0].Status != want {
				t.Errorf("after %s at %v: status %q, want %q", st.status, st.at, got.Connectors[0].Status, want)
			}
		}
		if got := mustGet(t, s, "CP1"); !got.LastSeen.Equal(base.Add(2 * time.Second)) {
			t.Errorf("last seen %v", got.LastSeen)
		}
	})
}

// testenv.PostgresURL must hand out an isolated database and drop it after
// the test, or parallel runs would pile databases up.
func TestPostgresURLDropsDatabase(t *testing.T) {
	var dbURL string
	t.Run("inner", func(t *testing.T) {
		dbURL = testenv.PostgresURL(t)
		s, err := Open(context.Background(), Config{DatabaseURL: dbURL, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
		if err != nil {
			t.Fatal(err)
		}
		// Left open on purpose: cleanup must drop the database anyway.
		t.Cleanup(func() { _ = s.Close() })
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Open(ctx, Config{DatabaseURL: dbURL})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("database %s still reachable after cleanup (err %v)", dbURL, err)
	}
}
