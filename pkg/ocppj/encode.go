package ocppj

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/chargeplane/chargeplane/pkg/truncate"
)

// Errors returned by the encoders; they are programming errors of the caller,
// never caused by what a charger sent.
var (
	ErrInvalidMessageID = errors.New("ocppj: message id must be 1 to 36 characters")
	ErrInvalidAction    = errors.New("ocppj: action must not be empty")
	ErrInvalidCode      = errors.New("ocppj: error code must not be empty")
	ErrNotObject        = errors.New("ocppj: payload is not a JSON object")
)

// MaxErrorDescriptionLen is the longest errorDescription 2.0.1 allows (and
// 1.6 implementations expect).
const MaxErrorDescriptionLen = 255

// EncodeCall encodes [2,id,action,payload]. payload is marshalled with
// encoding/json (a json.RawMessage passes through untouched); nil and JSON
// null become {}, anything but an object is an error.
func EncodeCall(id, action string, payload any) ([]byte, error) {
	if id == "" || !validIDLen(id) {
		return nil, fmt.Errorf("encode CALL %q: %w", id, ErrInvalidMessageID)
	}
	if action == "" {
		return nil, fmt.Errorf("encode CALL %q: %w", id, ErrInvalidAction)
	}
	p, err := marshalObject(payload)
	if err != nil {
		return nil, fmt.Errorf("encode CALL %s %q: %w", action, id, err)
	}
	buf := make([]byte, 0, len(p)+len(id)+len(action)+12)
	buf = append(buf, "[2,"...)
	buf = appendString(buf, id)
	buf = append(buf, ',')
	buf = appendString(buf, action)
	buf = append(buf, ',')
	buf = append(buf, p...)
	return append(buf, ']'), nil
}

// EncodeCallResult encodes [3,id,payload], with payload handled as in
// EncodeCall.
func EncodeCallResult(id string, payload any) ([]byte, error) {
	if id == "" || !validIDLen(id) {
		return nil, fmt.Errorf("encode CALLRESULT %q: %w", id, ErrInvalidMessageID)
	}
	p, err := marshalObject(payload)
	if err != nil {
		return nil, fmt.Errorf("encode CALLRESULT %q: %w", id, err)
	}
	buf := make([]byte, 0, len(p)+len(id)+8)
	buf = append(buf, "[3,"...)
	buf = appendString(buf, id)
	buf = append(buf, ',')
	buf = append(buf, p...)
	return append(buf, ']'), nil
}

// EncodeCallError encodes [4,id,code,description,details]. The description
// is cut to 255 characters; nil details become {}. The id is not limited to
// 36 characters so that a frame rejected for its over-long id can still be
// answered under that id.
func EncodeCallError(id string, code ErrorCode, description string, details any) ([]byte, error) {
	if id == "" {
		return nil, fmt.Errorf("encode CALLERROR: %w", ErrInvalidMessageID)
	}
	if code == "" {
		return nil, fmt.Errorf("encode CALLERROR %q: %w", id, ErrInvalidCode)
	}
	d, err := marshalObject(details)
	if err != nil {
		return nil, fmt.Errorf("encode CALLERROR %q details: %w", id, err)
	}
	description = truncate.Chars(description, MaxErrorDescriptionLen)
	buf := make([]byte, 0, len(d)+len(id)+len(code)+len(description)+16)
	buf = append(buf, "[4,"...)
	buf = appendString(buf, id)
	buf = append(buf, ',')
	buf = appendString(buf, string(code))
	buf = append(buf, ',')
	buf = appendString(buf, description)
	buf = append(buf, ',')
	buf = append(buf, d...)
	return append(buf, ']'), nil
}

// marshalObject returns payload as a JSON object. A json.RawMessage is
// checked, not re-encoded, so that bytes a charger signed or the core
// produced reach the other side exactly.
func marshalObject(payload any) ([]byte, error) {
	var p []byte
	switch v := payload.(type) {
	case nil:
		return emptyObject, nil
	case json.RawMessage:
		if len(v) == 0 {
			return emptyObject, nil
		}
		if !json.Valid(v) {
			return nil, fmt.Errorf("raw payload: %w", ErrNotObject)
		}
		p = v
	default:
		var err error
		if p, err = json.Marshal(payload); err != nil {
			return nil, fmt.Errorf("marshal payload: %w", err)
		}
	}
	if isNull(p) {
		return emptyObject, nil
	}
	if !isObject(p) {
		return nil, ErrNotObject
	}
	return p, nil
}

func isNull(p []byte) bool {
	return string(bytes.TrimSpace(p)) == "null"
}

// appendString appends s as a JSON string; printable ASCII, the usual case
// for ids, actions and codes, is copied as is.
func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '\\' || c == '"' {
			q, _ := json.Marshal(s) // marshalling a string cannot fail
			return append(buf, q...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}
