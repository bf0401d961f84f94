// Package schematest builds valid sample payloads from the official OCPP
// JSON schemas, so tests can exercise every action of a version without a
// hand-written request per action.
package schematest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Sample builds a JSON instance of an OCPP schema: with full, every
// optional property too; without, only what is required. Strings, numbers
// and array sizes respect the schema's bounds so the instance is valid.
func Sample(schema []byte, full bool) ([]byte, error) {
	var root map[string]any
	if err := json.Unmarshal(schema, &root); err != nil {
		return nil, err
	}
	defs, _ := root["definitions"].(map[string]any)
	v, err := sampleValue(root, defs, full, 0)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func sampleValue(n map[string]any, defs map[string]any, full bool, depth int) (any, error) {
	if depth > 20 {
		return nil, fmt.Errorf("schema nests too deep")
	}
	if ref, ok := n["$ref"].(string); ok {
		def, ok := defs[strings.TrimPrefix(ref, "#/definitions/")].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("unresolved %s", ref)
		}
		return sampleValue(def, defs, full, depth+1)
	}
	if enum, ok := n["enum"].([]any); ok && len(enum) > 0 {
		return enum[0], nil
	}
	num := func(key string, def float64) float64 {
		if f, ok := n[key].(float64); ok {
			return f
		}
		return def
	}
	switch n["type"] {
	case "object":
		out := map[string]any{}
		req := map[string]bool{}
		if r, ok := n["required"].([]any); ok {
			for _, k := range r {
				req[k.(string)] = true
			}
		}
		props, _ := n["properties"].(map[string]any)
		for k, p := range props {
			if !full && !req[k] {
				continue
			}
			v, err := sampleValue(p.(map[string]any), defs, full, depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = v
		}
		return out, nil
	case "array":
		items, _ := n["items"].(map[string]any)
		count := int(num("minItems", 1))
		if count < 1 {
			count = 1
		}
		out := make([]any, 0, count)
		for range count {
			v, err := sampleValue(items, defs, full, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case "string":
		if n["format"] == "date-time" {
			return "2024-01-02T03:04:05Z", nil
		}
		l := int(num("minLength", 1))
		if l < 1 {
			l = 1
		}
		return strings.Repeat("a", l), nil
	case "integer":
		return num("minimum", 1), nil
	case "number":
		return num("minimum", 1.5), nil
	case "boolean":
		return true, nil
	}
	return "any", nil // untyped (2.0.1 DataTransfer data)
}
