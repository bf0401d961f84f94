// Package openapi exposes the OpenAPI document that buf generates beside
// this file (the only hand-written file under pkg/gen: go:embed cannot reach
// into another directory).
package openapi

import _ "embed"

// JSON is the OpenAPI v2 document of the operator REST API.
//
//go:embed chargeplane.swagger.json
var JSON []byte
