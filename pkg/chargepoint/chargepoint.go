// Package chargepoint is the charging-station side of OCPP-J: a WebSocket
// client that sends CALLs to a CSMS and answers the CSMS's CALLs.
//
// It is used by the simulator, the end-to-end tests and the load generator,
// so one client costs one reader goroutine and a few small maps: CALLs are
// matched to their answers by message id, several may be in flight at once
// (real chargers pipeline), and a CSMS CALL is answered on a short-lived
// goroutine so that a handler may itself call the CSMS.
//
// In strict mode (Options.Schemas set) everything the CSMS sends is checked
// against the official OCA schemas, the way certification tools and picky
// chargers check it: a bad CALLRESULT makes Call fail with a
// *ViolationError, a bad CSMS CALL is answered with the matching CALLERROR
// and recorded (see Violations).
package chargepoint

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// DefaultSubprotocols is offered when Options.Subprotocols is empty, in
// order of preference.
var DefaultSubprotocols = []string{"ocpp2.0.1", "ocpp1.6"}

// DefaultReadLimit bounds one incoming message. OCPP messages such as
// SetChargingProfile or certificate chains exceed the library's 32 KiB default.
const DefaultReadLimit = 1 << 20

// writeTimeout bounds one message write. Writes do not follow the caller's
// context, because the WebSocket library closes the connection when the
// context of a write ends, and one abandoned Call must not cost every other
// one its connection; a peer that stalls a write this long is dead anyway.
const writeTimeout = 15 * time.Second

// maxViolations bounds the violation log so that a misbehaving CSMS cannot
// grow a long-running client without limit.
const maxViolations = 256

// rawBuffer is how many unsolicited frames ReadRaw can lag behind before
// further ones are dropped.
const rawBuffer = 32

var (
	// ErrClosed is returned by operations on a client whose connection has ended.
	ErrClosed = errors.New("chargepoint: connection closed")
	// ErrNoSubprotocol is returned by Dial when the CSMS accepted the
	// WebSocket without choosing one of the offered OCPP subprotocols.
	ErrNoSubprotocol = errors.New("chargepoint: CSMS chose no OCPP subprotocol")
	// ErrViolation matches every *ViolationError with errors.Is.
	ErrViolation = errors.New("chargepoint: CSMS violated OCPP")
)

// Options configure Dial. The zero value offers DefaultSubprotocols without
// authentication or validation and answers every CSMS CALL with NotSupported.
type Options struct {
	// Subprotocols are offered in this order of preference.
	Subprotocols []string
	// Username and Password are sent as HTTP Basic credentials (security
	// profiles 1 and 2). An empty Username with a Password uses the station
	// id, the last segment of the URL's path, as OCPP requires.
	Username, Password string
	// Schemas turns on strict mode (see the package comment).
	Schemas *schema.Registry
	// OnCall answers a CALL from the CSMS. Return the response payload (a
	// struct, a map or a json.RawMessage; nil means {}; a Reply to act once
	// the answer is sent) or an error: a *CallError is sent as given, any
	// other error as InternalError. It runs on its own goroutine with a
	// context that ends with the connection, and must not call Close.
	OnCall func(ctx context.Context, action string, payload json.RawMessage) (any, error)
	// Compress offers permessage-deflate (RFC 7692), which 2.0.1 requires a
	// CSMS to support. Without context takeover, to keep per-client memory small.
	Compress bool
	// TLS configures wss:// handshakes: the roots that the CSMS's server
	// certificate must chain to (nil: the system's) and, for security
	// profile 3, the client certificate. Ignored when HTTPClient is set.
	TLS *tls.Config
	// HTTPClient makes the handshake request. Default http.DefaultClient,
	// or one with TLS.
	HTTPClient *http.Client
	// Header holds extra handshake headers.
	Header http.Header
	// ReadLimit bounds one incoming message; default DefaultReadLimit.
	ReadLimit int64
	// Logger receives debug logs about dropped or unexpected frames.
	Logger *slog.Logger
}

// CallError is a CALLERROR: returned by Call when the CSMS answers with one,
// and returned from Options.OnCall to answer the CSMS with one.
type CallError struct {
	Code        ocppj.ErrorCode
	Description string
	Details     json.RawMessage
}

func (e *CallError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("CALLERROR %s", e.Code)
	}
	return fmt.Sprintf("CALLERROR %s: %s", e.Code, e.Description)
}

// Reply, returned by OnCall, sends Payload and then runs After: OCPP wants
// a triggered message, or the reboot an accepted Reset announces, to follow
// the answer, never to overtake it.
type Reply struct {
	Payload any
	// After runs once the answer has been written (or writing it failed).
	After func()
}

// ViolationError says how the CSMS broke the protocol. errors.Is(err,
// ErrViolation) holds, and errors.As reaches the cause (for instance the
// *CallError whose code does not exist in the negotiated version).
type ViolationError struct {
	// Action is the action of the CALL concerned, if known.
	Action string
	// MessageID is the id of the frame concerned, if known.
	MessageID string
	Err       error
}

func (e *ViolationError) Error() string {
	var b strings.Builder
	b.WriteString("chargepoint: CSMS violated OCPP")
	if e.Action != "" {
		b.WriteString(" in " + e.Action)
	}
	if e.MessageID != "" {
		b.WriteString(" (message id " + strconv.Quote(e.MessageID) + ")")
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ViolationError) Unwrap() []error { return []error{ErrViolation, e.Err} }

// HandshakeError is returned by Dial when the CSMS refused the WebSocket
// upgrade with an HTTP status (404 unknown station, 401 bad credentials).
type HandshakeError struct {
	StatusCode int
	Err        error
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("chargepoint: handshake refused with HTTP %d: %v", e.StatusCode, e.Err)
}

func (e *HandshakeError) Unwrap() error { return e.Err }

// Client is one charging station's connection to a CSMS. Its methods are
// safe for concurrent use.
type Client struct {
	conn       *websocket.Conn
	version    ocppj.Version
	compressed bool
	opts       Options
	log        *slog.Logger

	idPrefix string
	seq      atomic.Uint64

	// ctx ends when the connection ends; CSMS CALL handlers run under it.
	ctx    context.Context
	cancel context.CancelFunc

	mu          sync.Mutex
	pending     map[string]*pendingCall
	inboundOpen int
	violations  []error
	dropped     int
	err         error // why the connection ended; set once

	raw      chan []byte
	done     chan struct{}
	handlers sync.WaitGroup
}

type pendingCall struct {
	action string
	ch     chan outcome // buffered: the reader never blocks on a caller
}

type outcome struct {
	frame ocppj.Frame
	err   error
}

// Dial opens the WebSocket to rawURL (ws[s]://host/path/<stationId>) and
// starts reading. It fails with a *HandshakeError when the CSMS answers the
// upgrade with an HTTP error, and with ErrNoSubprotocol when it picked none
// of the offered OCPP versions.
func Dial(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("chargepoint: bad URL %q: %w", rawURL, err)
	}
	protos := opts.Subprotocols
	if len(protos) == 0 {
		protos = DefaultSubprotocols
	}
	header := opts.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	if opts.Username != "" || opts.Password != "" {
		user := opts.Username
		if user == "" {
			user = stationID(u)
		}
		header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+opts.Password)))
	}
	mode := websocket.CompressionDisabled
	if opts.Compress {
		mode = websocket.CompressionNoContextTakeover
	}
	client := opts.HTTPClient
	if client == nil && opts.TLS != nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = opts.TLS
		// The connection is the WebSocket's or, when refused, closed: a
		// transport made for one dial must not keep an idle one behind.
		t.DisableKeepAlives = true
		client = &http.Client{Transport: t}
	}
	conn, resp, err := websocket.Dial(ctx, rawURL, &websocket.DialOptions{
		HTTPClient:      client,
		HTTPHeader:      header,
		Subprotocols:    protos,
		CompressionMode: mode,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, &HandshakeError{StatusCode: resp.StatusCode, Err: err}
		}
		return nil, fmt.Errorf("chargepoint: dial %s: %w", rawURL, err)
	}
	v, ok := ocppj.ParseSubprotocol(conn.Subprotocol())
	if !ok {
		_ = conn.CloseNow()
		return nil, fmt.Errorf("%w (offered %v, got %q)", ErrNoSubprotocol, protos, conn.Subprotocol())
	}
	limit := opts.ReadLimit
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	conn.SetReadLimit(limit)

	prefix, err := randomPrefix()
	if err != nil {
		_ = conn.CloseNow()
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		conn:       conn,
		version:    v,
		compressed: resp != nil && strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate"),
		opts:       opts,
		log:        logger.With("station", stationID(u)),
		idPrefix:   prefix,
		ctx:        cctx,
		cancel:     cancel,
		pending:    make(map[string]*pendingCall),
		raw:        make(chan []byte, rawBuffer),
		done:       make(chan struct{}),
	}
	go c.readLoop()
	return c, nil
}

// stationID is the last segment of the URL's path, percent-decoded: an id
// may itself contain an escaped "/".
func stationID(u *url.URL) string {
	seg := path.Base(u.EscapedPath())
	if id, err := url.PathUnescape(seg); err == nil {
		return id
	}
	return seg
}

// randomPrefix makes message ids unique across this station's connections,
// which 2.0.1 requires, without a random read per CALL.
func randomPrefix() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("chargepoint: message id prefix: %w", err)
	}
	return hex.EncodeToString(b[:]) + "-", nil
}

// Version is the negotiated OCPP version.
func (c *Client) Version() ocppj.Version { return c.version }

// Compressed reports whether permessage-deflate was negotiated.
func (c *Client) Compressed() bool { return c.compressed }

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the connection ended (nil while it is open). Use
// websocket.CloseStatus on it to read the close code the CSMS sent.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Violations returns the protocol violations seen so far, oldest first
// (at most the first 256).
func (c *Client) Violations() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.violations...)
}

// Close ends the connection with a normal closure and waits for the reader
// and any running CALL handlers to finish.
func (c *Client) Close() error {
	err := c.conn.Close(websocket.StatusNormalClosure, "")
	c.cancel()
	<-c.done
	c.handlers.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) && websocket.CloseStatus(err) == -1 {
		return fmt.Errorf("chargepoint: close: %w", err)
	}
	return nil
}

// Ping sends a WebSocket ping and waits for the pong.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.conn.Ping(ctx); err != nil {
		return fmt.Errorf("chargepoint: ping: %w", err)
	}
	return nil
}

// Call sends a CALL and waits for its answer, decoding a CALLRESULT into
// resp (which may be nil). req may be a struct, a map, a json.RawMessage
// (sent as is, valid or not) or nil ({}). A CALLERROR comes back as a
// *CallError. Other CALLs may be in flight at the same time.
func (c *Client) Call(ctx context.Context, action string, req, resp any) error {
	payload, err := c.CallRaw(ctx, action, req)
	if err != nil {
		return err
	}
	if resp == nil {
		return nil
	}
	if err := json.Unmarshal(payload, resp); err != nil {
		return fmt.Errorf("chargepoint: decode %s response: %w", action, err)
	}
	return nil
}

// CallRaw is Call returning the CALLRESULT payload undecoded.
func (c *Client) CallRaw(ctx context.Context, action string, req any) (json.RawMessage, error) {
	if req == nil {
		req = struct{}{}
	}
	id := c.idPrefix + strconv.FormatUint(c.seq.Add(1), 10)
	frame, err := ocppj.EncodeCall(id, action, req)
	if err != nil {
		return nil, fmt.Errorf("chargepoint: encode %s: %w", action, err)
	}
	p := &pendingCall{action: action, ch: make(chan outcome, 1)}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, closedError(err)
	}
	c.pending[id] = p
	c.mu.Unlock()

	if err := c.write(ctx, frame); err != nil {
		c.forget(id)
		return nil, fmt.Errorf("chargepoint: send %s: %w", action, err)
	}
	var o outcome
	select {
	case o = <-p.ch:
	case <-ctx.Done():
		c.forget(id)
		return nil, fmt.Errorf("chargepoint: %s (message id %q): %w", action, id, ctx.Err())
	}
	if o.err != nil {
		return nil, o.err
	}
	return c.settle(action, o.frame)
}

// settle turns the CSMS's answer to one of our CALLs into Call's result,
// checking it in strict mode.
func (c *Client) settle(action string, f ocppj.Frame) (json.RawMessage, error) {
	if f.Type == ocppj.CallError {
		ce := &CallError{Code: f.ErrorCode, Description: f.ErrorDescription, Details: f.ErrorDetails}
		if c.opts.Schemas != nil && !ErrorCodeDefined(c.version, f.ErrorCode) {
			return nil, c.violate(&ViolationError{Action: action, MessageID: f.ID,
				Err: fmt.Errorf("error code %q does not exist in OCPP %s: %w", f.ErrorCode, c.version, ce)})
		}
		return nil, ce
	}
	if c.opts.Schemas != nil {
		if err := c.opts.Schemas.ValidateResponse(c.version, action, f.Payload); err != nil {
			return nil, c.violate(&ViolationError{Action: action, MessageID: f.ID,
				Err: fmt.Errorf("CALLRESULT %s: %w", f.Payload, err)})
		}
	}
	return f.Payload, nil
}

// write sends one text message unless ctx has already ended (see writeTimeout).
func (c *Client) write(ctx context.Context, b []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
	defer cancel()
	return c.conn.Write(wctx, websocket.MessageText, b)
}

func (c *Client) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

func closedError(cause error) error {
	if errors.Is(cause, ErrClosed) {
		return cause
	}
	return fmt.Errorf("%w: %w", ErrClosed, cause)
}

// SendRaw writes b as one text message, as is: for tests of how a CSMS
// copes with malformed or hand-made frames. The answer to a hand-made CALL
// is not matched to anything and arrives through ReadRaw.
func (c *Client) SendRaw(ctx context.Context, b []byte) error {
	if err := c.write(ctx, b); err != nil {
		return fmt.Errorf("chargepoint: send raw: %w", err)
	}
	return nil
}

// ReadRaw returns the next frame the client could not attribute: a
// CALLRESULT or CALLERROR matching no pending Call (such as the answer to a
// SendRaw CALL, or one with id "-1") or an unparsable frame. Up to 32 such
// frames are kept; later ones are dropped until ReadRaw catches up.
func (c *Client) ReadRaw(ctx context.Context) ([]byte, error) {
	select {
	case b := <-c.raw:
		return b, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("chargepoint: read raw: %w", ctx.Err())
	case <-c.done:
		// Frames that arrived just before the end are still worth reading.
		select {
		case b := <-c.raw:
			return b, nil
		default:
			return nil, closedError(c.Err())
		}
	}
}

func (c *Client) readLoop() {
	defer close(c.done)
	for {
		typ, b, err := c.conn.Read(c.ctx)
		if err != nil {
			c.finish(err)
			return
		}
		if typ != websocket.MessageText {
			c.violate(&ViolationError{Err: errors.New("binary WebSocket message; OCPP-J uses text messages only")})
			continue
		}
		c.dispatch(b)
	}
}

// finish records why the connection ended and fails every pending CALL.
func (c *Client) finish(cause error) {
	c.cancel()
	c.mu.Lock()
	if c.err == nil {
		c.err = cause
	}
	pending := c.pending
	c.pending = make(map[string]*pendingCall)
	c.mu.Unlock()
	for id, p := range pending {
		p.ch <- outcome{err: fmt.Errorf("chargepoint: %s (message id %q): %w", p.action, id, closedError(cause))}
	}
}

func (c *Client) dispatch(b []byte) {
	f, err := ocppj.Parse(b)
	if err != nil {
		c.violate(&ViolationError{Err: fmt.Errorf("frame %.200q: %w", b, err)})
		c.answerBadFrame(err)
		c.pushRaw(b)
		return
	}
	switch f.Type {
	case ocppj.CallResult, ocppj.CallError:
		c.mu.Lock()
		p := c.pending[f.ID]
		delete(c.pending, f.ID)
		c.mu.Unlock()
		if p == nil {
			c.log.Debug("unmatched answer from CSMS", "id", f.ID)
			c.pushRaw(b)
			return
		}
		p.ch <- outcome{frame: f}
	case ocppj.Call:
		// Counted here, in arrival order, so that overlap is judged exactly.
		c.mu.Lock()
		c.inboundOpen++
		overlap := c.inboundOpen > 1
		c.mu.Unlock()
		if overlap {
			c.violate(&ViolationError{Action: f.Action, MessageID: f.ID,
				Err: errors.New("CSMS sent a CALL while another of its CALLs was still unanswered")})
		}
		c.handlers.Add(1)
		go c.serve(f)
	}
}

// answerBadFrame answers an unreadable frame the way a conforming charger does.
func (c *Client) answerBadFrame(err error) {
	var pe *ocppj.ParseError
	if !errors.As(err, &pe) {
		return
	}
	code, ok := pe.Answer(c.version)
	if !ok {
		return
	}
	frame, err := ocppj.EncodeCallError(pe.ID, code, pe.Reason, nil)
	if err != nil {
		return
	}
	if err := c.write(c.ctx, frame); err != nil {
		c.log.Debug("answering a bad frame failed", "err", err)
	}
}

func (c *Client) pushRaw(b []byte) {
	select {
	case c.raw <- b:
	default:
		c.log.Debug("ReadRaw buffer full, frame dropped", "bytes", len(b))
	}
}

// violate records err and returns it.
func (c *Client) violate(err error) error {
	c.mu.Lock()
	if len(c.violations) < maxViolations {
		c.violations = append(c.violations, err)
	} else {
		c.dropped++
	}
	c.mu.Unlock()
	c.log.Warn("OCPP violation by CSMS", "err", err)
	return err
}

// serve answers one CSMS CALL.
func (c *Client) serve(f ocppj.Frame) {
	defer c.handlers.Done()
	answer, after := c.handle(f)
	if after != nil {
		defer after()
	}
	// Released before the answer is written: the CSMS may send its next CALL
	// as soon as it reads the answer, and that must not count as overlap.
	c.mu.Lock()
	c.inboundOpen--
	c.mu.Unlock()
	if err := c.write(c.ctx, answer); err != nil {
		c.log.Debug("answering CSMS CALL failed", "action", f.Action, "err", err)
	}
}

func (c *Client) handle(f ocppj.Frame) (answer []byte, after func()) {
	if s := c.opts.Schemas; s != nil {
		if !s.IsCSMSAction(c.version, f.Action) {
			c.violate(&ViolationError{Action: f.Action, MessageID: f.ID,
				Err: fmt.Errorf("%q is not a CSMS-to-station action in OCPP %s", f.Action, c.version)})
			return c.callError(f.ID, &CallError{Code: ocppj.CodeNotImplemented, Description: "unknown action " + f.Action}), nil
		}
		if err := s.ValidateRequest(c.version, f.Action, f.Payload); err != nil {
			c.violate(&ViolationError{Action: f.Action, MessageID: f.ID, Err: fmt.Errorf("CALL %s: %w", f.Payload, err)})
			var ve *schema.ValidationError
			if errors.As(err, &ve) {
				return c.callError(f.ID, &CallError{Code: ve.Code, Description: ve.Description}), nil
			}
			return c.callError(f.ID, &CallError{Code: ocppj.CodeNotImplemented, Description: err.Error()}), nil
		}
	}
	if c.opts.OnCall == nil {
		return c.callError(f.ID, &CallError{Code: ocppj.CodeNotSupported, Description: f.Action + " is not supported"}), nil
	}
	res, err := c.opts.OnCall(c.ctx, f.Action, f.Payload)
	if err != nil {
		var ce *CallError
		if !errors.As(err, &ce) {
			ce = &CallError{Code: ocppj.CodeInternalError, Description: err.Error()}
		}
		return c.callError(f.ID, ce), nil
	}
	if r, ok := res.(Reply); ok {
		res, after = r.Payload, r.After
	}
	if res == nil {
		res = struct{}{}
	}
	out, err := ocppj.EncodeCallResult(f.ID, res)
	if err != nil {
		return c.callError(f.ID, &CallError{Code: ocppj.CodeInternalError, Description: "encoding the response failed"}), after
	}
	return out, after
}

func (c *Client) callError(id string, ce *CallError) []byte {
	var details any
	if len(ce.Details) > 0 {
		details = ce.Details
	}
	out, err := ocppj.EncodeCallError(id, ce.Code, ce.Description, details)
	if err != nil {
		// Only a broken Details can fail; the code and id alone always encode.
		out, _ = ocppj.EncodeCallError(id, ce.Code, ce.Description, nil)
	}
	return out
}

// ErrorCodeDefined reports whether code is a CALLERROR code of version v
// (both spellings of OccurrenceConstraintViolation are accepted in 2.0.1,
// as in practice).
func ErrorCodeDefined(v ocppj.Version, code ocppj.ErrorCode) bool {
	switch code {
	case ocppj.CodeNotImplemented, ocppj.CodeNotSupported, ocppj.CodeInternalError,
		ocppj.CodeProtocolError, ocppj.CodeSecurityError, ocppj.CodePropertyConstraintViolation,
		ocppj.CodeTypeConstraintViolation, ocppj.CodeGenericError:
		return true
	case ocppj.CodeFormationViolation:
		return v == ocppj.V16
	case ocppj.CodeOccurenceConstraintViolation:
		return true
	case ocppj.CodeFormatViolation, ocppj.CodeOccurrenceConstraintViolation,
		ocppj.CodeRpcFrameworkError, ocppj.CodeMessageTypeNotSupported:
		return v != ocppj.V16
	}
	return false
}
