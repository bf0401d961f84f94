// Command faults is the fault suite: it runs the scaled-out system as real
// processes on 127.0.0.1 (2 cores, 3 gateways, the machine's PostgreSQL and
// RabbitMQ), drives simulated 1.6 and 2.0.1 chargers through complete
// charging sessions, and injects one fault after another: kill -9 of a
// gateway, SIGTERM drain of a gateway, kill -9 of a core, a RabbitMQ
// outage, a PostgreSQL outage. After each it checks the invariants and
// prints a row of figures. It exits non-zero if any invariant broke.
//
// It stops and starts the machine's RabbitMQ app and PostgreSQL cluster:
// never run it while anything else uses them. It restarts what it stopped
// on every exit path, Ctrl-C included.
//
//	make faults   (= go run ./tools/faults)
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/bus/rabbitmq"
)

const (
	pgBase   = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	amqpURL  = "amqp://guest:guest@127.0.0.1:5672/"
	email    = "faults@example.invalid"
	password = "fault suite operator password"

	leaseTTL   = 10 // seconds: gateways' lease
	leaseSweep = time.Second
	drainSecs  = 3
)

type suite struct {
	dir      string
	dbURL    string
	prefix   string
	ps       *procs
	svc      *services
	db       *gorm.DB
	led      *ledger
	chargers []*charger
	pause    atomic.Bool

	mu       sync.Mutex
	cores    [2]*core
	gws      [3]*gateway
	gwStarts int
}

type core struct {
	p          *proc
	id         string
	http, grpc string
	control    string // CONTROL_ADDR, what its gateways call
	token      string
}

type gateway struct {
	p    *proc
	id   string
	port int
	core int // index of the core it talks to
}

func (g *gateway) url() string { return "ws://127.0.0.1:" + strconv.Itoa(g.port) + "/ocpp/" }

// result is one row of the table.
type result struct {
	fault                      string
	acked, inDB, lost, dup     int
	ended, energyBad           int
	unavailable, online        time.Duration // max over affected stations; -1: not applicable
	affected                   int
	cmdOK, cmdErr, cmdHung     int
	callErrors, timeouts, gone int64
	crashed                    int
	notes                      []string
}

func main() {
	chargers := flag.Int("chargers", 40, "simulated chargers (half 1.6, half 2.0.1)")
	keep := flag.Bool("keep", false, "keep the database and logs after the run")
	only := flag.String("only", "", "comma-separated fault numbers to inject (1 gateway kill, 2 drain, 3 core kill, 4 RabbitMQ, 5 PostgreSQL); default all")
	flag.Parse()
	os.Exit(mainErr(*chargers, *keep, *only))
}

func mainErr(nChargers int, keep bool, only string) int {
	svc := &services{}
	defer svc.restore()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if !reachable("127.0.0.1:5432") || !reachable("127.0.0.1:5672") {
		fmt.Fprintln(os.Stderr, "faults: PostgreSQL (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672) must be running before the suite starts")
		return 2
	}
	vers, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(vers) != 1 {
		fmt.Fprintln(os.Stderr, "faults: cannot tell the PostgreSQL cluster version from /etc/postgresql:", err)
		return 2
	}
	svc.pgVersion = vers[0].Name()

	s := &suite{svc: svc, led: &ledger{sessions: map[string]*session{}}}
	s.dir, err = os.MkdirTemp("", "chargeplane-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 2
	}
	s.ps = &procs{dir: s.dir}
	fmt.Printf("faults: logs in %s\n", s.dir)

	results, err := s.run(ctx, nChargers, only)
	s.ps.stopAll()
	svc.restore()
	s.cleanup(keep)
	printTable(results)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults: FAILED:", err)
		return 1
	}
	for _, r := range results {
		if r.lost+r.dup+r.energyBad+r.cmdHung+r.crashed > 0 {
			fmt.Fprintln(os.Stderr, "faults: FAILED: an invariant broke (see the table)")
			return 1
		}
	}
	fmt.Println("faults: PASS")
	return 0
}

func (s *suite) cleanup(keep bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.prefix != "" {
		if err := rabbitmq.DeleteTopology(ctx, rabbitmq.Config{URL: amqpURL, Prefix: s.prefix}); err != nil {
			fmt.Fprintln(os.Stderr, "faults: delete RabbitMQ topology:", err)
		}
	}
	if s.db != nil {
		if sqlDB, err := s.db.DB(); err == nil {
			sqlDB.Close()
		}
	}
	if keep || s.dbURL == "" {
		return
	}
	admin, err := gorm.Open(postgres.Open(pgBase), &gorm.Config{Logger: logger.Discard})
	if err == nil {
		name := s.dbURL[strings.LastIndex(s.dbURL, "/")+1 : strings.Index(s.dbURL, "?")]
		admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		if sqlDB, err := admin.DB(); err == nil {
			sqlDB.Close()
		}
	}
	os.RemoveAll(s.dir)
}

func (s *suite) run(ctx context.Context, nChargers int, only string) ([]result, error) {
	if err := s.build(ctx); err != nil {
		return nil, err
	}
	if err := s.setupDatabase(ctx, nChargers); err != nil {
		return nil, err
	}
	s.prefix = "faults-" + uuid.NewString()[:8]
	for i := range s.cores {
		if err := s.startCore(ctx, i); err != nil {
			return nil, err
		}
	}
	// gw1 talks to core1, gw2 and gw3 to core2 (the gateway takes one
	// control-plane address).
	for i, coreIdx := range []int{0, 1, 1} {
		if err := s.startGateway(ctx, i, coreIdx); err != nil {
			return nil, err
		}
	}
	if err := s.login(ctx); err != nil {
		return nil, err
	}

	cctx, stopChargers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopChargers(); wg.Wait() }()
	for _, c := range s.chargers {
		wg.Add(1)
		go func() { defer wg.Done(); c.run(cctx) }()
	}
	fmt.Printf("faults: %d chargers on 3 gateways, 2 cores; warming up\n", len(s.chargers))
	sleep(ctx, 10*time.Second)

	var results []result
	faults := []struct {
		name string
		do   func(context.Context, *result) error
	}{
		{"none (baseline)", func(ctx context.Context, _ *result) error { sleep(ctx, 5*time.Second); return nil }},
		{"gateway kill -9", s.killGateway},
		{"gateway SIGTERM drain", s.drainGateway},
		{"core kill -9", s.killCore},
		{"RabbitMQ stop/start", s.rabbitOutage},
		{"PostgreSQL stop/start", s.postgresOutage},
	}
	for n, f := range faults {
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
		if n > 0 && only != "" && !slices.Contains(strings.Split(only, ","), strconv.Itoa(n)) {
			continue
		}
		fmt.Printf("faults: injecting: %s\n", f.name)
		r := result{fault: f.name, unavailable: -1, online: -1}
		crashedBefore := len(s.ps.crashes())
		ce, to, gone := s.led.callErrors.Load(), s.led.timeouts.Load(), s.led.closed.Load()
		cmdCtx, stopCmds := context.WithCancel(ctx)
		cmds := s.commands(cmdCtx)
		err := f.do(ctx, &r)
		stopCmds()
		cr := <-cmds
		r.cmdOK, r.cmdErr, r.cmdHung = cr.ok, cr.err, cr.hung
		r.callErrors, r.timeouts, r.gone = s.led.callErrors.Load()-ce, s.led.timeouts.Load()-to, s.led.closed.Load()-gone
		if err != nil {
			results = append(results, r)
			return results, fmt.Errorf("%s: %w", f.name, err)
		}
		if err := s.check(ctx, &r); err != nil {
			results = append(results, r)
			return results, fmt.Errorf("%s: check: %w", f.name, err)
		}
		r.crashed = len(s.ps.crashes()) - crashedBefore
		for _, c := range s.ps.crashes()[crashedBefore:] {
			r.notes = append(r.notes, "exited on its own: "+c)
		}
		results = append(results, r)
		printTable(results[len(results)-1:])
	}
	return results, nil
}

func (s *suite) build(ctx context.Context) error {
	for _, b := range []struct{ out, pkg string }{{"bin/api", "./api"}, {"bin/gateway", "./gateway"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", b.out, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %w: %s", b.pkg, err, out)
		}
	}
	return nil
}

func (s *suite) setupDatabase(ctx context.Context, n int) error {
	admin, err := gorm.Open(postgres.Open(pgBase), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return err
	}
	name := "faults_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	err = admin.Exec("CREATE DATABASE " + name).Error
	if sqlDB, e := admin.DB(); e == nil {
		sqlDB.Close()
	}
	if err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	s.dbURL = strings.Replace(pgBase, "/postgres?", "/"+name+"?", 1)
	st, err := store.Open(ctx, store.Config{DatabaseURL: s.dbURL})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	hash, err := auth.HashSecret(password)
	if err != nil {
		return err
	}
	if err := st.CreateUser(ctx, &store.User{ID: uuid.NewString(), Email: email, PasswordHash: hash, FirstName: "Fault", LastName: "Suite", Role: "admin"}); err != nil {
		return err
	}
	for i := range n {
		id := fmt.Sprintf("FLT-%03d", i)
		if err := st.CreateStation(ctx, &store.Station{ID: id, Name: id}); err != nil {
			return err
		}
		tag := fmt.Sprintf("TAG%03d", i)
		if err := st.CreateIDToken(ctx, &store.IDToken{ID: uuid.NewString(), Value: tag, Type: "ISO14443", Status: "Accepted"}); err != nil {
			return err
		}
		s.chargers = append(s.chargers, &charger{id: id, v201: i%2 == 1, tag: tag, gateways: s.gatewayURLs, led: s.led, pause: &s.pause})
	}
	s.db, err = gorm.Open(postgres.Open(s.dbURL), &gorm.Config{Logger: logger.Discard})
	return err
}

// gatewaySecret is the suite's GATEWAY_SECRET, shared by its cores and gateways.
const gatewaySecret = "faults-gateway-secret-0123456789abcdef0123"

func (s *suite) coreEnv(i int, c *core) []string {
	return []string{
		"DATABASE_URL=" + s.dbURL, "AMQP_URL=" + amqpURL, "AMQP_PREFIX=" + s.prefix,
		"CORE_ID=" + c.id, "HTTP_ADDR=" + c.http, "GRPC_ADDR=" + c.grpc, "CONTROL_ADDR=" + c.control,
		"AUTH_SECRET=faults-" + strings.Repeat("s", 40), "GATEWAY_SECRET=" + gatewaySecret, "MIGRATE_ON_START=false",
		"LEASE_SWEEP_INTERVAL=" + leaseSweep.String(), "HEARTBEAT_INTERVAL=60",
		"LOG_FORMAT=json", "LOG_LEVEL=info", "SHUTDOWN_TIMEOUT=20s",
	}
}

func (s *suite) startCore(ctx context.Context, i int) error {
	s.mu.Lock()
	c := s.cores[i]
	s.mu.Unlock()
	if c == nil {
		hp, err := freePort()
		if err != nil {
			return err
		}
		gp, err := freePort()
		if err != nil {
			return err
		}
		cp, err := freePort()
		if err != nil {
			return err
		}
		c = &core{id: "core" + strconv.Itoa(i+1), http: "127.0.0.1:" + strconv.Itoa(hp), grpc: "127.0.0.1:" + strconv.Itoa(gp),
			control: "127.0.0.1:" + strconv.Itoa(cp)}
	}
	p, err := s.ps.start(c.id, "bin/api", s.coreEnv(i, c))
	if err != nil {
		return err
	}
	c.p = p
	s.mu.Lock()
	s.cores[i] = c
	s.mu.Unlock()
	return waitHTTP(ctx, "http://"+c.http+"/readyz", 30*time.Second)
}

// startGateway starts gateway slot i, talking to core coreIdx, under a new
// id (a restarted gateway never reuses its predecessor's).
func (s *suite) startGateway(ctx context.Context, i, coreIdx int) error {
	s.mu.Lock()
	s.gwStarts++
	g := &gateway{id: fmt.Sprintf("gw%d-%d", i+1, s.gwStarts), core: coreIdx}
	if old := s.gws[i]; old != nil {
		g.port = old.port
	}
	controlAddr := s.cores[coreIdx].control
	s.mu.Unlock()
	if g.port == 0 {
		var err error
		if g.port, err = freePort(); err != nil {
			return err
		}
	}
	p, err := s.ps.start(g.id, "bin/gateway", []string{
		"OCPP_ADDR=127.0.0.1:" + strconv.Itoa(g.port), "CORE_GRPC_ADDR=" + controlAddr, "GATEWAY_SECRET=" + gatewaySecret,
		"AMQP_URL=" + amqpURL, "AMQP_PREFIX=" + s.prefix, "GATEWAY_ID=" + g.id,
		"LEASE_TTL=" + strconv.Itoa(leaseTTL), "DRAIN_WINDOW=" + strconv.Itoa(drainSecs),
		"PING_INTERVAL=5", "PING_TIMEOUT=5", "CALL_TIMEOUT=10", "LOG_LEVEL=info", "LOG_FORMAT=json",
	})
	if err != nil {
		return err
	}
	g.p = p
	if err := waitHTTP(ctx, "http://127.0.0.1:"+strconv.Itoa(g.port)+"/healthz", 30*time.Second); err != nil {
		return err
	}
	s.mu.Lock()
	s.gws[i] = g
	s.mu.Unlock()
	return nil
}

func (s *suite) gatewayURLs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, g := range s.gws {
		if g != nil && g.p.running() {
			out = append(out, g.url())
		}
	}
	return out
}

func (s *suite) login(ctx context.Context) error {
	for _, c := range s.cores {
		body, _ := json.Marshal(map[string]string{"email": email, "password": password})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.http+"/api/v1/auth/login", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("login: %w", err)
		}
		var out struct {
			AccessToken string `json:"accessToken"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || out.AccessToken == "" {
			return fmt.Errorf("login to %s: %d %v", c.id, resp.StatusCode, err)
		}
		c.token = out.AccessToken
	}
	return nil
}

// --- faults ---

// onGateway returns the chargers connected through gateway slot i now.
func (s *suite) onGateway(i int) []*charger {
	s.mu.Lock()
	url := s.gws[i].url()
	s.mu.Unlock()
	var out []*charger
	for _, c := range s.chargers {
		if c.currentGateway() == url {
			out = append(out, c)
		}
	}
	return out
}

// gatewayFault kills or drains gateway slot i. Half of its chargers stay
// away for 25 s (so the core must find out by itself that they are gone),
// the others reconnect at once to another gateway.
func (s *suite) gatewayFault(ctx context.Context, r *result, i int, inject func(*gateway) error) error {
	affected := s.onGateway(i)
	if len(affected) < 2 {
		return fmt.Errorf("only %d chargers on gateway %d", len(affected), i+1)
	}
	s.mu.Lock()
	g := s.gws[i]
	s.mu.Unlock()
	at := time.Now()
	held, quick := affected[:len(affected)/2], affected[len(affected)/2:]
	for _, c := range held {
		c.hold(at.Add(25 * time.Second))
	}
	var injectErr error
	injected := make(chan struct{})
	go func() { injectErr = inject(g); close(injected) }()
	r.affected = len(affected)
	// Both watched at once: each figure is the time since the fault.
	onlineDone := make(chan struct{})
	go func() {
		defer close(onlineDone)
		r.online = s.waitStations(ctx, quick, at, func(st stationRow) bool { return st.Connected && st.GatewayID != g.id })
	}()
	r.unavailable = s.waitStations(ctx, held, at, func(st stationRow) bool { return !st.Connected && st.Status == "Unavailable" })
	<-onlineDone
	<-injected
	if injectErr != nil {
		return injectErr
	}
	if r.unavailable < 0 || r.online < 0 {
		r.notes = append(r.notes, "some stations never reached the expected state within 40s")
	}
	if err := s.startGateway(ctx, i, g.core); err != nil {
		return err
	}
	return nil
}

func (s *suite) killGateway(ctx context.Context, r *result) error {
	return s.gatewayFault(ctx, r, 0, func(g *gateway) error { g.p.kill9(); return nil })
}

func (s *suite) drainGateway(ctx context.Context, r *result) error {
	return s.gatewayFault(ctx, r, 1, func(g *gateway) error {
		if err := g.p.term(time.Duration(drainSecs+30) * time.Second); err != nil {
			return fmt.Errorf("gateway drain did not exit 0: %w", err)
		}
		return nil
	})
}

func (s *suite) killCore(ctx context.Context, r *result) error {
	s.cores[0].p.kill9()
	sleep(ctx, 3*time.Second)
	if err := s.startCore(ctx, 0); err != nil {
		return err
	}
	sleep(ctx, 5*time.Second)
	return nil
}

func (s *suite) rabbitOutage(ctx context.Context, r *result) error {
	if err := s.svc.stopRabbit(ctx); err != nil {
		return err
	}
	at := time.Now()
	sleep(ctx, 8*time.Second)
	if n := s.connectedChargers(); n < len(s.chargers)*3/4 {
		r.notes = append(r.notes, fmt.Sprintf("only %d of %d chargers kept their socket during the broker outage", n, len(s.chargers)))
	} else {
		r.notes = append(r.notes, fmt.Sprintf("%d of %d sockets stayed open during the broker outage", n, len(s.chargers)))
	}
	if err := s.svc.startRabbit(ctx); err != nil {
		return err
	}
	r.online = s.recovered(ctx, at)
	return nil
}

func (s *suite) postgresOutage(ctx context.Context, r *result) error {
	if err := s.svc.stopPostgres(ctx); err != nil {
		return err
	}
	at := time.Now()
	sleep(ctx, 3*time.Second)
	not503 := 0
	for _, c := range s.cores {
		if code := httpStatus(ctx, "http://"+c.http+"/readyz"); code != http.StatusServiceUnavailable {
			not503++
			r.notes = append(r.notes, fmt.Sprintf("%s /readyz answered %d during the database outage, want 503", c.id, code))
		}
	}
	if not503 == 0 {
		r.notes = append(r.notes, "both cores' /readyz answered 503 during the database outage")
	}
	sleep(ctx, 5*time.Second)
	if err := s.svc.startPostgres(ctx); err != nil {
		return err
	}
	r.online = s.recovered(ctx, at)
	for _, c := range s.cores {
		if err := waitHTTP(ctx, "http://"+c.http+"/readyz", 30*time.Second); err != nil {
			r.notes = append(r.notes, c.id+" not ready again: "+err.Error())
		}
	}
	return nil
}

func (s *suite) connectedChargers() int {
	n := 0
	for _, c := range s.chargers {
		if c.currentGateway() != "" {
			n++
		}
	}
	return n
}

// recovered waits until sessions are acknowledged again and returns the
// time since at.
func (s *suite) recovered(ctx context.Context, at time.Time) time.Duration {
	count := func() int {
		s.led.mu.Lock()
		defer s.led.mu.Unlock()
		return len(s.led.sessions)
	}
	before := count()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if count() >= before+5 {
			return time.Since(at)
		}
		sleep(ctx, 100*time.Millisecond)
	}
	return -1
}

type stationRow struct {
	ID        string
	Connected bool
	Status    string
	GatewayID string
}

// waitStations polls the database until every station satisfies ok and
// returns the time since at when the last one did (-1 after 40 s).
func (s *suite) waitStations(ctx context.Context, cs []*charger, at time.Time, ok func(stationRow) bool) time.Duration {
	pending := map[string]bool{}
	for _, c := range cs {
		pending[c.id] = true
	}
	var last time.Duration
	deadline := at.Add(40 * time.Second)
	for len(pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		ids := make([]string, 0, len(pending))
		for id := range pending {
			ids = append(ids, id)
		}
		var rows []stationRow
		if err := s.db.WithContext(ctx).Raw("SELECT id, connected, status, gateway_id FROM stations WHERE id IN ?", ids).Scan(&rows).Error; err == nil {
			for _, st := range rows {
				if ok(st) {
					delete(pending, st.ID)
					last = time.Since(at)
				}
			}
		}
		sleep(ctx, 100*time.Millisecond)
	}
	if len(pending) > 0 {
		return -1
	}
	return last
}

// --- commands ---

type cmdResult struct{ ok, err, hung int }

// commands sends an operator command (DataTransfer through the generic
// call API) to a random charger every 500 ms, alternating between the
// cores, while the fault runs. A command is answered (200), refused with a
// clear error (any other status, or the core unreachable) or hung (no
// answer 30 s after its 10 s timeout).
func (s *suite) commands(ctx context.Context) <-chan cmdResult {
	out := make(chan cmdResult, 1)
	go func() {
		var mu sync.Mutex
		var res cmdResult
		var wg sync.WaitGroup
		for i := 0; ctx.Err() == nil; i++ {
			c := s.cores[i%2]
			st := s.chargers[rand.N(len(s.chargers))]
			wg.Add(1)
			go func() {
				defer wg.Done()
				kind := s.command(c, st.id)
				mu.Lock()
				switch kind {
				case 0:
					res.ok++
				case 1:
					res.err++
				default:
					res.hung++
				}
				mu.Unlock()
			}()
			sleep(ctx, 500*time.Millisecond)
		}
		wg.Wait()
		out <- res
	}()
	return out
}

func (s *suite) command(c *core, station string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"action": "DataTransfer", "payload": map[string]any{"vendorId": "faults"}, "timeoutSeconds": 10})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.http+"/api/v1/stations/"+station+"/call", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 2
		}
		return 1
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil && ctx.Err() != nil {
		return 2
	}
	if resp.StatusCode == http.StatusOK {
		return 0
	}
	return 1
}

// --- invariants ---

// check lets every charger finish what it has queued (no new sessions),
// then compares what chargers saw acknowledged with the database.
func (s *suite) check(ctx context.Context, r *result) error {
	s.pause.Store(true)
	defer s.pause.Store(false)
	deadline := time.Now().Add(90 * time.Second)
	for {
		idle := 0
		for _, c := range s.chargers {
			if c.isIdle() {
				idle++
			}
		}
		if idle == len(s.chargers) {
			break
		}
		if time.Now().After(deadline) {
			r.notes = append(r.notes, fmt.Sprintf("%d chargers still had queued transaction messages after 90s", len(s.chargers)-idle))
			break
		}
		sleep(ctx, 200*time.Millisecond)
	}
	var rows []struct {
		StationID      string
		TransactionUID string
		EnergyWh       *float64
		Stopped        bool
	}
	err := s.db.WithContext(ctx).Raw(`SELECT station_id, transaction_uid, energy_wh, stopped_at IS NOT NULL AS stopped
FROM transactions WHERE station_id LIKE 'FLT-%'`).Scan(&rows).Error
	if err != nil {
		return err
	}
	s.led.mu.Lock()
	defer s.led.mu.Unlock()
	r.acked, r.inDB = len(s.led.sessions), len(rows)
	inDB := map[string]bool{}
	for _, row := range rows {
		k := row.StationID + "/" + row.TransactionUID
		if inDB[k] {
			r.dup++
			continue
		}
		inDB[k] = true
		sess, ok := s.led.sessions[k]
		if !ok {
			r.dup++ // a transaction no charger was acknowledged: a retry counted twice
			r.notes = append(r.notes, "transaction in the database no charger saw acknowledged: "+k)
			continue
		}
		if sess.ended {
			r.ended++
			if row.EnergyWh == nil || *row.EnergyWh != sess.energy || !row.Stopped {
				r.energyBad++
				got := "null"
				if row.EnergyWh != nil {
					got = strconv.FormatFloat(*row.EnergyWh, 'f', -1, 64)
				}
				r.notes = append(r.notes, fmt.Sprintf("%s: energy %s Wh (stopped %v), charger metered %v Wh", k, got, row.Stopped, sess.energy))
			}
		}
	}
	for k := range s.led.sessions {
		if !inDB[k] {
			r.lost++
			r.notes = append(r.notes, "acknowledged transaction missing from the database: "+k)
		}
	}
	return nil
}

// --- output ---

func dur(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func printTable(results []result) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "fault\tacked tx\tdb tx\tlost\tdup\tended\tenergy bad\taffected\t→Unavailable\t→online\tcmd ok\tcmd err\tcmd hung\tCALLERROR\tcall timeout\tcrashed\t")
	for _, r := range results {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n",
			r.fault, r.acked, r.inDB, r.lost, r.dup, r.ended, r.energyBad, r.affected,
			dur(r.unavailable), dur(r.online), r.cmdOK, r.cmdErr, r.cmdHung, r.callErrors, r.timeouts, r.crashed)
	}
	w.Flush()
	for _, r := range results {
		for i, n := range r.notes {
			if i == 10 {
				fmt.Printf("  %s: … %d more notes\n", r.fault, len(r.notes)-10)
				break
			}
			fmt.Printf("  %s: %s\n", r.fault, n)
		}
	}
}
