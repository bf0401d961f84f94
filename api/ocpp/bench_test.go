package ocpp

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/bus/inproc"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// BenchmarkDispatch is one charger CALL through the core: parse the frame,
// validate the payload against its schema, check the station's
// registration, run the handler against a real store, encode and publish
// the reply (in-process bus). It is the per-message cost of the core
// without the broker; allocs/op are the garbage each message leaves.
func BenchmarkDispatch(b *testing.B) {
	schemas, err := schema.Load()
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name, action, payload string
	}{
		{"Heartbeat", "Heartbeat", `{}`},
		{"StatusNotification", "StatusNotification", `{"connectorId":1,"errorCode":"NoError","status":"Available"}`},
		{"MeterValues", "MeterValues", `{"connectorId":1,"meterValue":[{"timestamp":"2025-03-04T05:06:07Z","sampledValue":[{"value":"1234","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}`},
	}
	for _, db := range databases {
		b.Run(db, func(b *testing.B) {
			router, replies, cleanup := benchRouter(b, db, schemas)
			defer cleanup()
			for _, c := range cases {
				b.Run(c.name, func(b *testing.B) {
					frames := make([][]byte, 1024)
					for i := range frames {
						f, err := ocppj.EncodeCall("m"+strconv.Itoa(i), c.action, json.RawMessage(c.payload))
						if err != nil {
							b.Fatal(err)
						}
						frames[i] = f
					}
					env := &busv1.Envelope{
						Kind: busv1.Kind_KIND_FRAME, StationId: stationID, GatewayId: gatewayID, ConnectionId: connID,
						OcppVersion: busv1.OcppVersion_OCPP_VERSION_16, ReceivedAt: timestamppb.New(testNow),
					}
					ctx := context.Background()
					b.ReportAllocs()
					b.ResetTimer()
					for i := range b.N {
						env.Frame = frames[i%len(frames)]
						if err := router.HandleUpstream(ctx, env); err != nil {
							b.Fatal(err)
						}
						reply := <-replies
						if reply.GetMessageId() == "" || reply.GetFrame()[1] != '3' {
							b.Fatalf("%s answered %s", c.action, reply.GetFrame())
						}
					}
				})
			}
		})
	}
}

// benchRouter is a router on a real store holding one accepted station,
// its replies delivered on the returned channel; opts change its Deps.
func benchRouter(b *testing.B, db string, schemas *schema.Registry, opts ...func(*Deps, *store.Store)) (*Router, <-chan *busv1.Envelope, func()) {
	b.Helper()
	cfg := store.Config{Logger: quietLogger()}
	if db == "postgres" {
		cfg.DatabaseURL = testenv.PostgresURL(b)
	} else {
		cfg.DataDir = b.TempDir()
	}
	ctx := context.Background()
	st, err := store.Open(ctx, cfg)
	if err != nil {
		b.Fatalf("open %s store: %v", db, err)
	}
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := st.CreateStation(ctx, &store.Station{ID: stationID, Name: "bench", RegistrationStatus: "Accepted"}); err != nil {
		b.Fatal(err)
	}
	bus := inproc.New(inproc.Config{Logger: quietLogger()})
	cctx, cancel := context.WithCancel(ctx)
	replies := make(chan *busv1.Envelope, 1)
	if err := bus.ConsumeGateway(cctx, gatewayID, func(ctx context.Context, env *busv1.Envelope) error {
		select {
		case replies <- env:
		case <-ctx.Done():
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	// As in production (api/app): last-seen times written in batches.
	lastSeen := st.NewLastSeenWriter(store.LastSeenWriterConfig{Logger: quietLogger()})
	d := Deps{Store: st, Bus: bus, Schemas: schemas, Now: time.Now, HeartbeatInterval: 300 * time.Second,
		Logger: quietLogger(), LastSeen: lastSeen}
	for _, o := range opts {
		o(&d, st)
	}
	r := NewRouter(d)
	return r, replies, func() {
		cancel()
		_ = bus.Close()
		_ = lastSeen.Close()
		_ = st.Close()
	}
}

// BenchmarkHeartbeatMessageLog is BenchmarkDispatch's Heartbeat on
// PostgreSQL with the production message log attached, logged and kept out
// of it (MESSAGE_LOG_SKIP=Heartbeat). The log writes in the background, so
// each run ends by closing it: its flushes are in the time, and its buffer
// holds the whole run, so nothing is dropped instead of written.
//
//	go test ./api/ocpp -run '^$' -bench HeartbeatMessageLog -benchtime 20000x -count 3
func BenchmarkHeartbeatMessageLog(b *testing.B) {
	schemas, err := schema.Load()
	if err != nil {
		b.Fatal(err)
	}
	frame, err := ocppj.EncodeCall("m1", "Heartbeat", json.RawMessage(`{}`))
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []struct {
		name string
		skip []string
	}{{"logged", nil}, {"skipped", []string{"Heartbeat"}}} {
		b.Run(mode.name, func(b *testing.B) {
			var msgs *store.MessageLogger
			router, replies, cleanup := benchRouter(b, "postgres", schemas, func(d *Deps, st *store.Store) {
				// Room for every CALL and answer: none dropped, all written.
				msgs = st.NewMessageLogger(store.MessageLoggerConfig{Buffer: 2*b.N + 1, Logger: quietLogger()})
				d.MessageLog, d.MessageLogSkip = msgs, mode.skip
			})
			defer cleanup()
			env := &busv1.Envelope{
				Kind: busv1.Kind_KIND_FRAME, StationId: stationID, GatewayId: gatewayID, ConnectionId: connID,
				OcppVersion: busv1.OcppVersion_OCPP_VERSION_16, ReceivedAt: timestamppb.New(testNow), Frame: frame,
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := router.HandleUpstream(ctx, env); err != nil {
					b.Fatal(err)
				}
				<-replies
			}
			if err := msgs.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// countingStore counts the database reads of a station's standing.
type countingStore struct {
	routerStore
	reads atomic.Int64
}

func (c *countingStore) GetStandings(ctx context.Context, ids []string) (map[string]store.Standing, error) {
	c.reads.Add(1)
	return c.routerStore.GetStandings(ctx, ids)
}

// BenchmarkStandingReads is many stations' Heartbeats through the upstream
// consumer (per-station lanes, as in production) on PostgreSQL, with the
// standing cache off: a fleet heartbeating every 60 s misses a 5 s cache on
// nearly every message. It reports the standing reads per message, which
// group reads bring below one.
func BenchmarkStandingReads(b *testing.B) {
	schemas, err := schema.Load()
	if err != nil {
		b.Fatal(err)
	}
	const stations = 256
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Logger: quietLogger(), DatabaseURL: testenv.PostgresURL(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	for i := range stations {
		if err := st.CreateStation(ctx, &store.Station{ID: "S" + strconv.Itoa(i), Name: "bench", RegistrationStatus: "Accepted"}); err != nil {
			b.Fatal(err)
		}
	}
	bus := inproc.New(inproc.Config{Logger: quietLogger()})
	defer bus.Close()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	replies := make(chan *busv1.Envelope, stations)
	if err := bus.ConsumeGateway(cctx, gatewayID, func(ctx context.Context, env *busv1.Envelope) error {
		replies <- env
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	lastSeen := st.NewLastSeenWriter(store.LastSeenWriterConfig{Logger: quietLogger()})
	defer lastSeen.Close()
	r := NewRouter(Deps{Store: st, Bus: bus, Schemas: schemas, Now: time.Now, HeartbeatInterval: 300 * time.Second,
		Logger: quietLogger(), LastSeen: lastSeen, StandingTTL: -1})
	counter := &countingStore{routerStore: r.store}
	r.store = counter
	if err := bus.ConsumeUpstream(cctx, r.HandleUpstream); err != nil {
		b.Fatal(err)
	}
	frame := []byte(`[2,"hb","Heartbeat",{}]`)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(stations, b.N-done)
		for i := range n {
			env := &busv1.Envelope{Kind: busv1.Kind_KIND_FRAME, StationId: "S" + strconv.Itoa(i), GatewayId: gatewayID, ConnectionId: connID,
				OcppVersion: busv1.OcppVersion_OCPP_VERSION_16, ReceivedAt: timestamppb.New(testNow), Frame: frame}
			if err := bus.PublishUpstream(ctx, env); err != nil {
				b.Fatal(err)
			}
		}
		for range n {
			<-replies
		}
		done += n
	}
	b.StopTimer()
	b.ReportMetric(float64(counter.reads.Load())/float64(b.N), "standing-reads/op")
}
