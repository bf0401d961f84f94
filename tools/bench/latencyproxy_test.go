package main

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// The proxy adds its delay each way, keeps bytes in order and does not
// limit throughput to one chunk per delay.
func TestLatencyProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
		}
	}()
	p, err := startLatencyProxy(ln.Addr().String(), 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rtt, err := measureRTT(context.Background(), p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if rtt < 10*time.Millisecond {
		t.Fatalf("round trip %v through a 5 ms proxy, want at least 10 ms", rtt)
	}

	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const chunks = 200
	t0 := time.Now()
	go func() {
		for i := range chunks {
			_, _ = c.Write([]byte{byte(i)})
			time.Sleep(100 * time.Microsecond)
		}
	}()
	got := make([]byte, chunks)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	for i, b := range got {
		if b != byte(i) {
			t.Fatalf("byte %d is %d: order lost", i, b)
		}
	}
	// Serialised per chunk this would take 200 × 10 ms.
	if el := time.Since(t0); el > time.Second {
		t.Fatalf("200 pipelined chunks took %v", el)
	}
}
