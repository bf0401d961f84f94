// Package schema validates OCPP payloads against the official OCA JSON
// schemas, embedded unmodified (see PROVENANCE.md), and maps every violation
// to the CALLERROR code the version in use expects.
//
// The schemas are compiled once, by Load; validating a message never
// compiles anything.
package schema

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
	"github.com/chargeplane/chargeplane/pkg/truncate"
)

//go:embed v16/*.json v201/*.json
var files embed.FS

// ErrUnknownAction means the version defines no message of that name.
// A charger's CALL for it is answered with NotImplemented.
var ErrUnknownAction = errors.New("schema: unknown action")

// ValidationError is a payload that does not satisfy its schema. Code is the
// CALLERROR code to answer with, in the spelling of the connection's version.
type ValidationError struct {
	Code ocppj.ErrorCode
	// Description is short, human-readable, names the JSON pointer of the
	// offending value and is at most 255 characters: fit for the CALLERROR.
	Description string
	// Pointer is the JSON pointer (RFC 6901) of the offending value; "" is
	// the whole payload.
	Pointer string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("schema: %s: %s", e.Code, e.Description)
}

// Registry holds the compiled schemas of every supported version. It is
// immutable and safe for concurrent use.
type Registry struct {
	versions map[ocppj.Version]*version
}

type version struct {
	actions map[string]*action
	charger map[string]bool
	csms    map[string]bool
}

type action struct {
	request, response *jsonschema.Schema
}

var load = sync.OnceValues(compileAll)

// Load returns the registry of all embedded schemas. The first call compiles
// them (tens of milliseconds); later calls return the same registry.
func Load() (*Registry, error) {
	return load()
}

func compileAll() (*Registry, error) {
	r := &Registry{versions: map[ocppj.Version]*version{}}
	for _, v := range []struct {
		v   ocppj.Version
		dir string
		// Suffix of request files: 1.6 files are named <Action>.json,
		// 2.0.1 files <Action>Request.json.
		reqSuffix string
	}{
		{ocppj.V16, "v16", ""},
		{ocppj.V201, "v201", "Request"},
	} {
		set, err := compileVersion(v.dir, v.reqSuffix)
		if err != nil {
			return nil, fmt.Errorf("schema: compile %s: %w", v.v, err)
		}
		d := directions[v.v]
		set.charger = toSet(d.charger)
		set.csms = toSet(d.csms)
		r.versions[v.v] = set
	}
	return r, nil
}

func compileVersion(dir, reqSuffix string) (*version, error) {
	c := jsonschema.NewCompiler()
	// The 1.6 core files in the npm package have lost their "$schema" line;
	// the OCA published them as draft-04. The others declare their draft.
	c.DefaultDraft(jsonschema.Draft4)
	c.AssertFormat()
	// Every $ref is local; never let a schema reach for the file system or
	// the network.
	c.UseLoader(refuseLoader{})

	names, err := fs.Glob(files, dir+"/*.json")
	if err != nil {
		return nil, err
	}
	urls := map[string]string{}
	for _, name := range names {
		b, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		url := "embed:///" + name
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		urls[name] = url
	}

	set := &version{actions: map[string]*action{}}
	for _, name := range names {
		sch, err := c.Compile(urls[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		base := strings.TrimSuffix(path.Base(name), ".json")
		isResponse := strings.HasSuffix(base, "Response")
		var act string
		if isResponse {
			act = strings.TrimSuffix(base, "Response")
		} else {
			act = strings.TrimSuffix(base, reqSuffix)
			if act == base && reqSuffix != "" {
				return nil, fmt.Errorf("%s: neither a request nor a response", name)
			}
		}
		a := set.actions[act]
		if a == nil {
			a = &action{}
			set.actions[act] = a
		}
		if isResponse {
			a.response = sch
		} else {
			a.request = sch
		}
	}
	for name, a := range set.actions {
		if a.request == nil || a.response == nil {
			return nil, fmt.Errorf("action %s lacks its request or response schema", name)
		}
	}
	return set, nil
}

type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema: refusing to load %s: only embedded schemas are used", url)
}

func toSet(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// ValidateRequest checks the payload of a CALL for action. It returns nil,
// an error matching ErrUnknownAction, or a *ValidationError.
func (r *Registry) ValidateRequest(v ocppj.Version, action string, payload []byte) error {
	a, err := r.lookup(v, action)
	if err != nil {
		return err
	}
	return validate(v, a.request, payload)
}

// ValidateResponse checks the payload of a CALLRESULT answering action, with
// the same results as ValidateRequest.
func (r *Registry) ValidateResponse(v ocppj.Version, action string, payload []byte) error {
	a, err := r.lookup(v, action)
	if err != nil {
		return err
	}
	return validate(v, a.response, payload)
}

// IsChargerAction reports whether a charging station may send action as a
// CALL under version v.
func (r *Registry) IsChargerAction(v ocppj.Version, action string) bool {
	set := r.versions[v]
	return set != nil && set.charger[action]
}

// IsCSMSAction reports whether the CSMS may send action as a CALL under
// version v.
func (r *Registry) IsCSMSAction(v ocppj.Version, action string) bool {
	set := r.versions[v]
	return set != nil && set.csms[action]
}

// Actions returns, sorted, every action version v defines.
func (r *Registry) Actions(v ocppj.Version) []string {
	set := r.versions[v]
	if set == nil {
		return nil
	}
	names := make([]string, 0, len(set.actions))
	for n := range set.actions {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (r *Registry) lookup(v ocppj.Version, name string) (*action, error) {
	if set := r.versions[v]; set != nil {
		if a := set.actions[name]; a != nil {
			return a, nil
		}
	}
	return nil, fmt.Errorf("%w: OCPP %s has no action %q", ErrUnknownAction, v, name)
}

func validate(v ocppj.Version, sch *jsonschema.Schema, payload []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return &ValidationError{Code: ocppj.FormatViolation(v), Description: "payload is not valid JSON"}
	}
	if _, ok := inst.(map[string]any); !ok {
		return &ValidationError{Code: ocppj.FormatViolation(v), Description: "payload is not a JSON object"}
	}
	err = sch.Validate(inst)
	if err == nil {
		return checkNumbers(inst)
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		// Not a schema violation (the library found something it cannot
		// evaluate): our fault, not the charger's.
		return fmt.Errorf("schema: validate: %w", err)
	}
	return convert(v, ve)
}

// checkNumbers rejects numbers no handler can hold. The schemas set no upper
// bound on most integers, and JSON Schema happily calls 1e999 an integer, but
// encoding/json cannot decode it into any Go number; answer the charger with
// a precise error here instead of a vague one from the handler.
func checkNumbers(inst any) error {
	tokens, ok := badNumber(inst)
	if ok {
		return nil
	}
	slices.Reverse(tokens)
	ptr := pointer(tokens)
	return &ValidationError{
		Code:        ocppj.CodePropertyConstraintViolation,
		Description: truncate.Chars(ptr+": number out of range", ocppj.MaxErrorDescriptionLen),
		Pointer:     ptr,
	}
}

// badNumber reports ok=false and the path to the first out-of-range number,
// innermost token first (reversed once by the caller, so that the happy path
// builds no path at all).
func badNumber(v any) (tokens []string, ok bool) {
	switch v := v.(type) {
	case json.Number:
		s := string(v)
		if strings.ContainsAny(s, ".eE") {
			_, err := strconv.ParseFloat(s, 64)
			return nil, err == nil
		}
		_, err := strconv.ParseInt(s, 10, 64)
		return nil, err == nil
	case map[string]any:
		for k, e := range v {
			if t, ok := badNumber(e); !ok {
				return append(t, k), false
			}
		}
	case []any:
		for i, e := range v {
			if t, ok := badNumber(e); !ok {
				return append(t, strconv.Itoa(i)), false
			}
		}
	}
	return nil, true
}

// violation is one leaf of the library's error tree.
type violation struct {
	code    ocppj.ErrorCode
	rank    int
	pointer string
	text    string
}

var printer = message.NewPrinter(language.English)

// convert reduces the library's error tree to the single most telling
// violation; the choice is deterministic so that a charger sending the same
// bad payload always gets the same answer.
func convert(v ocppj.Version, root *jsonschema.ValidationError) *ValidationError {
	var leaves []violation
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		leaves = append(leaves, classify(v, e))
	}
	walk(root)
	if len(leaves) == 0 { // cannot happen with a failed validation; be safe
		leaves = append(leaves, violation{code: ocppj.CodePropertyConstraintViolation, rank: 2, text: "payload does not match the schema"})
	}
	sort.Slice(leaves, func(i, j int) bool {
		a, b := leaves[i], leaves[j]
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		if a.pointer != b.pointer {
			return a.pointer < b.pointer
		}
		return a.text < b.text
	})
	first := leaves[0]
	loc := first.pointer
	if loc == "" {
		loc = "payload"
	}
	desc := loc + ": " + first.text
	if n := len(leaves) - 1; n > 0 {
		desc += fmt.Sprintf(" (and %d more)", n)
	}
	return &ValidationError{Code: first.code, Description: truncate.Chars(desc, ocppj.MaxErrorDescriptionLen), Pointer: first.pointer}
}

// Ranks order violations: missing data first, then wrong types, then bad
// values.
const (
	rankOccurrence = iota
	rankType
	rankProperty
)

func classify(v ocppj.Version, e *jsonschema.ValidationError) violation {
	ptr := pointer(e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		missing := slices.Sorted(slices.Values(k.Missing))
		if len(missing) == 1 {
			return violation{ocppj.CodeOccurenceConstraintViolation, rankOccurrence, ptr + "/" + escape(missing[0]), "required property is missing"}
		}
		return violation{ocppj.CodeOccurenceConstraintViolation, rankOccurrence, ptr, "missing required properties " + strings.Join(missing, ", ")}
	case *kind.MinItems, *kind.MaxItems, *kind.Dependency, *kind.DependentRequired:
		// OCPP calls cardinality ([1..*], [0..4]) an occurrence constraint.
		return violation{ocppj.CodeOccurenceConstraintViolation, rankOccurrence, ptr, k.LocalizedString(printer)}
	case *kind.Type:
		return violation{ocppj.CodeTypeConstraintViolation, rankType, ptr, k.LocalizedString(printer)}
	case *kind.AdditionalProperties:
		extra := slices.Sorted(slices.Values(k.Properties))
		if len(extra) == 1 {
			return violation{ocppj.CodePropertyConstraintViolation, rankProperty, ptr + "/" + escape(extra[0]), "property is not allowed"}
		}
		return violation{ocppj.CodePropertyConstraintViolation, rankProperty, ptr, "properties not allowed: " + strings.Join(extra, ", ")}
	default:
		return violation{ocppj.CodePropertyConstraintViolation, rankProperty, ptr, e.ErrorKind.LocalizedString(printer)}
	}
}

// pointer renders an instance location as an RFC 6901 JSON pointer.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escape(t))
	}
	return b.String()
}

func escape(token string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(token)
}
