package httpapi_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/go-openapi/loads"
	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/validate"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/chargeplane/chargeplane/api/httpapi"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	"github.com/chargeplane/chargeplane/pkg/gen/openapi"
)

// TestOpenAPIDocument checks the document the api serves: valid OpenAPI
// 2.0, every REST route of the protos in it, the bearer scheme required on
// every method but login, and creations documented as the 201 they answer.
func TestOpenAPIDocument(t *testing.T) {
	e := start(t, httpapi.Config{OpenAPI: openapi.JSON})
	raw := e.doAuth(t, "", "GET", "/api/v1/openapi.json", "", http.StatusOK, nil)

	spec, err := loads.Analyzed(json.RawMessage(raw), "2.0")
	if err != nil {
		t.Fatalf("not an OpenAPI 2.0 document: %v", err)
	}
	if err := validate.Spec(spec, strfmt.Default); err != nil {
		t.Errorf("invalid OpenAPI 2.0: %v", err)
	}

	var doc struct {
		Info struct {
			Title, Version, Description string
		}
		SecurityDefinitions map[string]struct{ Type, In, Name string }
		Security            []map[string][]string
		Paths               map[string]map[string]struct {
			OperationID string              `json:"operationId"`
			Security    *[]map[string]any   `json:"security"`
			Responses   map[string]struct{} `json:"responses"`
		}
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.Title != "Chargeplane operator API" || doc.Info.Version != "v1" || !strings.Contains(doc.Info.Description, "Bearer") {
		t.Errorf("info = %+v", doc.Info)
	}
	if s := doc.SecurityDefinitions["Bearer"]; s.Type != "apiKey" || s.In != "header" || s.Name != "Authorization" {
		t.Errorf("securityDefinitions = %+v", doc.SecurityDefinitions)
	}
	if len(doc.Security) != 1 || doc.Security[0]["Bearer"] == nil {
		t.Errorf("security = %v, want Bearer on every method", doc.Security)
	}

	// Every route of every method the protos declare, and no other.
	want := map[string]string{} // "POST /api/v1/stations" -> method
	protoregistry.GlobalFiles.RangeFilesByPackage(chargeplanev1.File_chargeplane_v1_station_proto.Package(), func(f protoreflect.FileDescriptor) bool {
		for i := 0; i < f.Services().Len(); i++ {
			ms := f.Services().Get(i).Methods()
			for j := 0; j < ms.Len(); j++ {
				rule, _ := proto.GetExtension(ms.Get(j).Options(), annotations.E_Http).(*annotations.HttpRule)
				for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
					if verb, path := httpRule(r); verb != "" {
						want[verb+" "+path] = string(ms.Get(j).FullName())
					}
				}
			}
		}
		return true
	})
	if len(want) < 50 {
		t.Fatalf("only %d routes found in the protos", len(want))
	}
	got := map[string]bool{}
	for path, ops := range doc.Paths {
		for verb, op := range ops {
			route := strings.ToUpper(verb) + " " + path
			got[route] = true
			if want[route] == "" {
				t.Errorf("%s is documented but no method serves it", route)
			}
			login := route == "POST /api/v1/auth/login"
			if open := op.Security != nil && len(*op.Security) == 0; open != login {
				t.Errorf("%s: security %v (login alone needs no token)", route, op.Security)
			}
			_, has200 := op.Responses["200"]
			_, has201 := op.Responses["201"]
			if has200 == has201 {
				t.Errorf("%s answers %v: want 200 or 201", route, keys(op.Responses))
			}
		}
	}
	for route, method := range want {
		if !got[route] {
			t.Errorf("%s (%s) is missing from the document", route, method)
		}
	}
	// What the services answer 201 (api/operator's x-http-code).
	for _, route := range []string{"POST /api/v1/stations", "POST /api/v1/users", "POST /api/v1/id-tokens", "POST /api/v1/api-keys"} {
		verb, path, _ := strings.Cut(route, " ")
		if _, ok := doc.Paths[path][strings.ToLower(verb)].Responses["201"]; !ok {
			t.Errorf("%s is not documented as 201", route)
		}
	}
}

var pathParam = regexp.MustCompile(`\{([^}=]+)(=[^}]*)?\}`)

// httpRule returns a rule's verb and its path as OpenAPI writes it: the
// parameters by their JSON names.
func httpRule(r *annotations.HttpRule) (string, string) {
	var verb, path string
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		verb, path = "GET", p.Get
	case *annotations.HttpRule_Post:
		verb, path = "POST", p.Post
	case *annotations.HttpRule_Put:
		verb, path = "PUT", p.Put
	case *annotations.HttpRule_Delete:
		verb, path = "DELETE", p.Delete
	case *annotations.HttpRule_Patch:
		verb, path = "PATCH", p.Patch
	default:
		return "", ""
	}
	return verb, pathParam.ReplaceAllStringFunc(path, func(p string) string {
		name := pathParam.FindStringSubmatch(p)[1]
		parts := strings.Split(name, "_")
		for i := 1; i < len(parts); i++ {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
		return "{" + strings.Join(parts, "") + "}"
	})
}

func keys(m map[string]struct{}) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
