// Package v201 holds the OCPP 2.0.1 messages as Go types, generated from the
// official OCA JSON schemas that pkg/ocpp/schema validates against, so the
// two cannot drift apart.
//
// Field and JSON names are the schemas' own; type names are the schemas'
// javaType names. Optional fields are omitted when empty, never sent as
// null: optional numbers, booleans and objects are pointers, optional times
// use omitzero. Times should be given in UTC: encoding/json writes them in
// RFC 3339 with the time's own offset.
package v201

//go:generate go run ../v16/internal/msggen -schemas ../schema/v201 -pkg v201 -out messages_gen.go
