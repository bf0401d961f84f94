package audit

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// targetTypes names what each service's calls are about; a service not
// listed is about the station its request names (every command service).
var targetTypes = map[string]string{
	"StationService": "station",
	"IdTokenService": "id_token",
	"UserService":    "user",
	"ApiKeyService":  "api_key",
	"WebhookService": "webhook",
	"AuthService":    "user",
}

// targetFields are the request fields that name the target, in order of
// preference: the id of an existing thing, else what a creation names it
// by.
var targetFields = []string{"id", "station_id", "email", "value", "name"}

// Target describes what a call is about from its method ("Service/Method")
// and request: the target's type and id, and the station it concerns.
func Target(method string, req proto.Message) (targetType, targetID, stationID string) {
	svc, _, _ := strings.Cut(method, "/")
	targetType = targetTypes[svc]
	if req == nil {
		return targetType, "", ""
	}
	m := req.ProtoReflect()
	stationID = stringField(m, "station_id")
	if targetType == "" {
		targetType = "station"
	}
	for _, f := range targetFields {
		if targetID = stringField(m, f); targetID != "" {
			break
		}
	}
	if targetType == "station" && stationID == "" {
		stationID = targetID
	}
	return targetType, targetID, stationID
}

func stringField(m protoreflect.Message, name string) string {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() || fd.IsMap() {
		return ""
	}
	return m.Get(fd).String()
}
