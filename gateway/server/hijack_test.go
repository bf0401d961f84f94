package server

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// After the hijack the connection keeps small buffers of its own, and
// bytes the client pipelined behind its request are not lost.
func TestSmallBuffersHijack(t *testing.T) {
	type result struct {
		rsize, wsize int
		got          string
		err          error
	}
	results := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := smallBuffers{w}.Hijack()
		if err != nil {
			results <- result{err: err}
			return
		}
		defer nc.Close()
		// Lost bytes must fail the test, not hang it.
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, len("pipelined"))
		_, err = io.ReadFull(brw, buf)
		results <- result{rsize: brw.Reader.Size(), wsize: brw.Writer.Size(), got: string(buf), err: err}
	}))
	defer srv.Close()

	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// One write: the request and what follows it arrive together, so
	// net/http has buffered the extra bytes before the hijack.
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\npipelined"); err != nil {
		t.Fatal(err)
	}
	res := <-results
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.got != "pipelined" {
		t.Errorf("read %q after the hijack, want the pipelined bytes", res.got)
	}
	if res.rsize != connBufferSize || res.wsize != connBufferSize {
		t.Errorf("buffers %d/%d bytes, want %d", res.rsize, res.wsize, connBufferSize)
	}
}
