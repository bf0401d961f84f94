// Package datatransfer answers the DataTransfer messages stations send
// (both OCPP versions): vendor extensions are handlers registered by
// vendorId and messageId, like the route tables; every message is stored
// with the answer it got, and one no handler claims is answered
// UnknownVendorId (or UnknownMessageId when the vendor is known).
package datatransfer

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/chargeplane/chargeplane/api/redact"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Statuses of a DataTransfer answer; the same words in 1.6 and 2.0.1.
const (
	Accepted         = "Accepted"
	Rejected         = "Rejected"
	UnknownMessageID = "UnknownMessageId"
	UnknownVendorID  = "UnknownVendorId"
)

// Message is a DataTransfer a station sent.
type Message struct {
	StationID string
	Version   ocppj.Version
	VendorID  string
	MessageID string
	// Data is the data as sent: any JSON in 2.0.1, a JSON string in 1.6;
	// nil when absent.
	Data json.RawMessage
}

// Answer is what the station gets back.
type Answer struct {
	Status string
	// Data is the answer's data (a JSON string in 1.6); nil for none.
	Data json.RawMessage
}

// Handler answers one vendor extension. Its effects must be committed
// when it returns.
type Handler func(ctx context.Context, m Message) (Answer, error)

// Registry maps (vendorId, messageId) to handlers.
type Registry struct {
	handlers map[key]Handler
	vendors  map[string]bool
}

type key struct{ vendor, message string }

// NewRegistry returns a registry with no vendor extension.
func NewRegistry() *Registry {
	return &Registry{handlers: map[key]Handler{}, vendors: map[string]bool{}}
}

// Register binds a vendor's message to h; messageID "" takes every message
// of the vendor that has no handler of its own. It panics on a duplicate,
// a programming error in a static registration.
func (r *Registry) Register(vendorID, messageID string, h Handler) {
	if vendorID == "" || h == nil {
		panic("datatransfer: incomplete registration")
	}
	k := key{vendorID, messageID}
	if _, dup := r.handlers[k]; dup {
		panic(fmt.Sprintf("datatransfer: %s/%s registered twice", vendorID, messageID))
	}
	r.handlers[k] = h
	r.vendors[vendorID] = true
}

// Accept makes the registry answer a vendor's message (messageID "":
// every message of the vendor) Accepted, without data: the CSMS knows it
// and keeps it for whoever reads the stored messages or the event stream
// (DATA_TRANSFER_VENDORS). A pair a handler claims already keeps it.
func (r *Registry) Accept(vendorID, messageID string) {
	if _, ok := r.handlers[key{vendorID, messageID}]; ok {
		return
	}
	r.Register(vendorID, messageID, func(context.Context, Message) (Answer, error) { return Answer{Status: Accepted}, nil })
}

// Recorder stores incoming data transfers; *store.Store has it.
type Recorder interface {
	RecordDataTransfer(ctx context.Context, d *store.DataTransfer) error
}

// Receiver answers and records incoming data transfers.
type Receiver struct {
	Registry *Registry // nil: no vendor extension
	Store    Recorder
}

// Receive answers m with its handler, or with UnknownVendorId /
// UnknownMessageId, and stores it with the status answered. A handler's
// error fails the message (the station gets a CALLERROR and retries); it
// is not stored, so a retry is stored once.
func (rc Receiver) Receive(ctx context.Context, m Message) (Answer, error) {
	a, err := rc.answer(ctx, m)
	if err != nil {
		return Answer{}, fmt.Errorf("data transfer %s/%s: %w", m.VendorID, m.MessageID, err)
	}
	d := &store.DataTransfer{StationID: m.StationID, OCPPVersion: m.Version, VendorID: m.VendorID,
		MessageID: m.MessageID, Status: a.Status}
	if len(m.Data) > 0 && string(m.Data) != "null" {
		// Kept for viewers (ListDataTransfers): without secrets, like
		// the message log's copy.
		data, _ := redact.JSON(m.Data)
		d.Data = string(data)
	}
	if err := rc.Store.RecordDataTransfer(ctx, d); err != nil {
		return Answer{}, err
	}
	return a, nil
}

func (rc Receiver) answer(ctx context.Context, m Message) (Answer, error) {
	r := rc.Registry
	if r == nil || !r.vendors[m.VendorID] {
		return Answer{Status: UnknownVendorID}, nil
	}
	h, ok := r.handlers[key{m.VendorID, m.MessageID}]
	if !ok {
		if h, ok = r.handlers[key{m.VendorID, ""}]; !ok {
			return Answer{Status: UnknownMessageID}, nil
		}
	}
	a, err := h(ctx, m)
	if err != nil {
		return Answer{}, err
	}
	switch a.Status {
	case Accepted, Rejected, UnknownMessageID, UnknownVendorID:
	default:
		return Answer{}, fmt.Errorf("handler answered status %q", a.Status)
	}
	if m.Version == ocppj.V16 && len(a.Data) > 0 {
		var s string
		if err := json.Unmarshal(a.Data, &s); err != nil {
			return Answer{}, fmt.Errorf("handler answered OCPP 1.6 data that is not a JSON string: %w", err)
		}
	}
	return a, nil
}
