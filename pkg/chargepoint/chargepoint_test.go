package chargepoint_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/chargeplane/chargeplane/api/pki/pkitest"
	"github.com/chargeplane/chargeplane/pkg/chargepoint"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// csms is a minimal fake central system: it accepts one WebSocket per
// request and hands it to the test's script. It exists to test the client.
type csms struct {
	t      *testing.T
	srv    *httptest.Server
	protos []string
	script func(ctx context.Context, conn *websocket.Conn, r *http.Request)
	wg     sync.WaitGroup
}

func newCSMS(t *testing.T, protos []string, script func(ctx context.Context, conn *websocket.Conn, r *http.Request)) *csms {
	t.Helper()
	s := &csms{t: t, protos: protos, script: script}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.srv.Close()
		s.wg.Wait()
	})
	return s
}

func (s *csms) url(station string) string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/ocpp/" + station
}

func (s *csms) serve(w http.ResponseWriter, r *http.Request) {
	s.wg.Add(1)
	defer s.wg.Done()
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: s.protos})
	if err != nil {
		s.t.Errorf("accept: %v", err)
		return
	}
	defer conn.CloseNow()
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	s.script(ctx, conn, r)
}

func read(ctx context.Context, t *testing.T, conn *websocket.Conn) ocppj.Frame {
	t.Helper()
	_, b, err := conn.Read(ctx)
	if err != nil {
		t.Errorf("csms read: %v", err)
		return ocppj.Frame{}
	}
	f, err := ocppj.Parse(b)
	if err != nil {
		t.Errorf("csms got a bad frame %s: %v", b, err)
	}
	return f
}

func write(ctx context.Context, t *testing.T, conn *websocket.Conn, s string) {
	t.Helper()
	if err := conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		t.Errorf("csms write: %v", err)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, url string, opts chargepoint.Options) *chargepoint.Client {
	t.Helper()
	c, err := chargepoint.Dial(testCtx(t), url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var (
	loadOnce sync.Once
	registry *schema.Registry
	loadErr  error
)

func schemas(t *testing.T) *schema.Registry {
	t.Helper()
	loadOnce.Do(func() { registry, loadErr = schema.Load() })
	if loadErr != nil {
		t.Fatalf("schema.Load: %v", loadErr)
	}
	return registry
}

const bootOK16 = `{"status":"Accepted","currentTime":"2026-01-02T03:04:05Z","interval":300}`

func TestDialNegotiatesAndAuthenticates(t *testing.T) {
	gotUser := make(chan string, 1)
	s := newCSMS(t, []string{"ocpp1.6"}, func(ctx context.Context, conn *websocket.Conn, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		gotUser <- user + ":" + pass
		_, _, _ = conn.Read(ctx) // until the client closes
	})
	c := dial(t, s.url("CP%2F1"), chargepoint.Options{Password: "0123456789abcdef"})
	if c.Version() != ocppj.V16 {
		t.Errorf("Version() = %v, want 1.6", c.Version())
	}
	// The username defaults to the (decoded) station id, as OCPP requires.
	if got := <-gotUser; got != "CP/1:0123456789abcdef" {
		t.Errorf("Basic credentials = %q, want CP/1:0123456789abcdef", got)
	}
}

func TestDialReportsRefusedHandshake(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unknown station", http.StatusNotFound)
	}))
	defer srv.Close()
	_, err := chargepoint.Dial(testCtx(t), "ws"+strings.TrimPrefix(srv.URL, "http")+"/ocpp/X", chargepoint.Options{})
	var he *chargepoint.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusNotFound {
		t.Fatalf("Dial error = %v, want HandshakeError 404", err)
	}
}

func TestDialWithoutMatchingSubprotocolFails(t *testing.T) {
	s := newCSMS(t, []string{"ocpp2.0.1"}, func(ctx context.Context, conn *websocket.Conn, r *http.Request) {
		_, _, _ = conn.Read(ctx)
	})
	_, err := chargepoint.Dial(testCtx(t), s.url("CP1"), chargepoint.Options{Subprotocols: []string{"ocpp1.6"}})
	if !errors.Is(err, chargepoint.ErrNoSubprotocol) {
		t.Fatalf("Dial error = %v, want ErrNoSubprotocol", err)
	}
}

func TestCallRoundTrip(t *testing.T) {
	s := newCSMS(t, []string{"ocpp1.6"}, func(ctx context.Context, conn *websocket.Conn, r *http.Request) {
		f := read(ctx, t, conn)
		if f.Type != ocppj.Call || f.Action != "BootNotification" || !strings.Contains(string(f.Payload), `"chargePointVendor":"V"`) {
			t.Errorf("csms got %+v", f)
		}
		write(ctx, t, conn, `[3,"`+f.ID+`",`+bootOK16+`]`)
		_, _, _ = conn.Read(ctx)
	})
	c := dial(t, s.url("CP1"), chargepoint.Options{Subprotocols: []string{"ocpp1.6"}})
	var resp struct {
		Status   string `json:"status"`
		Interval int    `json:"interval"`
	}
	err := c.Call(testCtx(t), "BootNotification", map[string]string{"chargePointVendor": "V", "chargePointModel": "M"}, &resp)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if resp.Status != "Accepted" || resp.Interval != 300 {
		t.Errorf("resp = %+v", resp)
	}
}

// Chargers pipeline CALLs: answers arriving out of order must reach the
// right callers.
func TestPipelinedCallsMatchByID(t *testing.T) {
	const n = 5
	s := newCSMS(t, []string{"ocpp1.6"}, func(ctx context.Context, conn *websocket.Conn, r *http.Request) {
		var frames []ocppj.Frame
		for range n {
			frames = append(frames, read(ctx, t, conn))
		}
		for i := len(frames) - 1; i >= 0; i-- {
			var req struct {
				VendorID string `json:"vendorId"`
			}
			_ = json.Unmarshal(frames[i].Payload, &req)
			write(ctx, t, conn, fmt.Sprintf(`[3,%q,{"status":"Accepted","data":%q}]`, frames[i].ID, req.VendorID))
		}
		_, _, _ = conn.Read(ctx)
	})
	c := dial(t, s.url("CP1"), chargepoint.Options{Subprotocols: []string{"ocpp1.6"}})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			vendor := fmt.Sprintf("v%d", i)
			var resp struct {
				Data string `json:"data"`
			}
			if err := c.Call(testCtx(t), "DataTransfer", map[string]string{"vendorId": vendor}, &resp); err != nil {
				t.Errorf("call %d: %v", i, err)
			} else if resp.Data != vendor {
				t.Errorf("call %d got the answer for %q", i, resp.Data)
			}
		})
	}
	wg.Wait()
}

func TestCallErrorIsReturned(t *testing.T) {
	s := newCSMS(t, []string{"ocpp2.0.1"}, func(ctx context.Context, conn *websocket.Conn, r *http.Request) {
		f := read(ctx, t, conn)
		write(ctx, t, conn, `[4,"`+f.ID+`","SecurityError","not accepted yet",{}]`)
		_, _, _ = conn.Read(ctx)
	})
	c := dial(t, s.url("CP1"), chargepoint.Options{Subprotocols: []string{"ocpp2.0.1"}})
	err := c.Call(testCtx(t), "Heartbeat", nil, nil)
	var ce *chargepoint.CallError
	if !errors.As(err, &ce) || ce.Code != ocppj.CodeSecurityError || ce.Description != "not accepted yet" {
		t.Fatalf("Call error = %v, want CallError SecurityError", err)
	}
	if errors.Is(err, chargepoint.ErrViolation) {
		t.Errorf("a well-formed CALLERROR is not a violation: %v", err)
	}
}

func TestStrictModeRejectsInvalidResponses(t *testing.T) {
	reg := schemas(t)
	answers := []string{
		bootOK16,                               // valid
		`{"status":"Accepted","interval":300}`, // currentTime missing
		`{"status":"Maybe","currentTime":"2026-01-02T03:04:05Z","interval":1}`, // bad enum
	}
	s := newCSMS(t, []string{"ocpp1.6"}, func(ctx context.Context, conn *websocket.Conn, r *http.Request) {
		for _, a := range answers {
			f := read(ctx, t, conn)
			write(ctx, t, conn, `[3,"`+f.ID+`",`+a+`]`)
		}
		f := read(ctx, t, conn)
		// FormatViolation is the 2.x name; 1.6 says FormationViolation.
		write(ctx, t, conn, `[4,"`+f.ID+`","FormatViolation","bad",{}]`)
		_, _, _ = conn.Read(ctx)
	})
	c := dial(t, s.url("CP1"), chargepoint.Options{Subprotocols: []string{"ocpp1.6"}, Schemas: reg})
	boot := map[string]string{"chargePointVendor": "V", "chargePointModel": "M"}
	ctx := testCtx(t)
	if err := c.Call(ctx, "BootNotification", boot, nil); err != nil {
		t.Fatalf("valid response rejected: %v", err)
	}
	for i := 1; i < len(answers); i++ {
		err := c.Call(ctx, "BootNotification", boot, nil)
		var ve *chargepoint.ViolationError
		if !errors.Is(err, chargepoint.ErrViolation) || !errors.As(err, &ve) || ve.Action != "BootNotification" {
			t.Errorf("answer %s: err = %v, want a BootNotification violation", answers[i], err)
		}
	}
	err := c.Call(ctx, "BootNotification", boot, nil)
	var ce *chargepoint.CallError
	if !errors.Is(err, chargepoint.ErrViolation) || !errors.As(err, &ce) || ce.Code != "FormatViolation" {
		t.Errorf("2.x error code in 1.6: err = %v, want a violation wrapping the CallError", err)
	}
	if got := len(c.Violations()); got != 3 {
		t.Errorf("Violations() has %d entries, want 3: %v", got, c.Violations())
	}
}

func TestInboundCallsAreAnswered(t *testing.T) {
	type result struct{ frames []ocppj.Frame }
	done := make(chan result, 1)
	s := newCSMS(t, []string{"ocpp1.6"}, func(ctx context.Context, conn *websocket.Conn, r *http.Request) {
		var res result
		for _, call := range []string{
			`[2,"a","ChangeConfiguration",{"key":"HeartbeatInterval","value":"60"}]`,
			`[2,"b","Reset",{"type":"Hard"}]`,
			`[2,"c","ClearCache",{}]`,
		} {
			write(ctx, t, conn, call)
			res.frames = append(res.frames, read(ctx, t, conn))
		}
		done <- res
		_, _, _ = conn.Read(ctx)
	})
	var mu sync.Mutex
	var seen []string
	_ = dial(t, s.url("CP1"), chargepoint.Options{
		Subprotocols: []string{"ocpp1.6"},
		OnCall: func(ctx context.Context, action string, payload json.RawMessage) (any, error) {
			mu.Lock()
			seen = append(seen, action+string(payload))
			mu.Unlock()
			switch action {
			case "ChangeConfiguration":
				return map[string]string{"status": "Accepted"}, nil
			case "Reset":
				return nil, &chargepoint.CallError{Code: ocppj.CodeNotSupported, Description: "no reset here"}
			}
			return nil, errors.New("boom")
		},
	})
	res := <-done
	want := []struct {
		typ  ocppj.MessageType
		id   string
		code ocppj.ErrorCode
		body string
	}{
		{ocppj.CallResult, "a", "", `{"status":"Accepted"}`},
		{ocppj.CallError, "b", ocppj.CodeNotSupported, ""},
		{ocppj.CallError, "c", ocppj.CodeInternalError, ""},
	}
	for i, w := range want {
		f := res.frames[i]
		if f.Type != w.typ || f.ID != w.id || f.ErrorCode != w.code || (w.body != "" && string(f.Payload) != w.body) {
			t.Errorf("answer %d = %+v (payload %s), want %+v", i, f, f.Payload, w)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 || seen[0] != `ChangeConfiguration{"key":"HeartbeatInterval","value":"60"}` {
		t.Errorf("OnCall saw %q", seen)
	}
}

func TestInboundCallWithoutHandlerIsNotSupported(t *testing.T) {
	got := make(chan ocppj.Frame, 1)
	s := newCSMS(t, []string{"ocpp2.0.1"}, func(ctx context.Context, conn *websocket.Conn, r *http.Request) {
		write(ctx, t, conn, `[2,"x","ClearCache",{}]`)
		got <- read(ctx, t, conn)
		_, _, _ = conn.Read(ctx)
	})
	_ = dial(t, s.url("CP1"), chargepoint.Options{})
	f := <-got
	if f.Type != ocppj.CallError || f.ID != "x" || f.ErrorCode != ocppj.CodeNotSupported {
		t.Errorf("answer = %+v, want CALLERROR NotSupported", f)
	}
}

func TestStrictModeChecksInboundCalls(t *testing.T) {
	reg := schemas(t)
	got := make(chan []ocppj.Frame, 1)
	s := newCSMS(t, []string{"ocpp2.0.1"}, func(ctx context.Context, conn *websocket.Conn, r *http.Request) {
		var frames []ocppj.Frame
		for _, call := range []string{
			`[2,"ok","Reset",{"type":"Immediate"}]`,
			`[2,"bad","Reset",{"type":"Sideways"}]`,
			`[2,"dir","Heartbeat",{}]`, // a station-to-CSMS action
		} {
			write(ctx, t, conn, call)
			frames = append(frames, read(ctx, t, conn))
		}
		got <- frames
		_, _, _ = conn.Read(ctx)
	})
	handled := make(chan string, 3)
	c := dial(t, s.url("CP1"), chargepoint.Options{
		Subprotocols: []string{"ocpp2.0.1"},
		Schemas:      reg,
		OnCall: func(ctx context.Context, action string, payload json.RawMessage) (any, error) {
			handled <- action
			return map[string]string{"status": "Accepted"}, nil
		},
	})
	frames := <-got
	if frames[0].Type != ocppj.CallResult {
		t.Errorf("valid Reset answered %+v", frames[0])
	}
	if frames[1].Type != ocppj.CallError || frames[1].ErrorCode == "" {
		t.Errorf("invalid Reset answered %+v, want a CALLERROR", frames[1])
	}
	if frames[2].Type != ocppj.CallError || frames[2].ErrorCode != ocppj.CodeNotImplemented {
		t.Errorf("Heartbeat from the CSMS answered %+v, want NotImplemented", frames[2])
	}
	if len(handled) != 1 {
		t.Errorf("OnCall ran %d times, want only for the valid CALL", len(handled))
	}
	if v := c.Violations(); len(v) != 2 || !errors.Is(v[0], chargepoint.ErrViolation) {
		t.Errorf("Violations() = %v, want 2", v)
	}
}

// OCPP allows the CSMS one outstanding CALL per connection.
func TestOverlappingCSMSCallsAreAViolation(t *testing.T) {
	release := make(chan struct{})
	answered := make(chan struct{})
	s := newCSMS(t, []string{"ocpp2.0.1"}, func(ctx context.Context, conn *websocket.Conn, r *http.Request) {
		write(ctx, t, conn, `[2,"1","ClearCache",{}]`)
		write(ctx, t, conn, `[2,"2","ClearCache",{}]`)
		read(ctx, t, conn)
		read(ctx, t, conn)
		// Sequential CALLs after the answers are fine.
		write(ctx, t, conn, `[2,"3","ClearCache",{}]`)
		read(ctx, t, conn)
		close(answered)
		_, _, _ = conn.Read(ctx)
	})
	var mu sync.Mutex
	calls := 0
	c := dial(t, s.url("CP1"), chargepoint.Options{
		OnCall: func(ctx context.Context, action string, payload json.RawMessage) (any, error) {
			// Both CALLs are held unanswered until both have arrived.
			mu.Lock()
			calls++
			if calls == 2 {
				close(release)
			}
			mu.Unlock()
			<-release
			return map[string]string{"status": "Accepted"}, nil
		},
	})
	<-answered
	if v := c.Violations(); len(v) != 1 || !strings.Contains(v[0].Error(), "unanswered") {
		t.Errorf("Violations() = %v, want exactly the overlap", v)
	}
}

func TestRawFramesAndBadFrames(t *testing.T) {
	got := make(chan ocppj.Frame, 1)
	s := newCSMS(t, []string{"ocpp2.0.1"}, func(ctx context.Context, conn *websocket.Conn, r *http.Request) {
		_, b, _ := conn.Read(ctx)
		if string(b) != `[2,"x1"]` {
			t.Errorf("csms got %q, want the raw bytes", b)
		}
		write(ctx, t, conn, `[4,"-1","RpcFrameworkError","bad frame",{}]`)
		write(ctx, t, conn, `this is not json`)
		got <- read(ctx, t, conn)
		_, _, _ = conn.Read(ctx)
	})
	c := dial(t, s.url("CP1"), chargepoint.Options{})
	ctx := testCtx(t)
	if err := c.SendRaw(ctx, []byte(`[2,"x1"]`)); err != nil {
		t.Fatal(err)
	}
	b, err := c.ReadRaw(ctx)
	if err != nil || string(b) != `[4,"-1","RpcFrameworkError","bad frame",{}]` {
		t.Fatalf("ReadRaw = %q, %v", b, err)
	}
	b, err = c.ReadRaw(ctx)
	if err != nil || string(b) != `this is not json` {
		t.Fatalf("ReadRaw = %q, %v", b, err)
	}
	// The client answers garbage like a conforming 2.0.1 station.
	if f := <-got; f.Type != ocppj.CallError || f.ID != ocppj.UnknownID || f.ErrorCode != ocppj.CodeRpcFrameworkError {
		t.Errorf("answer to garbage = %+v", f)
	}
	if v := c.Violations(); len(v) != 1 {
		t.Errorf("Violations() = %v, want the unparsable frame", v)
	}
}

func TestCallTimeoutLeavesLateAnswerToReadRaw(t *testing.T) {
	proceed := make(chan struct{})
	received := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(proceed) }) }
	t.Cleanup(release)
	s := newCSMS(t, []string{"ocpp1.6"}, func(ctx context.Context, conn *websocket.Conn, r *http.Request) {
		f := read(ctx, t, conn)
		close(received)
		<-proceed
		write(ctx, t, conn, `[3,"`+f.ID+`",{"currentTime":"2026-01-02T03:04:05Z"}]`)
		_, _, _ = conn.Read(ctx)
	})
	c := dial(t, s.url("CP1"), chargepoint.Options{Subprotocols: []string{"ocpp1.6"}})
	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() { errc <- c.Call(ctx, "Heartbeat", nil, nil) }()
	<-received
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Call error = %v, want context.Canceled", err)
	}
	release()
	b, err := c.ReadRaw(testCtx(t))
	if err != nil || !strings.Contains(string(b), "currentTime") {
		t.Errorf("ReadRaw = %q, %v", b, err)
	}
}

func TestServerCloseFailsPendingCalls(t *testing.T) {
	s := newCSMS(t, []string{"ocpp1.6"}, func(ctx context.Context, conn *websocket.Conn, r *http.Request) {
		read(ctx, t, conn)
		_ = conn.Close(websocket.StatusGoingAway, "draining")
	})
	c := dial(t, s.url("CP1"), chargepoint.Options{Subprotocols: []string{"ocpp1.6"}})
	err := c.Call(testCtx(t), "Heartbeat", nil, nil)
	if !errors.Is(err, chargepoint.ErrClosed) {
		t.Fatalf("Call error = %v, want ErrClosed", err)
	}
	<-c.Done()
	if code := websocket.CloseStatus(c.Err()); code != websocket.StatusGoingAway {
		t.Errorf("close status = %v (%v), want 1001", code, c.Err())
	}
	if err := c.Call(testCtx(t), "Heartbeat", nil, nil); !errors.Is(err, chargepoint.ErrClosed) {
		t.Errorf("Call after close = %v, want ErrClosed", err)
	}
	if _, err := c.ReadRaw(testCtx(t)); !errors.Is(err, chargepoint.ErrClosed) {
		t.Errorf("ReadRaw after close = %v, want ErrClosed", err)
	}
}

func TestCompressionIsNegotiated(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols:    []string{"ocpp2.0.1"},
			CompressionMode: websocket.CompressionContextTakeover,
		})
		if err != nil {
			return
		}
		defer conn.CloseNow()
		_, b, err := conn.Read(r.Context())
		if err != nil {
			return
		}
		f, _ := ocppj.Parse(b)
		_ = conn.Write(r.Context(), websocket.MessageText, []byte(`[3,"`+f.ID+`",{"currentTime":"2026-01-02T03:04:05Z","pad":"`+strings.Repeat("x", 4096)+`"}]`))
		_, _, _ = conn.Read(r.Context())
	}))
	t.Cleanup(srv.Close)
	c := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ocpp/CP1", chargepoint.Options{Compress: true})
	if !c.Compressed() {
		t.Error("permessage-deflate was not negotiated")
	}
	var resp struct {
		Pad string `json:"pad"`
	}
	if err := c.Call(testCtx(t), "Heartbeat", nil, &resp); err != nil || len(resp.Pad) != 4096 {
		t.Errorf("compressed Call: %v (pad %d bytes)", err, len(resp.Pad))
	}
}

// What a CALL triggers must follow its answer on the wire.
func TestReplyAfterRunsOnceTheAnswerIsSent(t *testing.T) {
	got := make(chan []ocppj.Frame, 1)
	s := newCSMS(t, []string{"ocpp1.6"}, func(ctx context.Context, conn *websocket.Conn, r *http.Request) {
		write(ctx, t, conn, `[2,"t","TriggerMessage",{"requestedMessage":"Heartbeat"}]`)
		first := read(ctx, t, conn)
		second := read(ctx, t, conn)
		write(ctx, t, conn, `[3,"`+second.ID+`",{"currentTime":"2026-01-02T03:04:05Z"}]`)
		got <- []ocppj.Frame{first, second}
		_, _, _ = conn.Read(ctx)
	})
	var c *chargepoint.Client
	ready := make(chan struct{})
	afterDone := make(chan struct{})
	c = dial(t, s.url("CP1"), chargepoint.Options{
		Subprotocols: []string{"ocpp1.6"},
		OnCall: func(ctx context.Context, action string, payload json.RawMessage) (any, error) {
			<-ready
			return chargepoint.Reply{
				Payload: map[string]string{"status": "Accepted"},
				After: func() {
					defer close(afterDone)
					if err := c.Call(ctx, "Heartbeat", nil, nil); err != nil {
						t.Errorf("triggered Heartbeat: %v", err)
					}
				},
			}, nil
		},
	})
	close(ready)
	frames := <-got
	<-afterDone
	if frames[0].Type != ocppj.CallResult || frames[0].ID != "t" || frames[1].Type != ocppj.Call || frames[1].Action != "Heartbeat" {
		t.Errorf("frames = %+v, want the answer then the Heartbeat", frames)
	}
}

// TestDialOverTLS connects over real wss with the roots and the client
// certificate of Options.TLS, as security profiles 2 and 3 do.
func TestDialOverTLS(t *testing.T) {
	ca := pkitest.NewRoot(t, "Test CSMS CA", time.Time{}, time.Time{})
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(ca.Cert)
	peer := make(chan string, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := "(none)"
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		peer <- cn
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"ocpp2.0.1"}})
		if err != nil {
			return
		}
		defer conn.CloseNow()
		_, _, _ = conn.Read(r.Context()) // until the client closes
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{ca.ServerLeaf(t, pkitest.Key(t, "p256"), "127.0.0.1")},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    clientCAs,
	}
	srv.StartTLS()
	defer srv.Close()
	u := "wss" + strings.TrimPrefix(srv.URL, "https") + "/ocpp/CP-1"
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	key := pkitest.Key(t, "p256")
	leaf := ca.Leaf(t, pkix.Name{CommonName: "CP-1"}, key.Public(), time.Time{})
	c := dial(t, u, chargepoint.Options{TLS: &tls.Config{
		RootCAs:      roots,
		Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}},
	}})
	if got := <-peer; got != "CP-1" {
		t.Errorf("server saw client certificate %q, want CP-1", got)
	}
	_ = c.Close()

	c = dial(t, u, chargepoint.Options{TLS: &tls.Config{RootCAs: roots}})
	if got := <-peer; got != "(none)" {
		t.Errorf("without a certificate the server saw %q", got)
	}
	_ = c.Close()

	// The system's roots do not know the test CA: the handshake must fail.
	if _, err := chargepoint.Dial(testCtx(t), u, chargepoint.Options{TLS: &tls.Config{}}); err == nil {
		t.Fatal("Dial trusted a server certificate of an unknown CA")
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Dial error = %v, want a certificate error", err)
	}
}
