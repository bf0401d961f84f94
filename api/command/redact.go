package command

import (
	"encoding/json"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Redacted replaces a secret in what is recorded of a CALL.
const Redacted = "***redacted***"

// redact returns payload with the station password it carries, if any,
// replaced by Redacted: 1.6 ChangeConfiguration of AuthorizationKey, 2.0.1
// SetVariables of SecurityCtrlr.BasicAuthPassword, and the VPN and APN
// passwords of a 2.0.1 SetNetworkProfile. What is sent is
// the original; what the command history and the message log keep is
// this. Anything it cannot read is kept as it is (it carries no password
// the CSMS put there).
func redact(action string, payload json.RawMessage) (json.RawMessage, bool) {
	switch action {
	case "ChangeConfiguration":
		var p map[string]json.RawMessage
		if json.Unmarshal(payload, &p) != nil || string(p["key"]) != `"AuthorizationKey"` {
			return payload, false
		}
		p["value"], _ = json.Marshal(Redacted)
		b, _ := json.Marshal(p)
		return b, true
	case "SetVariables":
		var p map[string]json.RawMessage
		var data []map[string]json.RawMessage
		if json.Unmarshal(payload, &p) != nil || json.Unmarshal(p["setVariableData"], &data) != nil {
			return payload, false
		}
		changed := false
		for _, d := range data {
			var c, v struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(d["component"], &c) == nil && json.Unmarshal(d["variable"], &v) == nil &&
				c.Name == "SecurityCtrlr" && v.Name == "BasicAuthPassword" {
				d["attributeValue"], _ = json.Marshal(Redacted)
				changed = true
			}
		}
		if !changed {
			return payload, false
		}
		p["setVariableData"], _ = json.Marshal(data)
		b, _ := json.Marshal(p)
		return b, true
	case "SetNetworkProfile":
		var p map[string]json.RawMessage
		if json.Unmarshal(payload, &p) != nil {
			return payload, false
		}
		conn, changed := RedactConnectionData(p["connectionData"])
		if !changed {
			return payload, false
		}
		p["connectionData"] = conn
		b, _ := json.Marshal(p)
		return b, true
	}
	return payload, false
}

// connectionSecrets are the secrets of a 2.0.1 NetworkConnectionProfile,
// by the object that holds them.
var connectionSecrets = map[string][]string{"vpn": {"password", "key"}, "apn": {"apnPassword", "simPin"}}

// RedactConnectionData returns a 2.0.1 NetworkConnectionProfile (JSON)
// with its VPN password and shared key and its APN password and SIM PIN
// replaced by Redacted; changed says whether it held any.
func RedactConnectionData(conn json.RawMessage) (_ json.RawMessage, changed bool) {
	var c map[string]json.RawMessage
	if json.Unmarshal(conn, &c) != nil {
		return conn, false
	}
	for obj, keys := range connectionSecrets {
		var o map[string]json.RawMessage
		if json.Unmarshal(c[obj], &o) != nil || o == nil {
			continue
		}
		for _, k := range keys {
			if _, ok := o[k]; ok {
				o[k], _ = json.Marshal(Redacted)
				changed = true
			}
		}
		c[obj], _ = json.Marshal(o)
	}
	if !changed {
		return conn, false
	}
	b, _ := json.Marshal(c)
	return b, true
}

// redacted is what the command history keeps of a CALL's payload and the
// message log of its frame.
func redacted(id, action string, payload json.RawMessage, frame []byte) (json.RawMessage, []byte) {
	r, changed := redact(action, payload)
	if !changed {
		return payload, frame
	}
	out, err := ocppj.EncodeCall(id, action, r)
	if err != nil {
		// Never keep the secret: an empty frame says something was sent.
		return r, nil
	}
	return r, out
}
