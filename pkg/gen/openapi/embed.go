// Package openapi exposes the OpenAPI document that buf generates beside
// this file (with internal/created, the only hand-written files under
// pkg/gen: go:embed cannot reach into another directory).
package openapi

//go:generate go run ./internal/created chargeplane.swagger.json

import _ "embed"

// JSON is the OpenAPI v2 document of the operator REST API.
//
//go:embed chargeplane.swagger.json
var JSON []byte
