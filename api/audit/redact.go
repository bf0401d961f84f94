package audit

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
)

// Redacted replaces a secret in a recorded request.
const Redacted = "[redacted]"

// MaxRequestLen bounds a recorded request: a larger one (a big local
// list) is kept as its size only, so a caller cannot grow the trail by
// more than this per call.
const MaxRequestLen = 16 << 10

// Request returns req as JSON without its secrets: fields marked
// [debug_redact = true], any field whose name says password or secret, and
// the OCPP values that carry a station's password (1.6 ChangeConfiguration
// of AuthorizationKey, 2.0.1 SetVariables of a …Password variable) whether
// in a typed command or in the generic Call's payload.
func Request(req proto.Message) string {
	if req == nil {
		return "{}"
	}
	m := proto.Clone(req)
	redactMessage(m.ProtoReflect())
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return fmt.Sprintf(`{"unreadable":%q}`, err.Error())
	}
	if len(b) > MaxRequestLen {
		return fmt.Sprintf(`{"truncated":true,"bytes":%d}`, len(b))
	}
	return string(b)
}

// norm is a field or key name without case or underscores, so one rule
// covers proto names (attribute_value) and OCPP JSON names (attributeValue).
func norm(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "")
}

// secretName says whether a field or key name announces a secret.
func secretName(name string) bool {
	n := norm(name)
	return strings.Contains(n, "password") || strings.Contains(n, "secret")
}

// ocppSecretValue names, for an object holding the given sibling values,
// the key whose value is a station's password: ChangeConfiguration's
// "value" when "key" is AuthorizationKey, SetVariableData's
// "attributeValue" when its variable's name ends in Password.
func ocppSecretValue(get func(key string) (string, bool)) string {
	if k, ok := get("key"); ok && strings.EqualFold(k, "AuthorizationKey") {
		return "value"
	}
	if n, ok := get("variable.name"); ok && strings.HasSuffix(strings.ToLower(n), "password") {
		return "attributevalue"
	}
	return ""
}

var structFullName = (&structpb.Struct{}).ProtoReflect().Descriptor().FullName()

func redactMessage(m protoreflect.Message) {
	if m.Descriptor().FullName() == structFullName {
		s := m.Interface().(*structpb.Struct)
		redactStruct(s)
		return
	}
	secretValue := ocppSecretValue(func(key string) (string, bool) {
		return messageString(m, key)
	})
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if isSecretField(fd) || (secretValue != "" && norm(string(fd.Name())) == secretValue) {
			redactField(m, fd)
			return true
		}
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				redactMessage(l.Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				redactMessage(mv.Message())
				return true
			})
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			if fd.Message().FullName() == structFullName {
				redactConnectionObject(string(fd.Name()), v.Message().Interface().(*structpb.Struct))
			}
			redactMessage(v.Message())
		}
		return true
	})
}

func isSecretField(fd protoreflect.FieldDescriptor) bool {
	if secretName(string(fd.Name())) {
		return true
	}
	if o, ok := fd.Options().(interface{ GetDebugRedact() bool }); ok && o.GetDebugRedact() {
		return true
	}
	return false
}

// redactField replaces a string (or each string of a list) with Redacted
// and clears anything else, so the record still shows the field was sent.
func redactField(m protoreflect.Message, fd protoreflect.FieldDescriptor) {
	switch {
	case fd.Kind() == protoreflect.StringKind && !fd.IsList() && !fd.IsMap():
		m.Set(fd, protoreflect.ValueOfString(Redacted))
	case fd.Kind() == protoreflect.StringKind && fd.IsList():
		l := m.Mutable(fd).List()
		for i := 0; i < l.Len(); i++ {
			l.Set(i, protoreflect.ValueOfString(Redacted))
		}
	default:
		m.Clear(fd)
	}
}

// messageString reads a string field by its normalised (dotted) path.
func messageString(m protoreflect.Message, path string) (string, bool) {
	head, rest, nested := strings.Cut(path, ".")
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if norm(string(fd.Name())) != head || fd.IsList() || fd.IsMap() || !m.Has(fd) {
			continue
		}
		if nested {
			if fd.Message() == nil {
				return "", false
			}
			return messageString(m.Get(fd).Message(), rest)
		}
		if fd.Kind() == protoreflect.StringKind {
			return m.Get(fd).String(), true
		}
	}
	return "", false
}

// connectionSecrets are the secrets of a 2.0.1 network connection
// profile's VPN and APN whose names do not say so (their passwords do).
var connectionSecrets = map[string]string{"vpn": "key", "apn": "simpin"}

func redactStruct(s *structpb.Struct) {
	if s == nil {
		return
	}
	secretValue := ocppSecretValue(func(key string) (string, bool) { return structString(s, key) })
	for k, v := range s.GetFields() {
		if secretName(k) || (secretValue != "" && norm(k) == secretValue) {
			s.Fields[k] = structpb.NewStringValue(Redacted)
			continue
		}
		redactConnectionObject(k, v.GetStructValue())
		redactValue(v)
	}
}

// redactConnectionObject redacts the secret of s if name says it is a
// network connection profile's VPN or APN.
func redactConnectionObject(name string, s *structpb.Struct) {
	secret := connectionSecrets[norm(name)]
	if secret == "" || s == nil {
		return
	}
	for k := range s.GetFields() {
		if norm(k) == secret {
			s.Fields[k] = structpb.NewStringValue(Redacted)
		}
	}
}

func redactValue(v *structpb.Value) {
	switch x := v.GetKind().(type) {
	case *structpb.Value_StructValue:
		redactStruct(x.StructValue)
	case *structpb.Value_ListValue:
		for _, e := range x.ListValue.GetValues() {
			redactValue(e)
		}
	}
}

func structString(s *structpb.Struct, path string) (string, bool) {
	head, rest, nested := strings.Cut(path, ".")
	for k, v := range s.GetFields() {
		if norm(k) != head {
			continue
		}
		if nested {
			return structString(v.GetStructValue(), rest)
		}
		if sv, ok := v.GetKind().(*structpb.Value_StringValue); ok {
			return sv.StringValue, true
		}
	}
	return "", false
}
