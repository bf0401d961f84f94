package main

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// latencyProxy is a TCP proxy that delays every byte by a fixed time in
// each direction, as a managed database or broker in another zone would
// be: what a round-trip-bound design suffers from. Bytes are forwarded in
// order and without a throughput limit (many chunks may be on their way at
// once); only their arrival is late. toxiproxy does this too, but is not
// in the module list this project may use, and this is all that is needed.
type latencyProxy struct {
	ln     net.Listener
	target string
	delay  time.Duration

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// startLatencyProxy listens on a free loopback port and forwards to target
// with delay added each way.
func startLatencyProxy(target string, delay time.Duration) (*latencyProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &latencyProxy{ln: ln, target: target, delay: delay}
	p.wg.Go(p.accept)
	return p, nil
}

func (p *latencyProxy) Addr() string { return p.ln.Addr().String() }

func (p *latencyProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", p.target, 10*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Go(func() { p.pump(c, up) })
		p.wg.Go(func() { p.pump(up, c) })
	}
}

type chunk struct {
	at   time.Time
	data []byte
}

// pump copies src to dst, each chunk delay after it was read.
func (p *latencyProxy) pump(src, dst net.Conn) {
	q := make(chan chunk, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			if d := time.Until(c.at.Add(p.delay)); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(c.data); err != nil {
				for range q { // drain so the reader never blocks
				}
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			q <- chunk{at: time.Now(), data: append([]byte(nil), buf[:n]...)}
		}
		if err != nil {
			break
		}
	}
	close(q)
	<-done
	// Half-close what we can so the other direction ends too.
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		_ = dst.Close()
	}
}

// Close stops accepting and cuts every connection.
func (p *latencyProxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// measureRTT is one small request-response through the proxy (tests).
func measureRTT(ctx context.Context, addr string) (time.Duration, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	t0 := time.Now()
	if _, err := c.Write([]byte("ping")); err != nil {
		return 0, err
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}
