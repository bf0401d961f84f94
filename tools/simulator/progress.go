package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// lineWriter shares the terminal between log lines and the progress line:
// a log line first erases the progress line, which is drawn again after it.
type lineWriter struct {
	mu       sync.Mutex
	w        io.Writer
	progress string // the line on screen, "" when none
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.progress != "" {
		fmt.Fprint(l.w, "\r\033[K")
	}
	n, err := l.w.Write(p)
	if l.progress != "" {
		fmt.Fprint(l.w, l.progress)
	}
	return n, err
}

// show replaces the progress line (on a terminal) or prints it as a line.
func (l *lineWriter) show(line string, terminal bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !terminal {
		fmt.Fprintln(l.w, line)
		return
	}
	fmt.Fprint(l.w, "\r\033[K"+line)
	l.progress = line
	if strings.HasSuffix(line, "\n") {
		l.progress = ""
	}
}

// summary is the progress line of a fleet.
func summary(stations []*Station) string {
	var online, charging, refused int
	var wh float64
	why := ""
	for _, st := range stations {
		p := st.progress()
		if p.online {
			online++
		}
		if p.charging {
			charging++
		}
		if p.refusal != "" {
			refused++
			why = p.refusal
		}
		wh += p.energyWh
	}
	line := fmt.Sprintf("%d/%d online · %d charging · %.1f kWh delivered", online, len(stations), charging, wh/1000)
	if refused > 0 {
		line += fmt.Sprintf(" · %d refused (%s)", refused, why)
	}
	return line
}

// showProgress redraws the progress line every second on a terminal, and
// prints it every 10 s elsewhere, until ctx ends.
func showProgress(ctx context.Context, out *lineWriter, stations []*Station, terminal bool) {
	every := time.Second
	if !terminal {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if terminal {
				out.show(summary(stations)+"\n", true)
			}
			return
		case <-t.C:
			out.show(summary(stations), terminal)
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
