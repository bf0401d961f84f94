// Package redact is the one rule for which values are secrets in what the
// CSMS keeps of a request or an OCPP message (the command history, the
// message log, the audit trail, events), and replaces them with Marker.
// What is sent to a station is never changed: only what is recorded.
//
// A value is secret when its key names one (password, secret, a SIM PIN)
// or when it is a station's password in OCPP terms: 1.6 configuration key
// AuthorizationKey (ChangeConfiguration, GetConfiguration's answer) or a
// 1.6 key whose name announces a secret (SecretConfigurationKey), 2.0.1
// variables whose name ends in Password (SetVariables, GetVariables,
// NotifyReport), in any action, so that a new action or the generic call
// cannot carry one past it. A string that is itself a JSON document (a 1.6
// DataTransfer's data) is read by the same rule.
//
// A customer's personal data is replaced too, in the CALLs of the 2.0.1
// customer information actions (Payload): what names the customer in
// CustomerInformation, the station's report in NotifyCustomerInformation.
// Those records are readable by viewers; the operator-only customer
// information results (api/customerinfo) keep the data.
package redact

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Marker replaces a secret.
const Marker = "[redacted]"

// The station's Basic-auth password: 1.6 ChangeConfiguration key (whose
// value is the hex of the password), 2.0.1 SetVariables variable.
const (
	authorizationKey  = "AuthorizationKey"
	securityCtrlr     = "SecurityCtrlr"
	basicAuthPassword = "BasicAuthPassword"
)

// StationPasswordKey reports whether a 1.6 configuration key is the
// station's Basic-auth password. Keys are case-insensitive (CiString).
func StationPasswordKey(key string) bool { return strings.EqualFold(key, authorizationKey) }

// SecretConfigurationKey reports whether the value of a 1.6 configuration
// key is a secret: the station password (StationPasswordKey), or a key
// whose name announces one (a vendor's WifiPassword, say), by the rule
// that names a secret field. What a station reports of such a key is
// recorded, stored and returned without its value.
func SecretConfigurationKey(key string) bool { return StationPasswordKey(key) || secretKey(key) }

// StationPasswordVariable reports whether a 2.0.1 variable is the station's
// Basic-auth password. Component and variable names are compared without
// case, as chargers do.
func StationPasswordVariable(component, variable string) bool {
	return strings.EqualFold(component, securityCtrlr) && strings.EqualFold(variable, basicAuthPassword)
}

// norm is a key without case or underscores, so that one rule covers
// proto names (attribute_value) and OCPP JSON names (attributeValue).
func norm(key string) string { return strings.ReplaceAll(strings.ToLower(key), "_", "") }

// secretKey says whether a key announces a secret value.
func secretKey(key string) bool {
	n := norm(key)
	return strings.Contains(n, "password") || strings.Contains(n, "secret") || n == "simpin"
}

// secretVariable says whether a 2.0.1 variable holds a secret (its value
// is the password itself, e.g. SecurityCtrlr.BasicAuthPassword).
func secretVariable(name string) bool { return strings.HasSuffix(strings.ToLower(name), "password") }

// hints are what a document holding a secret must contain (case
// insensitive): most OCPP messages hold none, and are then passed on
// without being decoded.
var hints = [][]byte{[]byte("password"), []byte("secret"), []byte("simpin"), []byte("sim_pin"), []byte("authorizationkey"), []byte("vpn")}

func mayHoldSecret(doc []byte) bool {
	// A name spelt with \u escapes reads as the secret's only once
	// decoded.
	if bytes.Contains(doc, []byte(`\u`)) {
		return true
	}
	for _, h := range hints {
		if containsFold(doc, h) {
			return true
		}
	}
	// A URL with credentials (a firmware or log location).
	return bytes.Contains(doc, []byte("://")) && bytes.Contains(doc, []byte("@"))
}

// containsFold is bytes.Contains ignoring ASCII case; lower is lower case.
func containsFold(s, lower []byte) bool {
	for i := 0; i+len(lower) <= len(s); i++ {
		if s[i]|0x20 == lower[0] && bytes.EqualFold(s[i:i+len(lower)], lower) {
			return true
		}
	}
	return false
}

// JSON returns doc (a JSON document: an OCPP payload, a request) with its
// secrets replaced by Marker, and whether it replaced any. A document it
// cannot read is returned as it is.
func JSON(doc []byte) ([]byte, bool) {
	if !mayHoldSecret(doc) {
		return doc, false
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // numbers kept exactly as they were
	var v any
	if dec.Decode(&v) != nil {
		return doc, false
	}
	if s, ok := v.(string); ok {
		// A 1.6 DataTransfer's data on its own.
		if v, ok = nested(s); !ok {
			return doc, false
		}
	} else if !value(v) {
		return doc, false
	}
	return encode(v), true
}

// encode is v, as the decoder made it, in JSON; {} if that fails, which
// cannot happen with what the decoder made: never keep what was replaced.
func encode(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{}`)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// personal names, by action, the top-level fields (compared as norm) of a
// CALL that hold a customer's personal data: who CustomerInformation asks
// about, and what the station reports in NotifyCustomerInformation. Their
// answers hold none (a status).
var personal = map[string][]string{
	"CustomerInformation":       {"idtoken", "customeridentifier", "customercertificate"},
	"NotifyCustomerInformation": {"data"},
}

// Payload returns the payload of a CALL of action as it is recorded: what
// JSON returns and, in a customer information message, its personal data
// replaced by Marker (whole values: an id token's type or a certificate's
// hash algorithm would say little and are not worth a rule). It reports
// whether it replaced anything. A customer information payload it cannot
// read is recorded as {}, never as it is.
func Payload(action string, doc []byte) ([]byte, bool) {
	fields, ok := personal[action]
	if !ok {
		return JSON(doc)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return []byte(`{}`), true
	}
	changed := false
	if o, ok := v.(map[string]any); ok {
		for k, e := range o {
			if e != nil && slices.Contains(fields, norm(k)) {
				changed = mark(o, k) || changed
			}
		}
	}
	if changed = value(v) || changed; !changed {
		return doc, false
	}
	return encode(v), true
}

// Frame returns what is recorded of the OCPP-J frame raw, read as f: its
// payload without secrets (Payload for a CALL of f.Action) and the frame
// around it, or f's payload and raw themselves when nothing is replaced. A
// CALLERROR is kept as it is.
func Frame(f ocppj.Frame, raw []byte) (json.RawMessage, []byte) {
	if f.Type != ocppj.Call && f.Type != ocppj.CallResult {
		return f.Payload, raw
	}
	var p []byte
	var changed bool
	if f.Type == ocppj.Call {
		p, changed = Payload(f.Action, f.Payload)
	} else {
		p, changed = JSON(f.Payload)
	}
	if !changed {
		return f.Payload, raw
	}
	var out []byte
	var err error
	if f.Type == ocppj.Call {
		out, err = ocppj.EncodeCall(f.ID, f.Action, json.RawMessage(p))
	} else {
		out, err = ocppj.EncodeCallResult(f.ID, json.RawMessage(p))
	}
	if err != nil {
		// Never keep the secret: an empty frame says something was sent.
		return p, nil
	}
	return p, out
}

// value redacts v in place and reports whether anything changed.
func value(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return object(x)
	case []any:
		changed := false
		for i, e := range x {
			if s, ok := e.(string); ok {
				if r, ok := nested(s); ok {
					x[i], changed = r, true
				}
				continue
			}
			changed = value(e) || changed
		}
		return changed
	}
	return false
}

// nested redacts a string that is itself a JSON object or array, as a 1.6
// DataTransfer's data (a string by the schema) usually is: the secrets in
// it are as much secrets as any other. It returns the string re-encoded
// and true only when it replaced something; any other string is left as
// it is.
//
// A URL's password (scheme://user:password@host/…, as a firmware or log
// location may carry for its FTP or HTTP server) is replaced too.
func nested(s string) (string, bool) {
	t := strings.TrimSpace(s)
	if t == "" || (t[0] != '{' && t[0] != '[') || !mayHoldSecret([]byte(t)) {
		return urlPasswords(s)
	}
	out, changed := JSON([]byte(t))
	if !changed {
		return s, false
	}
	return string(out), true
}

// String returns a string value without its secrets, as a document's
// string would be recorded: a JSON document in it read by the same rule,
// a URL's password replaced.
func String(s string) string {
	r, _ := nested(s)
	return r
}

// urlPasswords replaces the password of every URL in s with Marker.
func urlPasswords(s string) (string, bool) {
	var b strings.Builder
	changed := false
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			break
		}
		start := i + len("://")
		auth := s[start:]
		if end := strings.IndexAny(auth, "/?# \t\n"); end >= 0 {
			auth = auth[:end]
		}
		at := strings.LastIndexByte(auth, '@')
		colon := strings.IndexByte(auth, ':')
		if at < 0 || colon < 0 || colon > at || auth[colon+1:at] == Marker {
			b.WriteString(s[:start])
			s = s[start:]
			continue
		}
		b.WriteString(s[:start+colon+1])
		b.WriteString(Marker)
		s = s[start+at:]
		changed = true
	}
	return b.String() + s, changed
}

func object(o map[string]any) bool {
	// The key whose value is a station password because of a sibling.
	sibling := ""
	if k, ok := str(o, "key"); ok && SecretConfigurationKey(k) {
		sibling = "value" // ChangeConfiguration, a key in GetConfiguration's answer
	}
	if vr, ok := o["variable"].(map[string]any); ok {
		if n, ok := str(vr, "name"); ok && secretVariable(n) {
			sibling = "attributevalue" // SetVariables, GetVariables' answer
		}
	}
	changed := false
	for k, e := range o {
		if s, ok := e.(string); ok && !secretKey(k) && norm(k) != sibling {
			if r, ok := nested(s); ok {
				o[k], changed = r, true
			}
			continue
		}
		switch n := norm(k); {
		case secretKey(k) || n == sibling:
			changed = mark(o, k) || changed
		case n == "vpn":
			// A 2.0.1 network profile's VPN: its shared key is a secret too.
			if vpn, ok := e.(map[string]any); ok && vpn["key"] != nil {
				changed = mark(vpn, "key") || changed
			}
			changed = value(e) || changed
		case n == "variableattribute" && sibling == "attributevalue":
			// NotifyReport: the variable's values are its attributes'.
			if l, ok := e.([]any); ok {
				for _, a := range l {
					if a, ok := a.(map[string]any); ok && a["value"] != nil {
						changed = mark(a, "value") || changed
					}
				}
			}
		default:
			changed = value(e) || changed
		}
	}
	return changed
}

// mark replaces o[k] with Marker and reports whether that changed it.
func mark(o map[string]any, k string) bool {
	if s, ok := o[k].(string); ok && s == Marker {
		return false
	}
	o[k] = Marker
	return true
}

// str reads o's string at a key compared without case or underscores.
func str(o map[string]any, key string) (string, bool) {
	for k, v := range o {
		if norm(k) == key {
			s, ok := v.(string)
			return s, ok
		}
	}
	return "", false
}

// Proto returns m as JSON (proto field names) without its secrets: fields
// marked [debug_redact = true] and whatever JSON redacts.
func Proto(m proto.Message) ([]byte, error) {
	c := proto.Clone(m)
	debugRedact(c.ProtoReflect())
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(c)
	if err != nil {
		return nil, err
	}
	out, _ := JSON(b)
	return out, nil
}

// debugRedact replaces fields marked debug_redact in m and its messages: a
// string (or each string of a list) becomes Marker, anything else is
// cleared, so the record still shows a string field was sent.
func debugRedact(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if o, ok := fd.Options().(interface{ GetDebugRedact() bool }); ok && o.GetDebugRedact() {
			switch {
			case fd.Kind() == protoreflect.StringKind && !fd.IsList() && !fd.IsMap():
				m.Set(fd, protoreflect.ValueOfString(Marker))
			case fd.Kind() == protoreflect.StringKind && fd.IsList():
				l := m.Mutable(fd).List()
				for i := 0; i < l.Len(); i++ {
					l.Set(i, protoreflect.ValueOfString(Marker))
				}
			default:
				m.Clear(fd)
			}
			return true
		}
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				debugRedact(l.Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				debugRedact(mv.Message())
				return true
			})
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			debugRedact(v.Message())
		}
		return true
	})
}
