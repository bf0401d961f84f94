package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chargeplane/chargeplane/pkg/bus/rabbitmq"
	"github.com/chargeplane/chargeplane/tools/internal/proc"
)

const (
	operatorEmail    = "bench@chargeplane.test"
	operatorPassword = "bench-operator-password"
)

// system is one running deployment under test.
type system struct {
	mode     string // embedded or scale-out
	db       string // sqlite or postgresql
	api      *proc.Proc
	gateway  *proc.Proc // nil in the embedded mode: the api holds the sockets
	rest     string
	ocppURL  string
	apiPprof string
	gwPprof  string
	cleanup  []func(context.Context) error
	apiEnv   map[string]string
	gwEnv    map[string]string
	binDir   string
	logDir   string
	restarts int
}

// restart stops api and gateway and starts them again with set applied to
// both environments (the remote scenario points them at latency proxies).
func (s *system) restart(ctx context.Context, set map[string]string) error {
	if s.gateway != nil {
		if err := s.gateway.Stop(60 * time.Second); err != nil {
			return err
		}
	}
	if err := s.api.Stop(60 * time.Second); err != nil {
		return err
	}
	s.restarts++
	for k, v := range set {
		s.apiEnv[k] = v
		if s.gwEnv != nil {
			s.gwEnv[k] = v
		}
	}
	if s.gwEnv != nil {
		// A gateway of its own: the old one's lease, should it expire
		// meanwhile, must not mark the new one's stations disconnected.
		s.gwEnv["GATEWAY_ID"] = "bench-gw-" + randomHex(3)
	}
	p, err := proc.Start(fmt.Sprintf("%s-api-%d", s.mode, s.restarts), filepath.Join(s.binDir, "api"), []string{"serve"}, s.apiEnv, s.logDir)
	if err != nil {
		return err
	}
	s.api = p
	if err := proc.WaitHTTP(ctx, s.api, s.rest+"/readyz", 60*time.Second); err != nil {
		return err
	}
	if s.gateway == nil {
		return nil
	}
	if s.gateway, err = proc.Start(fmt.Sprintf("%s-gateway-%d", s.mode, s.restarts), filepath.Join(s.binDir, "gateway"), nil, s.gwEnv, s.logDir); err != nil {
		return err
	}
	return proc.WaitHTTP(ctx, s.gateway, "http://"+s.gwEnv["OCPP_ADDR"]+"/healthz", 60*time.Second)
}

// restartAPI stops the api and starts it again on the same state, so that
// a measurement starts from a fresh process (registering thousands of
// stations through REST leaves a heap the idle RSS figure must not count).
func (s *system) restartAPI(ctx context.Context) error {
	if err := s.api.Stop(60 * time.Second); err != nil {
		return err
	}
	p, err := proc.Start(s.mode+"-api-restarted", filepath.Join(s.binDir, "api"), []string{"serve"}, s.apiEnv, s.logDir)
	if err != nil {
		return err
	}
	s.api = p
	return proc.WaitHTTP(ctx, s.api, s.rest+"/readyz", 60*time.Second)
}

// gatewayPID is the process holding the chargers' sockets.
func (s *system) gatewayPID() int {
	if s.gateway != nil {
		return s.gateway.Pid()
	}
	return s.api.Pid()
}

func (s *system) pids() []int {
	if s.gateway != nil {
		return []int{s.api.Pid(), s.gateway.Pid()}
	}
	return []int{s.api.Pid()}
}

// stop shuts the processes down, then deletes what the run created
// (database, broker topology, data directory); every step is attempted.
func (s *system) stop(ctx context.Context) error {
	var errs []error
	if s.gateway != nil {
		if err := s.gateway.Stop(60 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if s.api != nil {
		if err := s.api.Stop(60 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		if err := s.cleanup[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startSystem starts api (and, for scale-out, a gateway) with fresh state.
func startSystem(ctx context.Context, o *options, mode, workDir string) (_ *system, err error) {
	s := &system{mode: mode, db: "sqlite", binDir: o.binDir, logDir: o.outDir}
	defer func() {
		if err != nil {
			_ = s.stop(context.WithoutCancel(ctx))
		}
	}()
	dataDir := filepath.Join(workDir, mode+"-data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	s.cleanup = append(s.cleanup, func(context.Context) error { return os.RemoveAll(dataDir) })
	addrs, err := proc.FreeAddrs(6)
	if err != nil {
		return nil, err
	}
	httpAddr, grpcAddr, ocppAddr, apiPprof, gwPprof, controlAddr := addrs[0], addrs[1], addrs[2], addrs[3], addrs[4], addrs[5]
	env := map[string]string{
		"HTTP_ADDR": httpAddr, "GRPC_ADDR": grpcAddr, "CONTROL_ADDR": controlAddr, "OCPP_ADDR": ocppAddr, "PPROF_ADDR": apiPprof,
		"DATA_DIR": dataDir, "LOG_LEVEL": "warn", "DRAIN_WINDOW": "0", "SHUTDOWN_TIMEOUT": "60s",
		"BUS_PARTITIONS": fmt.Sprint(o.partitions), "CORE_ID": "bench-core-" + randomHex(3),
	}
	if mode == "scale-out" {
		s.db = "postgresql"
		dbURL, drop, err := createDatabase(ctx, o.pgAdminURL)
		if err != nil {
			return nil, err
		}
		s.cleanup = append(s.cleanup, drop)
		prefix := "cpbench-" + randomHex(4)
		s.cleanup = append(s.cleanup, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := rabbitmq.DeleteTopology(ctx, rabbitmq.Config{URL: o.amqpURL, Prefix: prefix, Partitions: o.partitions}); err != nil {
				return fmt.Errorf("delete RabbitMQ topology %s: %w", prefix, err)
			}
			return nil
		})
		env["DATABASE_URL"] = dbURL
		env["AMQP_URL"] = o.amqpURL
		env["AMQP_PREFIX"] = prefix
		env["AUTH_SECRET"] = randomHex(32)
		env["GATEWAY_SECRET"] = randomHex(32)
	}

	if err := proc.Run(ctx, filepath.Join(o.binDir, "api"), []string{"user", "create", "-m", operatorEmail, "-p", operatorPassword, "-f", "Bench", "-l", "Runner"}, env); err != nil {
		return nil, err
	}
	s.apiEnv = env
	if s.api, err = proc.Start(mode+"-api", filepath.Join(o.binDir, "api"), []string{"serve"}, env, o.outDir); err != nil {
		return nil, err
	}
	s.rest = "http://" + httpAddr
	s.apiPprof = apiPprof
	if err := proc.WaitHTTP(ctx, s.api, s.rest+"/readyz", 60*time.Second); err != nil {
		return nil, err
	}
	s.ocppURL = "ws://" + ocppAddr + "/ocpp"
	if mode == "scale-out" {
		genv := map[string]string{
			"OCPP_ADDR": ocppAddr, "CORE_GRPC_ADDR": controlAddr, "GATEWAY_SECRET": env["GATEWAY_SECRET"], "AMQP_URL": o.amqpURL, "AMQP_PREFIX": env["AMQP_PREFIX"],
			"BUS_PARTITIONS": fmt.Sprint(o.partitions), "GATEWAY_ID": "bench-gw-" + randomHex(3), "PPROF_ADDR": gwPprof,
			"LOG_LEVEL": "warn", "DRAIN_WINDOW": "0",
		}
		s.gwEnv = genv
		if s.gateway, err = proc.Start(mode+"-gateway", filepath.Join(o.binDir, "gateway"), nil, genv, o.outDir); err != nil {
			return nil, err
		}
		s.gwPprof = gwPprof
		if err := proc.WaitHTTP(ctx, s.gateway, "http://"+ocppAddr+"/healthz", 60*time.Second); err != nil {
			return nil, err
		}
	} else {
		s.gwPprof = apiPprof
	}
	return s, nil
}

// createDatabase makes a fresh PostgreSQL database and returns its URL and
// how to drop it.
func createDatabase(ctx context.Context, adminURL string) (string, func(context.Context) error, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL URL: %w", err)
	}
	name := "cp_bench_" + randomHex(5)
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	admin, err := pgx.Connect(cctx, adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL unreachable at %s (start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start): %w", u.Redacted(), err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	out := *u
	out.Path = "/" + name
	return out.String(), drop, nil
}

// register creates stations prefix0..prefix(n-1) through the REST API, as
// an operator would, parallel requests at a time.
func register(ctx context.Context, rest, prefix string, n int, password string, parallel int) error {
	var login struct {
		AccessToken string `json:"accessToken"`
	}
	if err := postJSON(ctx, rest+"/api/v1/auth/login", "", map[string]string{"email": operatorEmail, "password": operatorPassword}, &login); err != nil {
		return fmt.Errorf("log in: %w", err)
	}
	ids := make(chan string)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range parallel {
		wg.Go(func() {
			for id := range ids {
				body := map[string]string{"id": id, "name": "bench " + id}
				if password != "" {
					body["password"] = password
				}
				if err := postJSON(ctx, rest+"/api/v1/stations", login.AccessToken, body, nil); err != nil {
					mu.Lock()
					first = cmpOr(first, fmt.Errorf("create station %s: %w", id, err))
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		ids <- fmt.Sprintf("%s%d", prefix, i)
	}
	close(ids)
	wg.Wait()
	return cmpOr(first, ctx.Err())
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

var restClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func postJSON(ctx context.Context, url, token string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := restClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: HTTP %d: %.200s", url, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// fetch saves url's body to path (profiles).
func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
