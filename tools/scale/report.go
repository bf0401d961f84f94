package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Results is everything one run measured, written as JSON.
type Results struct {
	Started        time.Time    `json:"started"`
	Command        string       `json:"command"`
	Machine        string       `json:"machine"`
	Plan           Plan         `json:"plan"`
	Held           int          `json:"chargersHeld"`
	StoppedBecause string       `json:"stoppedBecause,omitempty"`
	Timeline       Timeline     `json:"timeline"`
	Storm          []Point      `json:"storm"` // chargers online and round trips/s, per second, whole run
	StormSeconds   float64      `json:"allOnlineAfterSeconds"`
	AdmissionsPeak float64      `json:"admissionsPerSecondPeak"`
	AdmissionsAvg  float64      `json:"admissionsPerSecondAverage"`
	StormCost      StormCost    `json:"stormCost"`
	Steady         Phase        `json:"steady"`
	Kill           *KillResult  `json:"kill,omitempty"`
	Processes      []ProcResult `json:"processes"`
	Check          Check        `json:"databaseCheck"`
	Error          string       `json:"error,omitempty"`
}

type Plan struct {
	Chargers, Gateways, Cores, Loadgens int
	TxFraction                          float64
	Heartbeat, TxEvery                  string
}

type Timeline struct {
	Start, StormEnd, SteadyEnd, Kill, Online, Drained, End time.Time
}

type Point struct {
	At        float64 `json:"at"` // seconds since the load generators started
	Connected int64   `json:"connected"`
	Trips     uint64  `json:"roundTrips"`
	Backlog   int     `json:"backlog"`
}

// Phase is a span's traffic.
type Phase struct {
	Seconds   float64            `json:"seconds"`
	PerSecond float64            `json:"roundTripsPerSecond"`
	ByAction  map[string]float64 `json:"perSecondByAction"`
	P50, P99  float64            // ms
	Max       float64
}

// StormCost is what the connect-and-boot storm cost per operation:
// unlike rates, it holds on a machine shared with other work.
type StormCost struct {
	// CPUSeconds is the CPU time each kind of process (core, gateway,
	// loadgen, broker, database) used during the storm.
	CPUSeconds map[string]float64 `json:"cpuSeconds"`
	// DBTransactions is the database's transaction count over the storm
	// (each statement outside a transaction is one).
	DBTransactions int64 `json:"dbTransactions"`
	// Operations is the work done meanwhile: the chargers admitted and the
	// charger messages answered (how far the chargers got within the storm
	// depends on the machine's other load; the cost of each step does not).
	Operations int64 `json:"operations"`
}

type KillResult struct {
	Affected      int     `json:"chargersAffected"`
	OnlineSeconds float64 `json:"backOnlineAfterSeconds"`
	DrainSeconds  float64 `json:"backlogDrainedAfterSeconds"`
	Storm         Phase   `json:"storm"` // from the kill until back online + 10 s
}

type ProcResult struct {
	Name       string  `json:"name"`
	CPU        float64 `json:"cpuSteady"` // CPUs used, average over the steady state
	RSS        int64   `json:"rssSteadyBytes"`
	RSSPerConn float64 `json:"rssPerConnectionBytes,omitempty"`
}

// merged is every load generator's windows on one clock.
type mergedSecond struct {
	connected int64
	trips     uint64
	lat       map[uint64]uint64
	actions   map[string]uint64
}

func (r *runner) merge() map[int]*mergedSecond {
	out := map[int]*mergedSecond{}
	t0 := r.res.Timeline.Start
	for _, lg := range r.lgs {
		if lg.summary == nil {
			continue
		}
		for _, w := range lg.summary.Windows {
			abs := lg.summary.StartedAt.Add(time.Duration(w.At * float64(time.Second)))
			sec := int(math.Round(abs.Sub(t0).Seconds()))
			m := out[sec]
			if m == nil {
				m = &mergedSecond{lat: map[uint64]uint64{}, actions: map[string]uint64{}}
				out[sec] = m
			}
			m.connected += w.Connected
			m.trips += w.Trips
			for k, v := range w.Latency {
				us, _ := strconv.ParseUint(k, 10, 64)
				m.lat[us] += v
			}
			for a, v := range w.Actions {
				m.actions[a] += v
			}
		}
	}
	return out
}

func (r *runner) phase(m map[int]*mergedSecond, from, to time.Time) Phase {
	t0 := r.res.Timeline.Start
	a, b := int(from.Sub(t0).Seconds())+1, int(to.Sub(t0).Seconds())
	p := Phase{ByAction: map[string]float64{}}
	lat := map[uint64]uint64{}
	var trips uint64
	secs := 0
	for s := a; s <= b; s++ {
		w := m[s]
		if w == nil {
			continue
		}
		secs++
		trips += w.trips
		for k, v := range w.lat {
			lat[k] += v
		}
		for k, v := range w.actions {
			p.ByAction[k] += float64(v)
		}
	}
	if secs == 0 {
		return p
	}
	p.Seconds = float64(secs)
	p.PerSecond = float64(trips) / float64(secs)
	for k := range p.ByAction {
		p.ByAction[k] /= float64(secs)
	}
	p.P50, p.P99, p.Max = percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)
	return p
}

// percentile of bucketed latencies (key: bucket's upper bound, µs), in ms.
func percentile(lat map[uint64]uint64, q float64) float64 {
	var n uint64
	keys := make([]uint64, 0, len(lat))
	for k, v := range lat {
		keys = append(keys, k)
		n += v
	}
	if n == 0 {
		return 0
	}
	slices.Sort(keys)
	rank := uint64(math.Ceil(q / 100 * float64(n)))
	var seen uint64
	for _, k := range keys {
		seen += lat[k]
		if seen >= max(rank, 1) {
			return float64(k) / 1000
		}
	}
	return float64(keys[len(keys)-1]) / 1000
}

// report computes the results, prints the tables and writes JSON and SVG.
func (r *runner) report() {
	res, tl := r.res, r.res.Timeline
	m := r.merge()
	r.mu.Lock()
	samples, depths := append([]sample{}, r.samples...), append([]depth{}, r.depths...)
	r.mu.Unlock()
	if !tl.Start.IsZero() {
		last := 0
		for s := range m {
			last = max(last, s)
		}
		backlogAt := map[int]int{}
		for _, d := range depths {
			backlogAt[int(math.Round(d.at.Sub(tl.Start).Seconds()))] = d.messages
		}
		var prev int64
		var peak float64
		for s := 0; s <= last; s++ {
			p := Point{At: float64(s), Backlog: backlogAt[s]}
			if w := m[s]; w != nil {
				p.Connected, p.Trips = w.connected, w.trips
			} else if len(res.Storm) > 0 {
				p.Connected = res.Storm[len(res.Storm)-1].Connected
			}
			if tl.StormEnd.IsZero() || float64(s) <= tl.StormEnd.Sub(tl.Start).Seconds()+1 {
				peak = max(peak, float64(p.Connected-prev))
			}
			prev = p.Connected
			if !tl.StormEnd.IsZero() && float64(s) <= tl.StormEnd.Sub(tl.Start).Seconds() {
				res.StormCost.Operations += int64(p.Trips)
			}
			res.Storm = append(res.Storm, p)
		}
		res.AdmissionsPeak = peak
		if !tl.StormEnd.IsZero() {
			res.StormCost.Operations += int64(res.Held)
			res.StormSeconds = tl.StormEnd.Sub(tl.Start).Seconds()
			if res.StormSeconds > 0 {
				res.AdmissionsAvg = float64(res.Held) / res.StormSeconds
			}
		}
	}
	if !tl.StormEnd.IsZero() {
		res.StormCost.CPUSeconds = cpuByKind(samples, tl.Start, tl.StormEnd)
	}
	if !tl.SteadyEnd.IsZero() {
		res.Steady = r.phase(m, tl.StormEnd, tl.SteadyEnd)
		res.Processes = processStats(samples, tl.StormEnd, tl.SteadyEnd, res.Held, r.o.gateways)
	}
	if !tl.Kill.IsZero() {
		k := &KillResult{Affected: res.Held / r.o.gateways}
		end := tl.End
		if !tl.Online.IsZero() {
			k.OnlineSeconds = tl.Online.Sub(tl.Kill).Seconds()
			end = tl.Online.Add(10 * time.Second)
		}
		if !tl.Drained.IsZero() {
			k.DrainSeconds = tl.Drained.Sub(tl.Kill).Seconds()
		}
		k.Storm = r.phase(m, tl.Kill, end)
		res.Kill = k
	}
	r.printTables(r.out)
	stamp := res.Started.Format("20060102-150405")
	jsonPath := filepath.Join(r.o.out, "scale-"+stamp+".json")
	svgPath := filepath.Join(r.o.out, "scale-"+stamp+".svg")
	if b, err := json.MarshalIndent(res, "", "  "); err == nil {
		if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(r.log, "scale:", err)
		}
	}
	if err := os.WriteFile(svgPath, []byte(chart(res)), 0o644); err != nil {
		fmt.Fprintln(r.log, "scale:", err)
	}
	fmt.Fprintf(r.out, "\nresults: %s\nchart:   %s\nlogs:    %s\n", jsonPath, svgPath, r.o.out)
}

// cpuByKind is the CPU seconds each kind of process used within [from, to]
// (for PostgreSQL, whose connections come and go, a lower bound).
func cpuByKind(samples []sample, from, to time.Time) map[string]float64 {
	first, last := map[string]sample{}, map[string]sample{}
	pgTicks := map[time.Time]int64{}
	for _, s := range samples {
		if s.at.Before(from) || s.at.After(to) {
			continue
		}
		if s.kind == "database" {
			pgTicks[s.at] += s.ticks
			continue
		}
		if _, ok := first[s.name]; !ok {
			first[s.name] = s
		}
		last[s.name] = s
	}
	out := map[string]float64{}
	for name, f := range first {
		out[f.kind] += float64(last[name].ticks-f.ticks) / 100
	}
	var t0, t1 time.Time
	for t := range pgTicks {
		if t0.IsZero() || t.Before(t0) {
			t0 = t
		}
		if t.After(t1) {
			t1 = t
		}
	}
	if !t0.IsZero() {
		out["database"] = float64(pgTicks[t1]-pgTicks[t0]) / 100
	}
	return out
}

// processStats averages each process's CPU and RSS over [from, to].
func processStats(samples []sample, from, to time.Time, held, gateways int) []ProcResult {
	type acc struct {
		first, last sample
		rssSum      int64
		n           int
	}
	byName := map[string]*acc{}
	var names []string
	for _, s := range samples {
		if s.at.Before(from) || s.at.After(to) {
			continue
		}
		key := s.name
		if s.kind == "database" {
			key = "postgres (all)"
		}
		a := byName[key]
		if a == nil {
			a = &acc{first: s}
			byName[key] = a
			names = append(names, key)
		}
		if key == "postgres (all)" {
			continue // summed below
		}
		a.last = s
		a.rssSum += s.rss
		a.n++
	}
	// PostgreSQL runs a process per connection: sum their CPU ticks per instant.
	pgTicks := map[time.Time]int64{}
	for _, s := range samples {
		if s.kind == "database" && !s.at.Before(from) && !s.at.After(to) {
			pgTicks[s.at] += s.ticks
		}
	}
	var out []ProcResult
	secs := to.Sub(from).Seconds()
	for _, name := range names {
		a := byName[name]
		p := ProcResult{Name: name}
		if name == "postgres (all)" {
			var ts []time.Time
			for t := range pgTicks {
				ts = append(ts, t)
			}
			sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
			if len(ts) > 1 {
				// Connections come and go; the sum is a lower bound.
				p.CPU = float64(pgTicks[ts[len(ts)-1]]-pgTicks[ts[0]]) / 100 / ts[len(ts)-1].Sub(ts[0]).Seconds()
			}
		} else if a.n > 0 {
			p.CPU = float64(a.last.ticks-a.first.ticks) / 100 / max(a.last.at.Sub(a.first.at).Seconds(), secs/10)
			p.RSS = a.rssSum / int64(a.n)
			if a.first.kind == "gateway" && held > 0 {
				p.RSSPerConn = float64(p.RSS) / (float64(held) / float64(gateways))
			}
		}
		out = append(out, p)
	}
	return out
}

func (r *runner) printTables(w io.Writer) {
	res := r.res
	fmt.Fprintf(w, "\n######## Scale proof ########\n%s\n%s\n", res.Machine, res.Command)
	fmt.Fprintf(w, "plan: %d chargers (half 1.6, half 2.0.1; %.0f%% in sessions, a message every %s; the others a Heartbeat every %s) in %d load generators, %d gateways, %d cores\n",
		res.Plan.Chargers, res.Plan.TxFraction*100, res.Plan.TxEvery, res.Plan.Heartbeat, res.Plan.Loadgens, res.Plan.Gateways, res.Plan.Cores)
	if res.StoppedBecause != "" {
		fmt.Fprintf(w, "HELD %d OF %d CHARGERS; stopped because: %s\n", res.Held, res.Plan.Chargers, res.StoppedBecause)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\n== 1. Connect-and-boot storm ==")
	fmt.Fprintln(tw, "chargers online\tall online after s\tadmissions/s avg\tadmissions/s peak\t")
	fmt.Fprintf(tw, "%d / %d\t%.1f\t%.0f\t%.0f\t\n", res.Held, res.Plan.Chargers, res.StormSeconds, res.AdmissionsAvg, res.AdmissionsPeak)
	tw.Flush()
	if c := res.StormCost; c.Operations > 0 && len(c.CPUSeconds) > 0 {
		fmt.Fprintf(w, "cost per operation (an admission or a charger message answered; %d in the storm), which holds on a busy machine:\n", c.Operations)
		var kinds []string
		for k := range c.CPUSeconds {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		fmt.Fprintln(tw, "process kind\tCPU s during storm\tCPU ms per operation\t")
		for _, k := range kinds {
			fmt.Fprintf(tw, "%s\t%.1f\t%.3f\t\n", k, c.CPUSeconds[k], c.CPUSeconds[k]*1000/float64(c.Operations))
		}
		tw.Flush()
		fmt.Fprintf(w, "database transactions per operation: %.2f\n", float64(c.DBTransactions)/float64(c.Operations))
	}
	fmt.Fprintln(w, "\n== 2. Steady state ==")
	st := res.Steady
	fmt.Fprintln(tw, "seconds\tround trips/s\tp50 ms\tp99 ms\tmax ms\t")
	fmt.Fprintf(tw, "%.0f\t%.0f\t%.2f\t%.2f\t%.1f\t\n", st.Seconds, st.PerSecond, st.P50, st.P99, st.Max)
	tw.Flush()
	var actions []string
	for a := range st.ByAction {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	fmt.Fprintln(tw, "action\tmessages/s\t")
	for _, a := range actions {
		fmt.Fprintf(tw, "%s\t%.1f\t\n", a, st.ByAction[a])
	}
	tw.Flush()
	fmt.Fprintln(tw, "process\tCPUs\tRSS MiB\tRSS/conn KiB\t")
	for _, p := range res.Processes {
		perConn := ""
		if p.RSSPerConn > 0 {
			perConn = strconv.FormatFloat(p.RSSPerConn/1024, 'f', 1, 64)
		}
		rss := ""
		if p.RSS > 0 {
			rss = strconv.FormatFloat(float64(p.RSS)/(1<<20), 'f', 1, 64)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\t\n", p.Name, p.CPU, rss, perConn)
	}
	tw.Flush()

	if k := res.Kill; k != nil {
		fmt.Fprintln(w, "\n== 3. A gateway killed with kill -9 ==")
		fmt.Fprintln(tw, "chargers affected\tback online after s\tbacklog drained after s\tround trips/s\tp50 ms\tp99 ms\tmax ms\t")
		fmt.Fprintf(tw, "~%d\t%s\t%s\t%.0f\t%.2f\t%.2f\t%.1f\t\n", k.Affected, secondsOr(k.OnlineSeconds), secondsOr(k.DrainSeconds),
			k.Storm.PerSecond, k.Storm.P50, k.Storm.P99, k.Storm.Max)
		tw.Flush()
	}
	c := res.Check
	fmt.Fprintln(w, "\n== 4. Sessions against the database ==")
	fmt.Fprintln(tw, "acknowledged\tended\tin database\tlost\tdoubled\tstops lost\t")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t\n", c.Acked, c.Ended, c.InDB, c.Lost, c.Doubled, c.StopsLost)
	tw.Flush()
	if c.Error != "" {
		fmt.Fprintln(w, "check error:", c.Error)
	}
}

func secondsOr(s float64) string {
	if s <= 0 {
		return "—"
	}
	return strconv.FormatFloat(s, 'f', 1, 64)
}

// chart draws chargers online and round trips/s over the run, with the
// storm's end, the kill and the recovery marked.
func chart(res *Results) string {
	const W, H, L, R, T, B = 960.0, 420.0, 70.0, 70.0, 40.0, 50.0
	pts := res.Storm
	var maxT, maxC, maxR float64 = 1, 1, 1
	for _, p := range pts {
		maxT = max(maxT, p.At)
		maxC = max(maxC, float64(p.Connected))
		maxR = max(maxR, float64(p.Trips))
	}
	maxC = max(maxC, float64(res.Plan.Chargers))
	x := func(t float64) float64 { return L + t/maxT*(W-L-R) }
	yc := func(c float64) float64 { return H - B - c/maxC*(H-T-B) }
	yr := func(v float64) float64 { return H - B - v/maxR*(H-T-B) }
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", W, H)
	fmt.Fprintf(&sb, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&sb, `<text x="%.0f" y="20" font-size="14">make scale: %d of %d chargers held, %d gateways, %d cores</text>`+"\n", L, res.Held, res.Plan.Chargers, res.Plan.Gateways, res.Plan.Cores)
	fmt.Fprintf(&sb, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", L, H-B, W-R, H-B)
	fmt.Fprintf(&sb, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", L, T, L, H-B)
	fmt.Fprintf(&sb, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", W-R, T, W-R, H-B)
	for i := 0; i <= 4; i++ {
		f := float64(i) / 4
		fmt.Fprintf(&sb, `<text x="%.0f" y="%.0f" text-anchor="end" fill="#1f5fbf">%.0f</text>`+"\n", L-6, yc(f*maxC)+4, f*maxC)
		fmt.Fprintf(&sb, `<text x="%.0f" y="%.0f" fill="#c0392b">%.0f</text>`+"\n", W-R+6, yr(f*maxR)+4, f*maxR)
		fmt.Fprintf(&sb, `<text x="%.0f" y="%.0f" text-anchor="middle">%.0f s</text>`+"\n", x(f*maxT), H-B+18, f*maxT)
	}
	line := func(color string, y func(Point) float64) {
		fmt.Fprintf(&sb, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="`, color)
		for _, p := range pts {
			fmt.Fprintf(&sb, "%.1f,%.1f ", x(p.At), y(p))
		}
		sb.WriteString("\"/>\n")
	}
	line("#c0392b", func(p Point) float64 { return yr(float64(p.Trips)) })
	line("#1f5fbf", func(p Point) float64 { return yc(float64(p.Connected)) })
	mark := func(at time.Time, label string) {
		if at.IsZero() {
			return
		}
		t := at.Sub(res.Timeline.Start).Seconds()
		fmt.Fprintf(&sb, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="gray" stroke-dasharray="4 3"/>`+"\n", x(t), T, x(t), H-B)
		fmt.Fprintf(&sb, `<text x="%.1f" y="%.0f" fill="gray" transform="rotate(-90 %.1f %.0f)">%s</text>`+"\n", x(t)-4, T+110, x(t)-4, T+110, label)
	}
	mark(res.Timeline.StormEnd, "all booted")
	mark(res.Timeline.SteadyEnd, "steady state end")
	mark(res.Timeline.Kill, "gateway kill -9")
	mark(res.Timeline.Online, "back online")
	fmt.Fprintf(&sb, `<text x="%.0f" y="%.0f" fill="#1f5fbf">chargers online</text>`+"\n", L+10, T+14)
	fmt.Fprintf(&sb, `<text x="%.0f" y="%.0f" fill="#c0392b">round trips/s</text>`+"\n", L+130, T+14)
	sb.WriteString("</svg>\n")
	return sb.String()
}

// fdUse is a process's open files and its soft limit.
func fdUse(pid int) (n, limit int) {
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err == nil {
		for line := range strings.Lines(string(b)) {
			if strings.HasPrefix(line, "Max open files") {
				f := strings.Fields(line)
				if len(f) >= 4 {
					limit, _ = strconv.Atoi(f[3])
				}
			}
		}
	}
	return len(fds), limit
}
