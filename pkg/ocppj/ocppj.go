// Package ocppj reads and writes OCPP-J RPC frames (OCPP-J 1.6 §4, OCPP
// 2.0.1 Part 4 §4): [2,id,action,{}], [3,id,{}], [4,id,code,desc,{}].
//
// It looks at the frame only, never inside the payload: the payload is kept
// as raw JSON for whoever validates it against the action's schema.
package ocppj

import (
	"encoding/json"
	"errors"
	"fmt"
)

// MessageType is the first element of a frame.
type MessageType int

const (
	Call       MessageType = 2
	CallResult MessageType = 3
	CallError  MessageType = 4
)

// Version selects the error-code vocabulary, which differs between 1.6 and 2.x.
type Version int

const (
	V16 Version = iota + 1
	V201
)

// Subprotocol returns the WebSocket subprotocol name of v.
func (v Version) Subprotocol() string {
	switch v {
	case V16:
		return "ocpp1.6"
	case V201:
		return "ocpp2.0.1"
	}
	return ""
}

// String returns "1.6" or "2.0.1".
func (v Version) String() string {
	switch v {
	case V16:
		return "1.6"
	case V201:
		return "2.0.1"
	}
	return "unknown"
}

// ParseSubprotocol maps a WebSocket subprotocol to a Version.
func ParseSubprotocol(s string) (Version, bool) {
	switch s {
	case "ocpp1.6":
		return V16, true
	case "ocpp2.0.1":
		return V201, true
	}
	return 0, false
}

// MaxMessageIDLen is the longest message id the specs allow.
const MaxMessageIDLen = 36

// UnknownID is the message id of a CALLERROR answering a frame whose id could
// not be read.
const UnknownID = "-1"

// Frame is one parsed OCPP-J message.
type Frame struct {
	Type   MessageType
	ID     string
	Action string          // Call only
	Payload json.RawMessage // Call and CallResult
	// CallError only.
	ErrorCode        ErrorCode
	ErrorDescription string
	ErrorDetails     json.RawMessage
}

// ParseError says why a frame could not be read, and how to answer it.
type ParseError struct {
	// ID is the frame's message id, or UnknownID when it could not be read.
	ID string
	// Type is the message type, when it could be read (0 otherwise).
	Type MessageType
	// Kind classifies the failure; Code maps it to an error code per version.
	Kind   ParseErrorKind
	Reason string
}

// ParseErrorKind classifies frame-level failures.
type ParseErrorKind int

const (
	// NotRPC: not JSON, not an array, wrong element types or count.
	NotRPC ParseErrorKind = iota + 1
	// UnknownType: a well-formed array whose message type is not 2, 3 or 4.
	UnknownType
)

func (e *ParseError) Error() string {
	return fmt.Sprintf("ocppj: %s (message id %q)", e.Reason, e.ID)
}

// ErrParse matches every *ParseError with errors.Is.
var ErrParse = errors.New("ocppj: invalid frame")

func (e *ParseError) Is(target error) bool { return target == ErrParse }

// ErrorCode is an OCPP-J CALLERROR code.
type ErrorCode string
