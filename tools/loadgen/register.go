package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Registration creates the run's stations (and id token) through the REST
// API before the chargers connect.
type Registration struct {
	API      string // base URL, e.g. http://127.0.0.1:8080
	Email    string
	Password string // the operator's
	HTTP     *http.Client
	// Parallel bounds concurrent creations: the core hashes every station
	// password (Argon2id), so more than a few at once only queue up.
	Parallel int
}

// Register logs in, then creates every station of cfg with cfg.Password and,
// for the transactions scenario, the id token cfg.IDTag. Existing ones
// (409) are fine: a rerun reuses them.
func Register(ctx context.Context, reg Registration, cfg Config) error {
	if reg.HTTP == nil {
		reg.HTTP = http.DefaultClient
	}
	if reg.Parallel <= 0 {
		reg.Parallel = 8
	}
	base := strings.TrimSuffix(reg.API, "/")
	var login struct {
		AccessToken string `json:"accessToken"`
	}
	if err := postJSON(ctx, reg.HTTP, base+"/api/v1/auth/login", "", map[string]string{"email": reg.Email, "password": reg.Password}, &login); err != nil {
		return fmt.Errorf("log in as %s: %w", reg.Email, err)
	}
	if login.AccessToken == "" {
		return errors.New("log in: the answer has no accessToken")
	}
	if cfg.Scenario == "transactions" {
		err := postJSON(ctx, reg.HTTP, base+"/api/v1/id-tokens", login.AccessToken, map[string]string{"value": cfg.IDTag, "type": "ISO14443"}, nil)
		if err != nil && !errors.Is(err, errConflict) {
			return fmt.Errorf("create id token %s: %w", cfg.IDTag, err)
		}
	}

	ids := make(chan string)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range min(reg.Parallel, cfg.N) {
		wg.Go(func() {
			for id := range ids {
				body := map[string]string{"id": id, "name": "loadgen " + id}
				if cfg.Password != "" {
					body["password"] = cfg.Password
				}
				err := postJSON(ctx, reg.HTTP, base+"/api/v1/stations", login.AccessToken, body, nil)
				if err != nil && !errors.Is(err, errConflict) {
					select {
					case errc <- fmt.Errorf("create station %s: %w", id, err):
					default:
					}
				}
			}
		})
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
feed:
	for i := range cfg.N {
		select {
		case ids <- cfg.stationID(i):
		case err := <-errc:
			errc <- err
			break feed
		case <-sctx.Done():
			break feed
		}
	}
	close(ids)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return ctx.Err()
	}
}

var errConflict = errors.New("already exists")

func postJSON(ctx context.Context, c *http.Client, url, token string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("POST %s: read answer: %w", url, err)
	}
	switch {
	case resp.StatusCode == http.StatusConflict:
		return errConflict
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("POST %s: HTTP %d: %.300s", url, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("POST %s: decode answer: %w", url, err)
		}
	}
	return nil
}
