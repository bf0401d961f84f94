package command

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Helpers for the tables' functions: mapping an operator's request to an
// action of a version, and an answer back.

// OnlyIn refuses a field the station's version has no place for.
func OnlyIn(m Meta, in ocppj.Version, field string, set bool) error {
	if set && m.Version != in {
		return Invalid("%s exists only in OCPP %s; the station speaks OCPP %s", field, in, m.Version)
	}
	return nil
}

// Int converts an optional operator integer.
func Int(v *int32) *int {
	if v == nil {
		return nil
	}
	i := int(*v)
	return &i
}

// Time is how times go to stations: UTC, to the millisecond (some chargers
// cannot parse more fractional digits). A nil timestamp is the zero time,
// which the generated types leave out.
func Time(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return OCPPTime(ts.AsTime())
}

// OCPPTime is t as sent to stations (see Time).
func OCPPTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// DecodeMessage decodes an operator's JSON document (a charging profile,
// say) into the generated type of a version: a field the type does not
// have is refused rather than dropped, so what is sent is what was asked.
func DecodeMessage(field string, m proto.Message, into any) error {
	b, err := protojson.Marshal(m)
	if err != nil {
		return Invalid("%s: %v", field, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return Invalid("%s: %v", field, err)
	}
	return nil
}

// Describe is what an operator reads about err (the message of Status).
func Describe(err error) string {
	return status.Convert(Status(err)).Message()
}

// StatusReply is the Reply of an answer that carries only a status.
func StatusReply[S ~string](m Meta, s S) Reply {
	return Reply{CommandID: m.CommandID, Status: string(s)}
}

// NewRequestID picks a requestId or remoteStartId: positive, and random so
// that ids chosen by several core instances do not collide.
func NewRequestID() int { return 1 + rand.IntN(1<<31-2) }

// RequestID is the operator's id, or a new one.
func RequestID(id int32) int {
	if id > 0 {
		return int(id)
	}
	return NewRequestID()
}
