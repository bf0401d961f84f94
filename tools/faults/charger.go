package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/chargeplane/chargeplane/pkg/chargepoint"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// session is one charging session as the charger saw it acknowledged.
type session struct {
	station string
	uid     string  // 2.0.1 transactionId; 1.6 the CSMS's transactionId in decimal
	energy  float64 // Wh the charger metered (stop − start)
	ended   bool    // the stop was acknowledged
}

// ledger collects what every charger saw acknowledged.
type ledger struct {
	mu       sync.Mutex
	sessions map[string]*session // station/uid
	// Counters of CALL outcomes, for the outage figures.
	callErrors, timeouts, closed atomic.Int64
}

func (l *ledger) started(station, uid string) *session {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := station + "/" + uid
	if s, ok := l.sessions[k]; ok {
		return s
	}
	s := &session{station: station, uid: uid}
	l.sessions[k] = s
	return s
}

func (l *ledger) ended(s *session, energy float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.energy, s.ended = energy, true
}

// txMsg is a transaction-related message: it is retried, with the same
// content, until the CSMS acknowledges it (OCPP 1.6 §4.10 / 2.0.1 E and J:
// queued while offline, delivered in order).
type txMsg struct {
	action  string
	build   func() map[string]any // called once, when first sent
	payload map[string]any
	onAck   func(json.RawMessage)
}

// charger is one simulated station.
type charger struct {
	id       string
	v201     bool
	tag      string
	gateways func() []string // the live endpoints, "ws://host:port/ocpp/"
	led      *ledger
	pause    *atomic.Bool // no new sessions while set

	mu        sync.Mutex
	client    *chargepoint.Client
	gateway   string    // endpoint of the current connection
	holdUntil time.Time // a real charger whose network is down stays away
	queue     []*txMsg
	register  float64 // the energy meter, Wh
	seq       int     // 2.0.1 seqNo of the current transaction
	idle      bool    // no transaction message pending
}

func (c *charger) currentGateway() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		return ""
	}
	select {
	case <-c.client.Done():
		return ""
	default:
	}
	return c.gateway
}

// hold keeps the charger offline until t (its socket is already gone).
func (c *charger) hold(t time.Time) {
	c.mu.Lock()
	c.holdUntil = t
	c.mu.Unlock()
}

func (c *charger) isIdle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.idle
}

func (c *charger) run(ctx context.Context) {
	defer func() {
		c.mu.Lock()
		if c.client != nil {
			_ = c.client.Close()
		}
		c.mu.Unlock()
	}()
	attempt := 0
	for ctx.Err() == nil {
		cl, err := c.connect(ctx)
		if err != nil {
			attempt++
			sleep(ctx, backoff(attempt))
			continue
		}
		attempt = 0
		c.serve(ctx, cl)
	}
}

func backoff(attempt int) time.Duration {
	d := 200 * time.Millisecond << min(attempt, 4) // up to 3.2s
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// connect dials a gateway (a different one each attempt, starting at a
// random one) and boots.
func (c *charger) connect(ctx context.Context) (*chargepoint.Client, error) {
	c.mu.Lock()
	hold := time.Until(c.holdUntil)
	c.mu.Unlock()
	if hold > 0 {
		sleep(ctx, hold)
	}
	gws := c.gateways()
	if len(gws) == 0 {
		return nil, errors.New("no gateway")
	}
	gw := gws[rand.N(len(gws))]
	sub := "ocpp1.6"
	if c.v201 {
		sub = "ocpp2.0.1"
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := chargepoint.Dial(dctx, gw+c.id, chargepoint.Options{
		Subprotocols: []string{sub},
		Compress:     c.v201,
		OnCall: func(ctx context.Context, action string, payload json.RawMessage) (any, error) {
			if action == "DataTransfer" {
				return map[string]any{"status": "Accepted"}, nil
			}
			return nil, &chargepoint.CallError{Code: ocppj.CodeNotSupported, Description: action + " not simulated"}
		},
	})
	if err != nil {
		return nil, err
	}
	var boot map[string]any
	if c.v201 {
		boot = map[string]any{"reason": "PowerUp", "chargingStation": map[string]any{"vendorName": "Chargeplane", "model": "faults"}}
	} else {
		boot = map[string]any{"chargePointVendor": "Chargeplane", "chargePointModel": "faults"}
	}
	var resp struct {
		Status string `json:"status"`
	}
	bctx, bcancel := context.WithTimeout(ctx, 8*time.Second)
	defer bcancel()
	if err := cl.Call(bctx, "BootNotification", boot, &resp); err != nil || resp.Status != "Accepted" {
		_ = cl.Close()
		return nil, fmt.Errorf("boot: %v %s", err, resp.Status)
	}
	c.mu.Lock()
	c.client, c.gateway = cl, gw
	c.mu.Unlock()
	return cl, nil
}

// serve runs sessions over one connection until it closes.
func (c *charger) serve(ctx context.Context, cl *chargepoint.Client) {
	failures := 0
	for ctx.Err() == nil {
		select {
		case <-cl.Done():
			return
		default:
		}
		c.mu.Lock()
		if len(c.queue) == 0 && !c.pause.Load() {
			c.queue = c.newSession()
		}
		var m *txMsg
		if len(c.queue) > 0 {
			m = c.queue[0]
		}
		c.idle = m == nil
		c.mu.Unlock()
		if m == nil {
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		if m.payload == nil {
			m.payload = m.build()
		}
		cctx, cancel := context.WithTimeout(ctx, 8*time.Second)
		raw, err := cl.CallRaw(cctx, m.action, m.payload)
		cancel()
		if err == nil {
			failures = 0
			c.mu.Lock()
			c.queue = c.queue[1:]
			c.mu.Unlock()
			if m.onAck != nil {
				m.onAck(raw)
			}
			sleep(ctx, time.Duration(50+rand.N(150))*time.Millisecond)
			continue
		}
		var ce *chargepoint.CallError
		switch {
		case errors.As(err, &ce):
			c.led.callErrors.Add(1)
		case ctx.Err() != nil:
			return
		case cctx.Err() != nil:
			c.led.timeouts.Add(1)
		default:
			c.led.closed.Add(1)
		}
		failures++
		sleep(ctx, backoff(failures))
	}
}

// newSession queues one complete session: start, three meter readings,
// stop. c.mu must be held.
func (c *charger) newSession() []*txMsg {
	start := c.register
	energy := float64(100 * (1 + rand.N(50)))
	step := energy / 4
	now := func() string { return time.Now().UTC().Format(time.RFC3339Nano) }
	var s *session
	if !c.v201 {
		var txID int
		msgs := []*txMsg{{
			action: "StartTransaction",
			build: func() map[string]any {
				return map[string]any{"connectorId": 1, "idTag": c.tag, "meterStart": int(start), "timestamp": now()}
			},
			onAck: func(raw json.RawMessage) {
				var r struct {
					TransactionID int `json:"transactionId"`
				}
				_ = json.Unmarshal(raw, &r)
				txID = r.TransactionID
				s = c.led.started(c.id, strconv.Itoa(txID))
			},
		}}
		for i := 1; i <= 3; i++ {
			msgs = append(msgs, &txMsg{action: "MeterValues", build: func() map[string]any {
				return map[string]any{"connectorId": 1, "transactionId": txID, "meterValue": []any{map[string]any{
					"timestamp": now(), "sampledValue": []any{map[string]any{
						"value": strconv.Itoa(int(start + float64(i)*step)), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}}}}}
			}})
		}
		msgs = append(msgs, &txMsg{
			action: "StopTransaction",
			build: func() map[string]any {
				return map[string]any{"transactionId": txID, "meterStop": int(start + energy), "timestamp": now(), "idTag": c.tag, "reason": "EVDisconnected"}
			},
			onAck: func(json.RawMessage) { c.led.ended(s, energy) },
		})
		c.register = start + energy
		return msgs
	}
	uid := uuid.NewString()
	seq := 0
	event := func(kind, trigger string, value float64, ctxName string) func() map[string]any {
		n := seq
		seq++
		return func() map[string]any {
			sv := map[string]any{"value": value, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": map[string]any{"unit": "Wh"}}
			if ctxName != "" {
				sv["context"] = ctxName
			}
			info := map[string]any{"transactionId": uid, "chargingState": "Charging"}
			if kind == "Ended" {
				info = map[string]any{"transactionId": uid, "stoppedReason": "EVDisconnected", "chargingState": "Idle"}
			}
			ev := map[string]any{
				"eventType": kind, "timestamp": now(), "triggerReason": trigger, "seqNo": n,
				"transactionInfo": info,
				"evse":            map[string]any{"id": 1, "connectorId": 1},
				"meterValue":      []any{map[string]any{"timestamp": now(), "sampledValue": []any{sv}}},
			}
			if kind == "Started" {
				ev["idToken"] = map[string]any{"idToken": c.tag, "type": "ISO14443"}
			}
			return ev
		}
	}
	msgs := []*txMsg{{action: "TransactionEvent", build: event("Started", "Authorized", start, "Transaction.Begin"),
		onAck: func(json.RawMessage) { s = c.led.started(c.id, uid) }}}
	for i := 1; i <= 3; i++ {
		msgs = append(msgs, &txMsg{action: "TransactionEvent", build: event("Updated", "MeterValuePeriodic", start+float64(i)*step, "Sample.Periodic")})
	}
	msgs = append(msgs, &txMsg{action: "TransactionEvent", build: event("Ended", "EVCommunicationLost", start+energy, "Transaction.End"),
		onAck: func(json.RawMessage) { c.led.ended(s, energy) }})
	c.register = start + energy
	return msgs
}
