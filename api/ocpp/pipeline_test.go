package ocpp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/bus/rabbitmq"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// brokerProxy forwards TCP to the broker and can cut every connection at
// once and refuse new ones: a core process killed, as the broker sees it.
type brokerProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	dead   bool
}

func newBrokerProxy(t *testing.T, target string) *brokerProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &brokerProxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.dead {
				p.mu.Unlock()
				_ = c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				_ = c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	t.Cleanup(func() { p.kill(); _ = ln.Close() })
	return p
}

func (p *brokerProxy) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dead = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// pipelineCore is one core instance: its own store, bus connection (through
// a proxy that can kill it) and router, with a handler that adds a random
// delay, as database and network jitter would.
type pipelineCore struct {
	name     string
	proxy    *brokerProxy
	bus      *rabbitmq.Bus
	store    *store.Store
	meters   *store.MeterBatcher
	statuses *store.StatusBatcher
	lastSeen *store.LastSeenWriter
	router   *Router
	killed   atomic.Bool
	running  sync.WaitGroup
	handled  *handledLedger
}

func (c *pipelineCore) handle(ctx context.Context, env *busv1.Envelope) error {
	if c.killed.Load() {
		<-ctx.Done() // a dead process handles nothing more
		return ctx.Err()
	}
	c.running.Add(1)
	defer c.running.Done()
	time.Sleep(time.Duration(rand.N(2000)) * time.Microsecond)
	if err := c.router.HandleUpstream(ctx, env); err != nil {
		return err
	}
	c.handled.record(c.name, env)
	return nil
}

// handledLedger checks the order in which the cores' routers handled each
// station's messages: every step is the next message, or back to one
// already handled (a redelivered suffix after the kill), never a skip.
type handledLedger struct {
	t       *testing.T
	mu      sync.Mutex
	next    map[string]int
	last    map[string]int
	by      map[string]int // messages handled first by each core
	replays int
	total   int
}

func (l *handledLedger) record(core string, env *busv1.Envelope) {
	seq, err := strconv.Atoi(strings.TrimPrefix(env.GetMessageId(), env.GetStationId()+"-"))
	if err != nil {
		l.t.Errorf("unexpected message id %q", env.GetMessageId())
		return
	}
	st := env.GetStationId()
	l.mu.Lock()
	defer l.mu.Unlock()
	last, seen := l.last[st]
	switch {
	case seq == l.next[st] && (!seen || seq == last+1):
		l.next[st]++
		l.by[core]++
		l.total++
	case seq < l.next[st] && (seq <= last || seq == last+1):
		l.replays++
	default:
		l.t.Errorf("station %s: message %d handled after %d, want %d", st, seq, last, l.next[st])
	}
	l.last[st] = seq
}

func (l *handledLedger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// stationScript is what one OCPP 2.0.1 charger sends, pipelined (as a
// charger flushing its offline queue does): boot, status, then sessions of
// TransactionEvent Started, Updated × 3, Ended with statuses between, and
// a final status that tells whether the last message was applied last.
func stationScript(st string, sessions int, t0 time.Time) (frames [][]byte, txIDs []string) {
	at := t0
	tick := func() string { at = at.Add(time.Second); return at.Format(time.RFC3339Nano) }
	add := func(action, payload string) {
		id := fmt.Sprintf("%s-%d", st, len(frames))
		f, err := ocppj.EncodeCall(id, action, json.RawMessage(payload))
		if err != nil {
			panic(err)
		}
		frames = append(frames, f)
	}
	status := func(s string) {
		add("StatusNotification", fmt.Sprintf(`{"timestamp":%q,"connectorStatus":%q,"evseId":1,"connectorId":1}`, tick(), s))
	}
	add("BootNotification", `{"chargingStation":{"model":"M","vendorName":"V"},"reason":"PowerUp"}`)
	status("Available")
	meter := 1000.0
	for s := range sessions {
		tx := fmt.Sprintf("%s-tx%d", st, s)
		txIDs = append(txIDs, tx)
		event := func(typ, trigger string, seq int) {
			ts := tick()
			add("TransactionEvent", fmt.Sprintf(`{"eventType":%q,"timestamp":%q,"triggerReason":%q,"seqNo":%d,`+
				`"transactionInfo":{"transactionId":%q},"evse":{"id":1,"connectorId":1},`+
				`"meterValue":[{"timestamp":%q,"sampledValue":[{"value":%g,"measurand":"Energy.Active.Import.Register"}]}]}`,
				typ, ts, trigger, seq, tx, ts, meter))
		}
		event("Started", "CablePluggedIn", 0)
		status("Occupied")
		for u := 1; u <= 3; u++ {
			meter += 250
			event("Updated", "MeterValuePeriodic", u)
		}
		meter += 250
		event("Ended", "EVCommunicationLost", 4)
		status("Available")
	}
	status("Faulted")
	return frames, txIDs
}

// Many stations × many messages through two core instances with random
// handler delays: a second instance joins (hand-over) and the first is
// killed mid-run (its connection cut, as a kill -9 does, leaving work
// unacknowledged). Every station's messages are handled in order, and the
// database holds each effect exactly once: one transaction per session
// with its energy right, each meter reading once, each connector in the
// last status its charger sent.
func TestOrderedExactlyOnceAcrossCoresWithKill(t *testing.T) {
	const stations, sessions = 24, 3
	ctx := t.Context()
	schemas, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	dbURL := testenv.PostgresURL(t)
	amqpURL := testenv.AMQPURL(t)
	u, err := url.Parse(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	busCfg := rabbitmq.Config{
		URL: amqpURL, Prefix: testenv.UniquePrefix(t), Partitions: 4, Logger: quietLogger(),
		RetryMin: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		MemberHeartbeat: 100 * time.Millisecond, MemberTTL: time.Second,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = rabbitmq.DeleteTopology(cctx, busCfg)
	})
	dialBus := func(id, host string) *rabbitmq.Bus {
		cfg := busCfg
		cfg.InstanceID = id
		hu := *u
		hu.Host = host
		cfg.URL = hu.String()
		b, err := rabbitmq.Dial(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}

	// The gateway: publishes each station's frames in order and collects
	// the answers.
	gw := dialBus("gateway", u.Host)
	var answersMu sync.Mutex
	answered := map[string]ocppj.MessageType{}
	gwCtx, stopGW := context.WithCancel(ctx)
	defer stopGW()
	if err := gw.ConsumeGateway(gwCtx, gatewayID, func(_ context.Context, env *busv1.Envelope) error {
		f, err := ocppj.Parse(env.GetFrame())
		if err != nil {
			t.Errorf("unreadable answer %s", env.GetFrame())
			return nil
		}
		answersMu.Lock()
		if prev, ok := answered[f.ID]; !ok || prev != ocppj.CallResult {
			answered[f.ID] = f.Type
		}
		answersMu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	seed := openStoreURL(t, dbURL)
	ids := make([]string, stations)
	for i := range ids {
		ids[i] = fmt.Sprintf("PIPE-%02d", i)
		if err := seed.CreateStation(ctx, &store.Station{ID: ids[i], Name: ids[i]}); err != nil {
			t.Fatal(err)
		}
	}

	ledger := &handledLedger{t: t, next: map[string]int{}, last: map[string]int{}, by: map[string]int{}}
	newCore := func(name string) *pipelineCore {
		c := &pipelineCore{name: name, handled: ledger, proxy: newBrokerProxy(t, u.Host)}
		c.bus = dialBus(name, c.proxy.ln.Addr().String())
		c.store = openStoreURL(t, dbURL)
		c.meters = c.store.NewMeterBatcher(store.MeterBatcherConfig{Logger: quietLogger()})
		c.statuses = c.store.NewStatusBatcher(store.BatcherConfig{Logger: quietLogger()})
		c.lastSeen = c.store.NewLastSeenWriter(store.LastSeenWriterConfig{Logger: quietLogger()})
		t.Cleanup(func() { _ = c.meters.Close(); _ = c.statuses.Close(); _ = c.lastSeen.Close() })
		c.router = NewRouter(Deps{Store: c.store, Bus: c.bus, Schemas: schemas, Logger: quietLogger(),
			HeartbeatInterval: time.Minute, ValidateResponses: true, Meters: c.meters, Statuses: c.statuses, LastSeen: c.lastSeen})
		if err := c.bus.ConsumeUpstream(ctx, c.handle); err != nil {
			t.Fatal(err)
		}
		return c
	}

	scripts := make([][][]byte, stations)
	txs := map[string][]string{}
	total := 0
	t0 := time.Now().UTC().Truncate(time.Second)
	for i, st := range ids {
		scripts[i], txs[st] = stationScript(st, sessions, t0)
		total += len(scripts[i])
	}

	a := newCore("core-a")
	var pubWG sync.WaitGroup
	for i, st := range ids {
		pubWG.Go(func() {
			for n, f := range scripts[i] {
				env := &busv1.Envelope{Kind: busv1.Kind_KIND_FRAME, StationId: st, GatewayId: gatewayID, ConnectionId: connID,
					OcppVersion: busv1.OcppVersion_OCPP_VERSION_201, ReceivedAt: timestamppb.Now(),
					MessageId: fmt.Sprintf("%s-%d", st, n), Frame: f}
				if f, _ := ocppj.Parse(f); f.Action != "" {
					env.Action = f.Action
				}
				if err := gw.PublishUpstream(ctx, env); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				if rand.N(4) == 0 {
					time.Sleep(time.Duration(rand.N(3)) * time.Millisecond)
				}
			}
		})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(90 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (%d of %d handled)", what, ledger.count(), total)
			}
		}
	}
	waitFor("a fifth handled", func() bool { return ledger.count() >= total/5 })
	b := newCore("core-b") // joins: partitions are handed over to it
	waitFor("half handled", func() bool { return ledger.count() >= total/2 })

	// Kill core-a between two of its messages, as kill -9 does: nothing
	// more runs, its connection drops with deliveries unacknowledged.
	a.killed.Store(true)
	a.running.Wait()
	a.proxy.kill()

	pubWG.Wait()
	waitFor("every message handled", func() bool { return ledger.count() == total })
	_ = b.meters.Close()
	_ = a.meters.Close()

	ledger.mu.Lock()
	t.Logf("%d messages handled; first by core-a %d, core-b %d; %d handled again after the kill",
		total, ledger.by["core-a"], ledger.by["core-b"], ledger.replays)
	if ledger.by["core-a"] == 0 || ledger.by["core-b"] == 0 {
		t.Errorf("both cores should have handled messages: %v", ledger.by)
	}
	ledger.mu.Unlock()

	// Every CALL answered with a CALLRESULT (replies may arrive twice).
	waitFor("every CALL answered", func() bool {
		answersMu.Lock()
		defer answersMu.Unlock()
		return len(answered) == total
	})
	answersMu.Lock()
	for id, typ := range answered {
		if typ != ocppj.CallResult {
			t.Errorf("message %s answered with %v", id, typ)
		}
	}
	answersMu.Unlock()

	// Exactly-once effects.
	for _, st := range ids {
		_, n, err := seed.ListTransactions(ctx, store.TransactionFilter{StationID: st}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if n != sessions {
			t.Errorf("station %s: %d transactions, want %d", st, n, sessions)
		}
		for _, uid := range txs[st] {
			tx, err := seed.GetTransactionByUID(ctx, st, uid)
			if err != nil {
				t.Fatalf("transaction %s: %v", uid, err)
			}
			if tx.Status != store.TxEnded || tx.EnergyWh == nil || *tx.EnergyWh != 1000 || tx.SeqNo != 4 {
				t.Errorf("transaction %s: status %s, energy %v, seqNo %d; want ended, 1000 Wh, 4", uid, tx.Status, derefF(tx.EnergyWh), tx.SeqNo)
			}
			readings, err := seed.ListMeterValues(ctx, store.MeterValueFilter{StationID: st, TransactionUID: &uid}, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(readings) != 5 {
				t.Errorf("transaction %s: %d meter readings stored, want 5", uid, len(readings))
			}
		}
		got, err := seed.GetStation(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Connectors) != 1 || got.Connectors[0].Status != "Faulted" {
			t.Errorf("station %s: connectors %+v, want one, Faulted (its last message)", st, got.Connectors)
		}
	}
}

func derefF(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func openStoreURL(t *testing.T, dbURL string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DatabaseURL: dbURL, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	return st
}
