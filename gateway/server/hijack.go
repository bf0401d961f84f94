package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
)

// connBufferSize is the read and write buffer each WebSocket keeps for its
// life. OCPP frames are small (a Heartbeat and its answer are < 100 bytes)
// and bufio reads or writes a larger frame straight through, so 1 KiB costs
// at most an extra system call for a large frame, while net/http's 4 KiB
// pair would cost every idle charger 8 KiB.
const connBufferSize = 1 << 10

// smallBuffers hands coder/websocket its own small buffers at the hijack
// instead of net/http's. Together with running the connection outside
// ServeHTTP (which lets net/http drop its connection state), that frees
// net/http's buffers for every idle charger.
type smallBuffers struct {
	http.ResponseWriter
}

// Unwrap lets http.ResponseController reach the original writer.
func (w smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Bytes the client sent after its handshake request (normally none)
	// must stay ahead of the socket: the new reader starts with them
	// buffered, as net/http's did.
	pending, err := brw.Reader.Peek(brw.Reader.Buffered())
	if err != nil {
		_ = nc.Close()
		return nil, nil, fmt.Errorf("gateway: read buffered handshake bytes: %w", err)
	}
	var src io.Reader = nc
	if len(pending) > 0 {
		src = io.MultiReader(bytes.NewReader(bytes.Clone(pending)), nc)
	}
	br := bufio.NewReaderSize(src, max(connBufferSize, len(pending)))
	if len(pending) > 0 {
		if _, err := br.Peek(len(pending)); err != nil {
			_ = nc.Close()
			return nil, nil, fmt.Errorf("gateway: re-buffer handshake bytes: %w", err)
		}
	}
	return nc, bufio.NewReadWriter(br, bufio.NewWriterSize(nc, connBufferSize)), nil
}
