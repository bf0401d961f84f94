package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/chargeplane/chargeplane/pkg/chargepoint"
)

// The operator console in a real headless Chromium (the OS package; .ci/run
// installs it) against a real system with strict simulated chargers. Any
// error the page logs or throws fails the test; the only browser log entries
// allowed are the network ones for the refusals a scenario provokes on
// purpose (a command to a disconnected station is answered 409).
//
// CONSOLE_SCREENSHOTS=dir writes the screenshots there (make screenshots
// writes docs/img); without it they go to a temporary directory, so taking
// them is always exercised.

const chromiumPath = "/usr/bin/chromium"

type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot string

	mu   sync.Mutex
	errs []string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := chromiumPath
	if _, err := os.Stat(path); err != nil {
		p, lerr := exec.LookPath("chromium")
		if lerr != nil {
			t.Fatalf("Chromium is needed for the console tests: apt-get install -y chromium (%v)", err)
		}
		path = p
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.WindowSize(1280, 860),
		chromedp.Flag("lang", "en-GB"),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, base: base, shot: os.Getenv("CONSOLE_SCREENSHOTS")}
	if b.shot == "" {
		b.shot = t.TempDir()
	}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancel()
		cancelAlloc()
		t.Fatalf("start Chromium: %v", err)
	}
	listenCtx, stopListen := context.WithCancel(ctx)
	done := make(chan struct{})
	messages := chromedp.Console(listenCtx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && !m.IsException() {
				continue
			}
			if m.Source == "network" && b.expectedRefusal(m.Text) {
				continue
			}
			b.mu.Lock()
			b.errs = append(b.errs, m.String())
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		stopListen()
		<-done
		cancel()
		cancelAlloc()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.errs {
			t.Errorf("browser console error: %s", e)
		}
	})
	return b
}

// expectedRefusal: answers the console handles on purpose; the browser logs
// every non-2xx fetch whether or not the page handled it.
func (b *browser) expectedRefusal(text string) bool {
	return strings.Contains(text, "status of 409") || strings.Contains(text, "status of 404") || strings.Contains(text, "status of 401")
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// waitFor waits until the JavaScript expression is true (the page updates
// itself: nothing here reloads it).
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	b.waitWithin(40*time.Second, what, expr)
}

// waitWithin is waitFor with a bound: the live updates must come from the
// event stream, well before the page's 30 s safety re-read.
func (b *browser) waitWithin(d time.Duration, what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(d))); err != nil {
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById('main').innerText.slice(0, 2000)`))
		b.t.Fatalf("browser: waiting for %s: %v\npage:\n%s", what, err, text)
	}
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("browser: eval %s: %v", expr, err)
	}
	return v
}

func (b *browser) open(hash string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + "/" + hash))
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shot, name+".png"), png, 0o644); err != nil {
		b.t.Fatalf("write screenshot: %v", err)
	}
}

func (b *browser) signIn(email, password string) {
	b.t.Helper()
	b.open("#/login")
	b.do(
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SetValue(chromedp.ID("email"), email),
		chromedp.SetValue(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form.login button[type="submit"]`)),
	)
	b.waitFor("the overview", `document.getElementById('count-online') !== null`)
}

// js quotes a Go string for a JavaScript expression.
func js(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

func TestConsole(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			sys := m.start(t, func(env map[string]string) { env["UNKNOWN_STATIONS"] = "pending" })
			testConsole(t, sys, m.name == "embedded")
		})
	}
}

func testConsole(t *testing.T, sys *system, full bool) {
	ctx := testCtx(t)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	b := newBrowser(t, sys.rest.base)

	// Sign in: a wrong password is said so, then the right one opens the overview.
	b.open("")
	b.do(chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SetValue(chromedp.ID("email"), operatorEmail),
		chromedp.SetValue(chromedp.ID("password"), "not the password at all"),
		chromedp.Click(chromedp.CSS(`form.login button[type="submit"]`)))
	b.waitFor("the refusal", `document.getElementById('login-error').textContent.includes('Wrong email or password')`)
	b.signIn(operatorEmail, operatorPassword)

	// A charger connecting appears on the stations page without a reload,
	// and its connector's status changes live: the page follows the event
	// stream (GET /api/v1/events), not a timer.
	b.open("#/stations")
	b.waitFor("the event stream", `document.body.dataset.live === 'stream'`)
	b.waitFor("the stations page", `document.getElementById('station-count') && document.getElementById('station-count').textContent !== ''`)
	c := dialCtlCharger(ctx, t, sys, v16, "console")
	row := fmt.Sprintf(`document.querySelector('tr[data-station=%s]')`, js(c.id))
	chip := func(status string) string {
		return fmt.Sprintf(`%s && %s.querySelector('.chip[data-connector="1"]') && %s.querySelector('.chip[data-connector="1"]').dataset.status === %s`, row, row, row, js(status))
	}
	status16(ctx, t, c.Client, 1, "Available")
	b.waitWithin(10*time.Second, "the new charger with connector 1 Available", chip("Available"))
	status16(ctx, t, c.Client, 1, "Preparing")
	b.waitWithin(10*time.Second, "connector 1 Preparing", chip("Preparing"))

	// The filters are the server's (ListStations state, ocppVersion, search).
	filtered := func(state, count string) string {
		return fmt.Sprintf(`document.getElementById('station-search').value === %s && document.getElementById('station-state').value === %s && document.getElementById('station-count').textContent.startsWith(%s)`,
			js(c.id), js(state), js(count))
	}
	b.open("#/stations?state=online&version=1.6&q=" + c.id)
	b.waitFor("the charger found online", filtered("online", "1 of ")+" && "+row)
	b.open("#/stations?state=offline&q=" + c.id)
	b.waitFor("no offline charger by that id", filtered("offline", "0 of ")+" && !"+row)
	// The overview counts on the server too.
	b.open("")
	b.waitFor("the overview counting the charger online", `document.querySelector('#count-online .stat-value') && Number(document.querySelector('#count-online .stat-value').textContent) >= 1`)

	if !full {
		return
	}

	// Remote start from the station page: the charger accepts, starts the
	// transaction and meters it; the session shows with its chart.
	tag := "CON" + strings.ToUpper(uuid.NewString()[:8])
	answered := make(chan struct{}, 1)
	c.answerWith(func(action string, _ json.RawMessage) (any, error) {
		if action != "RemoteStartTransaction" {
			return nil, &chargepoint.CallError{Code: "NotSupported", Description: action}
		}
		return chargepoint.Reply{Payload: map[string]any{"status": "Accepted"}, After: func() { answered <- struct{}{} }}, nil
	})
	b.open("#/stations/" + c.id + "?tab=commands")
	form := `form[data-command="remote-start"]`
	b.do(chromedp.WaitVisible(chromedp.CSS(form)),
		chromedp.SetValue(chromedp.CSS(form+` input[name="idToken"]`), tag),
		chromedp.SetValue(chromedp.CSS(form+` input[name="connectorId"]`), "1"),
		chromedp.Click(chromedp.CSS(form+` button[type="submit"]`)))
	rc := c.next(ctx, t)
	if rc.action != "RemoteStartTransaction" || !ctlSameJSON(t, rc.payload, map[string]any{"connectorId": 1, "idTag": tag}) {
		t.Fatalf("charger received %s %s", rc.action, rc.payload)
	}
	select {
	case <-answered:
	case <-ctx.Done():
		t.Fatal("the charger's answer was not sent")
	}
	start := time.Now().Add(-30 * time.Minute).UTC()
	var st struct {
		TransactionID int `json:"transactionId"`
	}
	if err := call(ctx, c.Client, "StartTransaction", map[string]any{
		"connectorId": 1, "idTag": tag, "meterStart": 1000, "timestamp": start.Format(time.RFC3339),
	}, &st); err != nil {
		t.Fatalf("StartTransaction: %v", err)
	}
	status16(ctx, t, c.Client, 1, "Charging")
	// Half an hour at a realistic curve: 11 kW ramping down to 7 kW.
	wh := 1000.0
	for i := 1; i <= 6; i++ {
		at := start.Add(time.Duration(i) * 5 * time.Minute)
		kw := 11.0 - float64(max(0, i-3))*1.3
		wh += kw * 1000 / 12
		if err := call(ctx, c.Client, "MeterValues", map[string]any{
			"connectorId": 1, "transactionId": st.TransactionID,
			"meterValue": []any{map[string]any{"timestamp": at.Format(time.RFC3339), "sampledValue": []any{
				map[string]any{"value": fmt.Sprintf("%.0f", wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": "Sample.Periodic"},
				map[string]any{"value": fmt.Sprintf("%.2f", kw), "measurand": "Power.Active.Import", "unit": "kW", "context": "Sample.Periodic"},
			}}},
		}, nil); err != nil {
			t.Fatalf("MeterValues: %v", err)
		}
	}
	b.waitFor("the charger's answer on the page", `document.querySelector('[data-result="remote-start"]').textContent.includes('Accepted')`)

	b.open("#/")
	b.waitFor("one active session on the overview", `document.querySelector('#count-active .stat-value') && document.querySelector('#count-active .stat-value').textContent !== '0'`)
	b.screenshot("overview")

	b.open("#/stations/" + c.id)
	b.waitFor("the connector charging on the station page", `document.querySelector('tr[data-connector="1"] .connector-status') && document.querySelector('tr[data-connector="1"] .connector-status').textContent === 'Charging'`)
	b.screenshot("station")

	b.open("#/sessions?station=" + c.id)
	sessionLink := fmt.Sprintf(`tr[data-session="%d"] a`, st.TransactionID)
	b.waitFor("the session in the list", fmt.Sprintf(`document.querySelector(%s) !== null`, js(sessionLink)))
	b.do(chromedp.Click(chromedp.CSS(sessionLink)))
	b.waitFor("the chart's power and energy lines",
		`document.querySelector('#session-chart polyline[data-series="power"]') && document.querySelector('#session-chart polyline[data-series="energy"]')`)
	if pts := b.eval(`document.querySelector('#session-chart polyline[data-series="energy"]').getAttribute('points')`); strings.Count(pts, " ")+1 != 6 {
		t.Errorf("energy line has points %q, want the 6 samples", pts)
	}
	b.screenshot("session")

	// Every other page and station tab renders without an error.
	c.answerWith(func(action string, _ json.RawMessage) (any, error) {
		if action == "GetConfiguration" {
			return map[string]any{"configurationKey": []any{map[string]any{"key": "HeartbeatInterval", "readonly": false, "value": "42"}}}, nil
		}
		return nil, &chargepoint.CallError{Code: "NotSupported", Description: action}
	})
	for _, tab := range []string{"sessions", "configuration", "messages", "history", "security", "certificates"} {
		b.open("#/stations/" + c.id + "?tab=" + tab)
		b.waitFor("the "+tab+" tab", `document.getElementById('tab-panel') && document.getElementById('tab-panel').children.length > 0 && !document.querySelector('#tab-panel .spinner')`)
		switch tab {
		case "configuration":
			b.waitFor("the charger's configuration keys", `document.getElementById('tab-panel').textContent.includes('HeartbeatInterval')`)
		case "messages":
			b.waitFor("the StartTransaction in the message log", `document.getElementById('tab-panel').textContent.includes('StartTransaction')`)
		}
		if e := b.eval(`(document.querySelector('#main .error') || {}).textContent || ''`); e != "" {
			t.Errorf("station tab %s shows an error: %s", tab, e)
		}
	}
	for _, page := range []string{"#/id-tokens", "#/pending", "#/users", "#/api-keys", "#/audit", "#/sessions"} {
		b.open(page)
		b.waitFor(page, `document.querySelector('#main h1') !== null && !document.querySelector('#main .spinner')`)
		if e := b.eval(`(document.querySelector('#main .error') || {}).textContent || ''`); e != "" {
			t.Errorf("%s shows an error: %s", page, e)
		}
	}
	// Create, then block an ID token from its page.
	value := "TOK" + strings.ToUpper(uuid.NewString()[:8])
	b.open("#/id-tokens")
	b.do(chromedp.WaitVisible(chromedp.CSS(`details.add summary`)),
		chromedp.Click(chromedp.CSS(`details.add summary`)),
		chromedp.SetValue(chromedp.CSS(`form[data-command="create-token"] input[name="value"]`), value),
		chromedp.Click(chromedp.CSS(`form[data-command="create-token"] button[type="submit"]`)))
	tokRow := fmt.Sprintf(`document.querySelector('tr[data-token=%s]')`, js(value))
	b.waitFor("the new token", tokRow+` !== null`)
	b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-token=%s] button`, js(value)))))
	b.waitFor("the token blocked", tokRow+` && `+tokRow+`.textContent.includes('Blocked')`)

	// A command to a station that is not connected: the page says so.
	off := dialCtlCharger(ctx, t, sys, v16, "consoleoff")
	_ = off.Close()
	deadline := time.Now().Add(20 * time.Second)
	for sys.rest.getStation(ctx, t, off.id).Connected {
		if time.Now().After(deadline) {
			t.Fatalf("%s still connected after its socket closed", off.id)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.open("#/stations/" + off.id + "?tab=commands")
	b.do(chromedp.WaitVisible(chromedp.CSS(`form[data-command="clear-cache"]`)),
		chromedp.Click(chromedp.CSS(`form[data-command="clear-cache"] button[type="submit"]`)))
	b.waitFor("the not-connected error", `document.querySelector('[data-result="clear-cache"] .error') && document.querySelector('[data-result="clear-cache"] .error').textContent.includes('not connected')`)
	off.none(t)

	// An unknown station waits as Pending until it is accepted in the
	// console; it is then asked to boot again and boots Accepted.
	newcomer := newStationID("consolenew")
	nc := mustDialOnboarding(ctx, t, sys, 0, newcomer, v16, "")
	bootAs(ctx, t, nc.Client, v16, "SN-"+newcomer, "Pending")
	b.open("#/pending")
	pendingRow := fmt.Sprintf(`tr[data-station=%s]`, js(newcomer))
	b.waitFor("the pending station", fmt.Sprintf(`document.querySelector(%s) !== null`, js(pendingRow)))
	b.screenshot("pending")
	b.do(chromedp.Click(chromedp.CSS(pendingRow + ` button[data-action="accept"]`)))
	select {
	case <-nc.triggered:
	case <-ctx.Done():
		t.Fatal("the accepted station was not asked to boot again")
	}
	bootAs(ctx, t, nc.Client, v16, "SN-"+newcomer, "Accepted")
	b.waitFor("the accepted station gone from the list", fmt.Sprintf(`document.querySelector(%s) === null`, js(pendingRow)))

	// A viewer is offered no command at all.
	code, _, body, err := sys.rest.do(ctx, http.MethodPost, "/api/v1/users", map[string]any{
		"email": "viewer-" + uuid.NewString()[:8] + "@e2e.example", "password": "plum orchard under rain", "firstName": "Vi", "lastName": "Ewer", "role": "viewer",
	}, true)
	if err != nil || code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("create viewer: %d %s %v", code, body, err)
	}
	var viewer struct {
		Email string `json:"email"`
	}
	if err := json.Unmarshal(body, &viewer); err != nil {
		t.Fatalf("create viewer answer %s: %v", body, err)
	}
	b.do(chromedp.Click(chromedp.CSS(`#who button`)))
	b.signIn(viewer.Email, "plum orchard under rain")
	b.open("#/stations/" + c.id)
	b.waitFor("the station page", `document.getElementById('tab-overview') !== null && document.querySelector('tr[data-connector="1"]') !== null`)
	if got := b.eval(`[document.getElementById('tab-commands') ? 'commands tab' : '', document.querySelectorAll('form[data-command]').length ? 'command forms' : '', [...document.querySelectorAll('#main button')].filter(x => x.textContent === 'Stop').length ? 'stop button' : ''].filter(Boolean).join(', ')`); got != "" {
		t.Errorf("a viewer is offered: %s", got)
	}
	b.open("#/stations")
	b.waitFor("the stations page", fmt.Sprintf(`document.querySelector('tr[data-station=%s]') !== null`, js(c.id)))
	if got := b.eval(`document.querySelector('details.add') ? 'register form' : ''`); got != "" {
		t.Errorf("a viewer is offered a %s", got)
	}
	if got := b.eval(`[...document.querySelectorAll('#nav a')].map(a => a.textContent).join(',')`); strings.Contains(got, "Users") || strings.Contains(got, "Audit") {
		t.Errorf("a viewer's menu offers the admin pages: %s", got)
	}

	// On a phone the pages fit the screen's width (wide tables scroll
	// inside their own box) and the menu folds behind its button.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, page := range []string{"#/", "#/stations", "#/stations/" + c.id, fmt.Sprintf("#/sessions/%d", st.TransactionID)} {
		b.open(page)
		b.waitFor("the page on a phone", `document.querySelector('#main h1') !== null && !document.querySelector('#main .spinner')`)
		if got := b.eval(`String(document.documentElement.scrollWidth) + ' > ' + String(window.innerWidth)`); func() bool {
			var w, iw int
			_, _ = fmt.Sscanf(got, "%d > %d", &w, &iw)
			return w > iw
		}() {
			t.Errorf("%s on a phone is wider than the screen: %s", page, got)
		}
	}
	if got := b.eval(`getComputedStyle(document.getElementById('nav')).display`); got != "none" {
		t.Errorf("the phone menu is not folded: nav display %s", got)
	}
	b.screenshot("phone-session")
}

func status16(ctx context.Context, t *testing.T, c *chargepoint.Client, connector int, status string) {
	t.Helper()
	if err := call(ctx, c, "StatusNotification", map[string]any{
		"connectorId": connector, "errorCode": "NoError", "status": status, "timestamp": time.Now().UTC().Format(time.RFC3339),
	}, nil); err != nil {
		t.Fatalf("StatusNotification %s: %v", status, err)
	}
}
