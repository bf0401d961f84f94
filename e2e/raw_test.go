package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// rawCharger is a charger that writes exact bytes and reads exact frames, for
// the tests about malformed input and about how connections are refused or
// closed; the well-behaved charger is pkg/chargepoint.
type rawCharger struct {
	conn *websocket.Conn
}

// dialRaw opens a WebSocket to url. It returns the HTTP response of the
// handshake also on failure, so callers can check 401/404.
func dialRaw(ctx context.Context, t testing.TB, url, subprotocol, user, password string) (*rawCharger, *http.Response, error) {
	t.Helper()
	// No keep-alive: a refused handshake must not leave a pooled connection
	// (and its goroutines) behind for goleak to find.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	h := http.Header{}
	if user != "" || password != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient:   client,
		HTTPHeader:   h,
		Subprotocols: []string{subprotocol},
	})
	if resp != nil && resp.Body != nil {
		// Read and close what the server said with a refusal.
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(1 << 20)
	r := &rawCharger{conn: c}
	t.Cleanup(func() { _ = c.CloseNow() })
	return r, resp, nil
}

func (r *rawCharger) send(ctx context.Context, t testing.TB, frame string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		t.Fatalf("write %s: %v", frame, err)
	}
}

// read returns the next frame as its JSON elements.
func (r *rawCharger) read(ctx context.Context, t testing.TB) []json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	typ, b, err := r.conn.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("got a %v message, OCPP-J frames are text", typ)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(b, &elems); err != nil {
		t.Fatalf("the CSMS sent a frame that is not a JSON array: %q", b)
	}
	return elems
}

// call sends a CALL and expects the CALLRESULT with the same id next.
func (r *rawCharger) call(ctx context.Context, t testing.TB, id, action, payload string) json.RawMessage {
	t.Helper()
	r.send(ctx, t, fmt.Sprintf(`[2,%q,%q,%s]`, id, action, payload))
	f := r.read(ctx, t)
	if len(f) != 3 || string(f[0]) != "3" || str(f[1]) != id {
		t.Fatalf("%s %s: want [3,%q,{...}], got %s", action, id, id, joinFrame(f))
	}
	return f[2]
}

// waitClosed waits for the server to close the connection and returns the
// close status it sent (-1 if it just dropped the socket).
func (r *rawCharger) waitClosed(ctx context.Context, t testing.TB) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		_, b, err := r.conn.Read(ctx)
		if err == nil {
			t.Logf("frame before close: %s", b)
			continue
		}
		if ctx.Err() != nil {
			t.Fatalf("the server did not close the connection within 10s")
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		return -1
	}
}

func str(m json.RawMessage) string {
	var s string
	if err := json.Unmarshal(m, &s); err != nil {
		return "<not a string: " + string(m) + ">"
	}
	return s
}

func joinFrame(f []json.RawMessage) string {
	b, _ := json.Marshal(f)
	return string(b)
}
