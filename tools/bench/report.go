package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Table is one printed result table: a title, aligned columns and notes.
type Table struct {
	Title  string     `json:"title"`
	Header []string   `json:"header"`
	Rows   [][]string `json:"rows"`
	Notes  []string   `json:"notes,omitempty"`
}

// Add appends a row; missing cells print as "—".
func (t *Table) Add(cells ...string) { t.Rows = append(t.Rows, cells) }

// Render writes the table with every column padded to its widest cell
// (counted in runes, so "≤" and "—" do not skew the alignment).
func (t *Table) Render(w io.Writer) {
	cols := len(t.Header)
	for _, r := range t.Rows {
		cols = max(cols, len(r))
	}
	width := make([]int, cols)
	cell := func(r []string, i int) string {
		if i < len(r) && r[i] != "" {
			return r[i]
		}
		return "—"
	}
	all := append([][]string{t.Header}, t.Rows...)
	for _, r := range all {
		for i := range cols {
			width[i] = max(width[i], runeLen(cell(r, i)))
		}
	}
	// A column holding a number in any row is right-aligned, header and
	// placeholders included, so digits line up.
	right := make([]bool, cols)
	for _, r := range t.Rows {
		for i := 1; i < cols; i++ {
			right[i] = right[i] || numeric(cell(r, i))
		}
	}
	fmt.Fprintf(w, "\n== %s ==\n", t.Title)
	for _, r := range all {
		var b strings.Builder
		for i := range cols {
			c := cell(r, i)
			pad := strings.Repeat(" ", width[i]-runeLen(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if right[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	for _, note := range t.Notes {
		fmt.Fprintln(w, "  * "+note)
	}
}

func runeLen(s string) int { return len([]rune(s)) }

// numeric reports whether a cell reads as a number (possibly with a unit
// suffix such as % or KiB), so that it is right-aligned.
func numeric(s string) bool {
	s = strings.TrimRight(s, "%KiBMs/ ")
	s = strings.ReplaceAll(s, ",", "")
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// Fraction is measured as a share of limit, for "what the hardware allows"
// columns: "37%", or "—" when there is no limit to compare with.
func Fraction(measured, limit float64) string {
	if limit <= 0 || math.IsNaN(limit) || math.IsInf(limit, 0) || math.IsNaN(measured) {
		return "—"
	}
	p := measured / limit * 100
	if p < 10 {
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 0, 64) + "%"
}

// Thousands formats a rate or count with thousands separators, no decimals.
func Thousands(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	neg := v < 0
	s := strconv.FormatInt(int64(math.Round(math.Abs(v))), 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Ms formats milliseconds for a latency column.
func Ms(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// KiB formats bytes as KiB with one decimal.
func KiB(bytes float64) string { return strconv.FormatFloat(bytes/1024, 'f', 1, 64) + " KiB" }

// Verdict says whether a figure meets its target: "ok" or "MISS".
func Verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISS"
}

// Progress is one of the load generator's once-a-second lines:
//
//	"   12s connected 100/100  round trips/s 8123  total 90000  errors 0  CSMS calls 0"
type Progress struct {
	At        time.Duration // when the orchestrator read the line, since the load generator started
	Elapsed   float64       // the load generator's own clock, seconds
	Connected int
	N         int
	Rate      float64
	Total     uint64
	Errors    uint64
}

// ParseProgress reads a progress line; ok is false for any other line.
func ParseProgress(line string) (p Progress, ok bool) {
	var calls uint64
	n, err := fmt.Sscanf(strings.TrimSpace(line), "%fs connected %d/%d  round trips/s %f  total %d  errors %d  CSMS calls %d",
		&p.Elapsed, &p.Connected, &p.N, &p.Rate, &p.Total, &p.Errors, &calls)
	if err != nil || n != 7 {
		return Progress{}, false
	}
	return p, true
}

// ConnectPhase finds, in a run's progress, when every charger was first
// connected (or, if not all ever were, when the highest count was first
// reached) and that count.
func ConnectPhase(ps []Progress) (at time.Duration, connected int, ok bool) {
	best := -1
	for i, p := range ps {
		if best < 0 || p.Connected > ps[best].Connected {
			best = i
		}
		if p.Connected >= p.N && p.N > 0 {
			return p.At, p.Connected, true
		}
	}
	if best < 0 {
		return 0, 0, false
	}
	return ps[best].At, ps[best].Connected, true
}

// SteadyRate is the round-trip rate once every charger is connected, from
// the first progress line with all connected to the last line: boots and
// the connection ramp are left out. ok is false with fewer than two such
// lines.
func SteadyRate(ps []Progress) (float64, bool) {
	first := slices.IndexFunc(ps, func(p Progress) bool { return p.N > 0 && p.Connected >= p.N })
	if first < 0 || first == len(ps)-1 {
		return 0, false
	}
	a, b := ps[first], ps[len(ps)-1]
	dt := b.Elapsed - a.Elapsed
	if dt <= 0 || b.Total < a.Total {
		return 0, false
	}
	return float64(b.Total-a.Total) / dt, true
}

// Percentiles of a set of latencies, in milliseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// ComputePercentiles sorts d (in place) and reads nearest-rank percentiles.
func ComputePercentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	rank := func(q float64) float64 {
		i := int(math.Ceil(q/100*float64(len(d)))) - 1
		i = min(max(i, 0), len(d)-1)
		return msOf(d[i])
	}
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return Percentiles{P50: rank(50), P90: rank(90), P99: rank(99), Max: msOf(d[len(d)-1]), Mean: msOf(sum / time.Duration(len(d)))}
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
