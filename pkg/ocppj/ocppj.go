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

// MaxMessageIDLen is the longest message id the specs allow.
const MaxMessageIDLen = 36

// UnknownID is the message id of a CALLERROR answering a frame whose id could
// not be read.
const UnknownID = "-1"

// Frame is one parsed OCPP-J message.
type Frame struct {
	Type    MessageType
	ID      string
	Action  string          // Call only
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
	// BadPayload: the frame's id (and a CALL's action) could be read, but its
	// payload is not a JSON object; a CALL is answered with a format
	// violation rather than an RPC framework error.
	BadPayload
)

func (e *ParseError) Error() string {
	return fmt.Sprintf("ocppj: %s (message id %q)", e.Reason, e.ID)
}

// ErrParse matches every *ParseError with errors.Is.
var ErrParse = errors.New("ocppj: invalid frame")

func (e *ParseError) Is(target error) bool { return target == ErrParse }

// ErrorCode is an OCPP-J CALLERROR code.
type ErrorCode string

// Error codes of OCPP-J 1.6 §4.2.3, 2.0.1 Part 4 §4.3 and 2.1 Part 4.
const (
	CodeNotImplemented              ErrorCode = "NotImplemented"
	CodeNotSupported                ErrorCode = "NotSupported"
	CodeInternalError               ErrorCode = "InternalError"
	CodeProtocolError               ErrorCode = "ProtocolError"
	CodeSecurityError               ErrorCode = "SecurityError"
	CodeGenericError                ErrorCode = "GenericError"
	CodeTypeConstraintViolation     ErrorCode = "TypeConstraintViolation"
	CodePropertyConstraintViolation ErrorCode = "PropertyConstraintViolation"
	// CodeFormationViolation is the 1.6 name of a syntactically wrong payload
	// (the 1.6 errata keep the odd spelling).
	CodeFormationViolation ErrorCode = "FormationViolation"
	// CodeFormatViolation is the 2.x name of CodeFormationViolation.
	CodeFormatViolation ErrorCode = "FormatViolation"
	// CodeOccurenceConstraintViolation (one r) is what 1.6 and 2.0.1
	// implementations send; send this one.
	CodeOccurenceConstraintViolation ErrorCode = "OccurenceConstraintViolation"
	// CodeOccurrenceConstraintViolation is the 2.1 spelling: accept it inbound,
	// never send it on a 1.6 or 2.0.1 connection.
	CodeOccurrenceConstraintViolation ErrorCode = "OccurrenceConstraintViolation"
	// CodeRpcFrameworkError and CodeMessageTypeNotSupported exist from 2.0.1 on.
	CodeRpcFrameworkError       ErrorCode = "RpcFrameworkError"
	CodeMessageTypeNotSupported ErrorCode = "MessageTypeNotSupported"
)

// FormatViolation returns the name v uses for a syntactically wrong payload.
func FormatViolation(v Version) ErrorCode {
	if v == V16 {
		return CodeFormationViolation
	}
	return CodeFormatViolation
}

// Answer says whether a bad frame gets a CALLERROR on a connection speaking
// v, and with which code. The CALLERROR goes to e.ID, which is UnknownID when
// the id could not be read.
//
// A broken CALLRESULT or CALLERROR is never answered (that could make two
// peers bounce errors at each other forever); the caller should log and drop
// it. An unknown message type is ignored in 1.6 and answered with
// MessageTypeNotSupported from 2.0.1 on.
func (e *ParseError) Answer(v Version) (code ErrorCode, answer bool) {
	if e.Type == CallResult || e.Type == CallError {
		return "", false
	}
	switch e.Kind {
	case UnknownType:
		if v == V16 {
			return "", false
		}
		return CodeMessageTypeNotSupported, true
	case BadPayload:
		return FormatViolation(v), true
	default:
		if v == V16 {
			return CodeFormationViolation, true
		}
		return CodeRpcFrameworkError, true
	}
}
