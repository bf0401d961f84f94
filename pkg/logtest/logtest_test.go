package logtest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestBufferConcurrentWritesAndLines(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				fmt.Fprintf(&b, "writer=%d line=%d\n", i, j)
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 400 {
		t.Fatalf("%d lines written, want 400", n)
	}
	if got := b.Lines("writer=3 "); len(got) != 50 {
		t.Fatalf("Lines(writer=3) = %d lines, want 50", len(got))
	}
	if got := b.Lines("absent"); got != nil {
		t.Fatalf("Lines(absent) = %q, want none", got)
	}
}
