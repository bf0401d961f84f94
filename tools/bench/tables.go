package main

import (
	"fmt"
	"strconv"
)

// rawFor finds a physical-limit result by name prefix and concurrency.
func rawFor(res *Results, name string, conc int) (RawResult, bool) {
	for _, r := range res.Physical {
		if r.Name == name && r.Concurrency == conc {
			return r, true
		}
	}
	return RawResult{}, false
}

// limits returns the raw WebSocket and (scale-out only) raw RabbitMQ
// round-trip rates at a concurrency, 0 where there is none to compare.
func limits(res *Results, mode string, conc int) (ws, amqp float64) {
	if r, ok := rawFor(res, "raw WebSocket echo", conc); ok {
		ws = r.PerSecond
	}
	if r, ok := rawFor(res, amqpLikeOurs.Name, conc); ok && mode == "scale-out" {
		amqp = r.PerSecond
	}
	return ws, amqp
}

func runByName(m ModeResult, name string) (RunResult, bool) {
	for _, r := range m.Runs {
		if r.Name == name {
			return r, true
		}
	}
	return RunResult{}, false
}

func errorsCell(r RunResult) string {
	if r.Summary.ErrorsTotal == 0 {
		return "0"
	}
	return Thousands(float64(r.Summary.ErrorsTotal))
}

// steadyOrAll is the steady-state rate when the run had one.
func steadyOrAll(r RunResult) float64 {
	if r.Steady > 0 {
		return r.Steady
	}
	return r.Summary.RoundTripsPerS
}

// latencyOf is the steady state's latency (every charger booted) when the
// run reached it, else the whole run's: the connect and boot storm at the
// start says nothing about a steady load.
func latencyOf(r RunResult) Percentiles {
	if l := r.Summary.SteadyLatency; l != nil {
		return *l
	}
	return r.Summary.Latency
}

// buildTables turns the measurements into the printed tables.
func buildTables(res *Results) []Table {
	var out []Table

	phys := Table{Title: "5. Physical limit on this machine (same run, loopback)",
		Header: []string{"path", "in flight", "round trips/s", "p50 ms", "p99 ms", "max ms"}}
	for _, r := range res.Physical {
		phys.Add(r.Name, Thousands(float64(r.Concurrency)), Thousands(r.PerSecond), Ms(r.Latency.P50), Ms(r.Latency.P99), Ms(r.Latency.Max))
	}
	phys.Notes = []string{
		"WebSocket: coder/websocket client and echo server in one process, one Heartbeat-sized frame in flight per connection.",
		"RabbitMQ: publish → consume → publish → consume with amqp091-go; \"as ours\" = persistent message on a durable queue with publisher confirms, reply transient with confirms.",
		"Our scale-out path does both (a WebSocket hop at each end and two broker hops) on the same 2 CPUs, so its ceiling is below either figure.",
	}

	idle := Table{Title: "1. Idle capacity: chargers on one gateway",
		Header: []string{"mode", "connected", "failed", "connect/s", "gw RSS before", "gw RSS after", "RSS/conn", "loadgen RSS/conn", "target", "verdict"}}
	for _, m := range res.Modes {
		if m.Idle == nil {
			idle.Add(m.Mode, "failed: "+m.Error)
			continue
		}
		i := m.Idle
		lg := ""
		if i.Connected > 0 && i.LoadgenRSS > 0 {
			lg = KiB(float64(i.LoadgenRSS) / float64(i.Connected))
		}
		ok := i.Connected >= targetIdleConns && i.RSSPerConn > 0 && i.RSSPerConn <= targetRSSPerConn
		idle.Add(m.Mode, Thousands(float64(i.Connected))+" / "+Thousands(float64(i.Target)), Thousands(float64(i.Failed)),
			Thousands(i.ConnectRate), MiB(i.RSSBefore), MiB(i.RSSAfter), KiB(i.RSSPerConn), lg,
			"≥ 19,000, ≤ 32 KiB", Verdict(ok))
	}
	idle.Notes = []string{
		"RSS/conn = (gateway VmRSS with every charger connected and booted − before) / connected; in the embedded mode the gateway is the api process, so it also holds the core's share (SQLite cache, bus).",
		"connect/s = connected / time until the last one was connected (1 s resolution), admission (gRPC control plane, database) included; no passwords.",
	}

	hb := Table{Title: "2. Heartbeat round trips, flat out (one CALL in flight per charger)",
		Header: []string{"mode", "chargers", "round trips/s", "steady/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "of raw WS", "of raw AMQP",
			"api µs/msg", "gw µs/msg", "broker µs/msg", "target", "verdict", "load avg"}}
	for _, m := range res.Modes {
		for _, n := range []int{1, 100, 1000} {
			r, ok := runByName(m, "heartbeat-"+strconv.Itoa(n))
			if !ok {
				continue
			}
			ws, amqp := limits(res, m.Mode, n)
			target, ok := heartbeatTarget(m.Mode, n, r, amqp)
			verdict := ""
			if target != "" {
				verdict = Verdict(ok)
			}
			l := latencyOf(r)
			hb.Add(m.Mode, Thousands(float64(n)), Thousands(r.Summary.RoundTripsPerS), Thousands(r.Steady), Ms(l.P50), Ms(l.P90), Ms(l.P99), Ms(l.Max),
				errorsCell(r), Fraction(steadyOrAll(r), ws), Fraction(steadyOrAll(r), amqp),
				micros(r.APICPU), micros(r.GatewayCPU), micros(r.BrokerCPU), target, verdict, r.LoadAvg)
		}
	}
	hb.Notes = []string{
		"round trips/s over the whole run (connection, BootNotification and StatusNotification included); steady/s once every charger is connected. Fractions use steady/s.",
		"Latencies are the load generator's, counted once every charger has booted (the connect and boot storm excluded).",
		"µs/msg: CPU time (user + system, /proc) of the api, the gateway and the broker (beam.smp) per round trip over the run; robust where other work competes for the CPUs.",
		"load avg: /proc/loadavg (1, 5, 15 min) at the end of the run; above the CPU count, something else competed for the CPUs.",
	}

	rem := Table{Title: fmt.Sprintf("6. Scale-out with PostgreSQL and RabbitMQ %s away each way (latency proxy)", remoteDelay),
		Header: []string{"chargers", "local steady/s", "remote steady/s", "of local", "remote p50 ms", "remote p99 ms", "errors", "target", "verdict", "load avg"}}
	for _, m := range res.Modes {
		for _, n := range []int{1, 1000} {
			r, ok := runByName(m, fmt.Sprintf("heartbeat-%d-remote", n))
			if !ok {
				continue
			}
			local, _ := runByName(m, "heartbeat-"+strconv.Itoa(n))
			target, verdict := "", ""
			if n == 1000 {
				target = "≥ 50% of local"
				verdict = Verdict(steadyOrAll(local) > 0 && steadyOrAll(r) >= targetRemoteOfLocal*steadyOrAll(local))
			}
			l := latencyOf(r)
			rem.Add(Thousands(float64(n)), Thousands(steadyOrAll(local)), Thousands(steadyOrAll(r)), Fraction(steadyOrAll(r), steadyOrAll(local)),
				Ms(l.P50), Ms(l.P99), errorsCell(r), target, verdict, r.LoadAvg)
		}
	}
	rem.Notes = []string{"The same api and gateway restarted with DATABASE_URL and AMQP_URL through a proxy that delays every byte by the stated time in each direction (tools/bench/latencyproxy.go), as managed services in another zone would be."}

	mv := Table{Title: "3. Meter values persisted (every sample committed before the answer)",
		Header: []string{"mode", "database", "chargers", "round trips/s", "steady/s", "p50 ms", "p99 ms", "max ms", "errors", "of raw WS", "of raw AMQP",
			"api µs/msg", "gw µs/msg", "broker µs/msg", "target", "verdict", "load avg"}}
	for _, m := range res.Modes {
		for _, n := range []int{100, 1000} {
			r, ok := runByName(m, "meter-"+strconv.Itoa(n))
			if !ok {
				continue
			}
			ws, amqp := limits(res, m.Mode, n)
			target, verdict := "", ""
			if m.Mode == "scale-out" && n == 1000 {
				target = "≥ 5,000/s"
				verdict = Verdict(steadyOrAll(r) >= targetMeterRate)
			}
			l := latencyOf(r)
			mv.Add(m.Mode, m.Database, Thousands(float64(n)), Thousands(r.Summary.RoundTripsPerS), Thousands(r.Steady), Ms(l.P50), Ms(l.P99), Ms(l.Max),
				errorsCell(r), Fraction(steadyOrAll(r), ws), Fraction(steadyOrAll(r), amqp),
				micros(r.APICPU), micros(r.GatewayCPU), micros(r.BrokerCPU), target, verdict, r.LoadAvg)
		}
	}
	mv.Notes = []string{"OCPP 1.6 MeterValues with one Energy.Active.Import.Register sample, as fast as answered; the core group-commits concurrent messages."}

	st := Table{Title: fmt.Sprintf("4. Latency at a steady load (%s msg/s: 1,000 chargers × 1 Heartbeat/s)", Thousands(steadyRate)),
		Header: []string{"mode", "achieved/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "raw WS p50", "raw WS p99", "raw AMQP p50", "raw AMQP p99", "load avg"}}
	for _, m := range res.Modes {
		r, ok := runByName(m, "steady-1000")
		if !ok {
			continue
		}
		l := latencyOf(r)
		ws, _ := rawFor(res, "raw WebSocket echo", 1000)
		am, _ := rawFor(res, amqpLikeOurs.Name, 100)
		amP50, amP99 := "", ""
		if m.Mode == "scale-out" {
			amP50, amP99 = Ms(am.Latency.P50), Ms(am.Latency.P99)
		}
		st.Add(m.Mode, Thousands(steadyOrAll(r)), Ms(l.P50), Ms(l.P90), Ms(l.P99), Ms(l.Max), errorsCell(r),
			Ms(ws.Latency.P50), Ms(ws.Latency.P99), amP50, amP99, r.LoadAvg)
	}
	st.Notes = []string{"The raw figures are flat-out (1,000 WebSocket / 100 AMQP in flight), so they bound latency from below only loosely; at 1,000 msg/s the hardware is far from saturated."}

	adm := Table{Title: "Admission with passwords (Argon2id, by design ~0.1 s CPU per first connection)",
		Header: []string{"mode", "chargers", "connected", "seconds", "admissions/s"}}
	for _, m := range res.Modes {
		if m.Admission == nil {
			continue
		}
		a := m.Admission
		rate := 0.0
		if a.ConnectAt > 0 {
			rate = float64(a.Connected) / a.ConnectAt
		}
		adm.Add(m.Mode, Thousands(float64(a.Chargers)), Thousands(float64(a.Connected)), strconv.FormatFloat(a.ConnectAt, 'f', 1, 64), strconv.FormatFloat(rate, 'f', 1, 64))
	}

	out = append(out, idle, hb, mv, st, phys, rem, adm)
	return out
}

// heartbeatTarget is the issue 11 target of a heartbeat run, if it has one,
// and whether r meets it; amqp is the raw confirmed RabbitMQ round trip of
// the same run at the same concurrency.
func heartbeatTarget(mode string, n int, r RunResult, amqp float64) (string, bool) {
	l := latencyOf(r)
	switch {
	case mode == "embedded" && n == 100:
		return "≥ 13,000/s", steadyOrAll(r) >= targetEmbeddedHB
	case mode == "scale-out" && n == 1:
		return "p50 ≤ 0.5 ms, ≥ 1,800/s", l.P50 <= targetAloneP50 && steadyOrAll(r) >= targetAloneRate
	case mode == "scale-out" && n == 100:
		return "≥ 65% of raw AMQP, p99 ≤ 50 ms", amqp > 0 && steadyOrAll(r) >= targetHB100OfAMQP*amqp && l.P99 <= targetHB100P99
	case mode == "scale-out" && n == 1000:
		return "p99 ≤ 150 ms", l.P99 <= targetHB1000P99
	}
	return "", false
}

// micros formats CPU µs per round trip; empty when not measured.
func micros(v float64) string {
	if v <= 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// MiB formats bytes as MiB with one decimal.
func MiB(b int64) string {
	if b <= 0 {
		return ""
	}
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB"
}
