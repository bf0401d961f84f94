package ocppj

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Parse reads one OCPP-J frame. It checks the frame's shape only: the
// payload is returned as raw JSON (guaranteed to be an object) for the
// caller to validate against the action's schema.
//
// A frame that cannot be read yields a *ParseError (errors.Is(err,
// ErrParse)) whose Answer method says how to reply. Parse never panics.
func Parse(b []byte) (Frame, error) {
	// One pass of encoding/json over the outer array; every element is
	// copied out once and examined by hand below. Five is the longest frame.
	elems := make([]json.RawMessage, 0, 5)
	if err := json.Unmarshal(b, &elems); err != nil || elems == nil {
		// elems == nil: the JSON literal null, which decodes into a slice
		// without complaint.
		return Frame{}, &ParseError{ID: UnknownID, Kind: NotRPC, Reason: "frame is not a JSON array"}
	}
	if len(elems) == 0 {
		return Frame{}, &ParseError{ID: UnknownID, Kind: NotRPC, Reason: "frame is an empty array"}
	}

	typ, isNumber := readType(elems[0])
	id, idOK := "", false
	if len(elems) > 1 {
		id, idOK = readString(elems[1])
		idOK = idOK && id != ""
	}
	fail := func(kind ParseErrorKind, format string, args ...any) (Frame, error) {
		e := &ParseError{ID: UnknownID, Type: typ, Kind: kind, Reason: fmt.Sprintf(format, args...)}
		if idOK {
			e.ID = id
		}
		return Frame{}, e
	}

	if !isNumber {
		return fail(NotRPC, "message type is not a number")
	}
	switch typ {
	case Call, CallResult, CallError:
	default:
		return fail(UnknownType, "unknown message type %s", elems[0])
	}
	if !idOK {
		return fail(NotRPC, "message id is not a non-empty string")
	}
	if !validIDLen(id) {
		return fail(NotRPC, "message id longer than %d characters", MaxMessageIDLen)
	}
	// encoding/json silently replaces invalid UTF-8; the spec and WebSocket
	// text frames require valid UTF-8, and a payload forwarded byte for byte
	// must not carry garbage further.
	if !utf8.Valid(b) {
		return fail(NotRPC, "frame is not valid UTF-8")
	}

	switch typ {
	case Call:
		if len(elems) != 4 {
			return fail(NotRPC, "CALL has %d elements, want 4", len(elems))
		}
		action, ok := readString(elems[2])
		if !ok || action == "" {
			return fail(NotRPC, "CALL action is not a non-empty string")
		}
		if !isObject(elems[3]) {
			return fail(BadPayload, "CALL payload is not a JSON object")
		}
		return Frame{Type: Call, ID: id, Action: action, Payload: elems[3]}, nil

	case CallResult:
		if len(elems) != 3 {
			return fail(NotRPC, "CALLRESULT has %d elements, want 3", len(elems))
		}
		if !isObject(elems[2]) {
			return fail(BadPayload, "CALLRESULT payload is not a JSON object")
		}
		return Frame{Type: CallResult, ID: id, Payload: elems[2]}, nil

	default: // CallError
		// Some chargers leave out the details; what matters is getting the
		// error to whoever waits for the answer, so 4 elements are accepted.
		if len(elems) != 4 && len(elems) != 5 {
			return fail(NotRPC, "CALLERROR has %d elements, want 5", len(elems))
		}
		code, ok := readString(elems[2])
		if !ok || code == "" {
			return fail(NotRPC, "CALLERROR code is not a non-empty string")
		}
		desc, ok := readString(elems[3])
		if !ok {
			return fail(NotRPC, "CALLERROR description is not a string")
		}
		details := json.RawMessage(emptyObject)
		if len(elems) == 5 {
			switch d := elems[4]; {
			case isObject(d):
				details = d
			case string(d) == "null":
				// Forbidden by the spec, common in the field, harmless.
			default:
				return fail(NotRPC, "CALLERROR details are not a JSON object")
			}
		}
		return Frame{Type: CallError, ID: id, ErrorCode: ErrorCode(code), ErrorDescription: desc, ErrorDetails: details}, nil
	}
}

var emptyObject = []byte("{}")

// readType reads the message type. isNumber reports whether the element is a
// JSON number at all: a number that is not 2, 3 or 4 is an unknown type, the
// rest is not RPC.
func readType(raw json.RawMessage) (t MessageType, isNumber bool) {
	if len(raw) == 1 && raw[0] >= '0' && raw[0] <= '9' {
		return MessageType(raw[0] - '0'), true
	}
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	// Rare: multi-digit, negative, fractional or huge. The element already
	// passed encoding/json, so it is a valid number; only its value is
	// unknown. Values that do not fit stay 0 (unknown).
	s := string(raw)
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		return MessageType(n), true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == float64(int32(f)) {
		return MessageType(int32(f)), true
	}
	return 0, true
}

// readString decodes a JSON string element. Ids and actions are almost
// always plain ASCII, which is copied without going through the decoder.
func readString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	plain := true
	for _, c := range inner {
		if c < 0x20 || c >= 0x7f || c == '\\' || c == '"' {
			plain = false
			break
		}
	}
	if plain {
		return string(inner), true
	}
	// Invalid UTF-8 would come back as U+FFFD: an id altered like that can
	// never match, so treat it as unreadable.
	if !utf8.Valid(inner) {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func isObject(raw json.RawMessage) bool {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

func validIDLen(id string) bool {
	return len(id) <= MaxMessageIDLen || utf8.RuneCountInString(id) <= MaxMessageIDLen
}
