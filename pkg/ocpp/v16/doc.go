// Package v16 holds the OCPP 1.6 (JSON, with the security extension)
// messages as Go types, generated from the official OCA JSON schemas that
// pkg/ocpp/schema validates against, so the two cannot drift apart.
//
// Field and JSON names are the schemas' own. Optional fields are omitted
// when empty, never sent as null: optional numbers, booleans and objects
// are pointers, optional times use omitzero. Times should be given in UTC:
// encoding/json writes them in RFC 3339 with the time's own offset.
package v16

//go:generate go run ./internal/msggen -schemas ../schema/v16 -pkg v16 -out messages_gen.go
