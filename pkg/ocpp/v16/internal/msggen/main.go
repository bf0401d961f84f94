// Command msggen writes Go message types from the official OCA JSON schemas
// of one OCPP version, so that the structs can never drift from the schemas
// the core validates against.
//
//	go run ./internal/msggen -schemas DIR -pkg v16 -out messages_gen.go
//
// Naming: top-level types are <Action>Request and <Action>Response; a
// definition is named by its javaType (2.0.1) or its key without the "Type"
// suffix (1.6 security extension); an inline object or enum (1.6) by its
// property name. When one name would stand for two different shapes, each
// use is prefixed with its parent's name, so no type is silently merged.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
)

// node is the subset of JSON Schema draft-04/06 the OCPP schemas use.
type node struct {
	Ref         string           `json:"$ref"`
	Type        json.RawMessage  `json:"type"`
	Properties  json.RawMessage  `json:"properties"`
	Required    []string         `json:"required"`
	Items       *node            `json:"items"`
	Enum        []string         `json:"enum"`
	Format      string           `json:"format"`
	Definitions map[string]*node `json:"definitions"`
	JavaType    string           `json:"javaType"`
	Description string           `json:"description"`

	raw json.RawMessage
}

func (n *node) UnmarshalJSON(b []byte) error {
	type plain node
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*n = node(p)
	n.raw = append(json.RawMessage(nil), b...)
	return nil
}

func (n *node) typeName() string {
	if len(n.Type) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(n.Type, &s); err != nil {
		return "" // a list of types: treat as any JSON
	}
	return s
}

type prop struct {
	name string
	n    *node
}

// props returns the properties in schema order, which is the order a reader
// of the specification expects.
func (n *node) props() ([]prop, error) {
	if len(n.Properties) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(n.Properties))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var out []prop
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var child node
		if err := dec.Decode(&child); err != nil {
			return nil, err
		}
		out = append(out, prop{name: t.(string), n: &child})
	}
	return out, nil
}

// shapeKey identifies a schema's shape, ignoring documentation, so that a
// definition repeated in many files becomes one Go type.
func shapeKey(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	var strip func(any) any
	strip = func(v any) any {
		switch t := v.(type) {
		case map[string]any:
			delete(t, "description")
			delete(t, "$comment")
			delete(t, "$id")
			delete(t, "$schema")
			delete(t, "title")
			for k, c := range t {
				t[k] = strip(c)
			}
			return t
		case []any:
			for i, c := range t {
				t[i] = strip(c)
			}
			return t
		}
		return v
	}
	b, _ := json.Marshal(strip(v))
	return string(b)
}

type field struct {
	goName, jsonName, goType, tag, doc string
}

type goType struct {
	name   string
	doc    string
	fields []field // struct
	isEnum bool
	values []string
}

type file struct {
	typeName string // top-level type
	action   string
	request  bool
	root     *node
}

type gen struct {
	// pass 1 collects which shapes each candidate name stands for.
	collect    bool
	candidates map[string]map[string]bool
	// pass 2 emits.
	types     map[string]*goType
	typeShape map[string]string
	overrides map[string]string
	defs      map[string]*node // of the file being walked
	fileType  string
}

// overrides gives well-known 1.6 types the names the specification uses,
// keyed by "ParentType.property".
var overrides16 = map[string]string{
	"BootNotificationResponse.status":             "RegistrationStatus",
	"IdTagInfo.status":                            "AuthorizationStatus",
	"StatusNotificationRequest.status":            "ChargePointStatus",
	"StatusNotificationRequest.errorCode":         "ChargePointErrorCode",
	"DataTransferResponse.status":                 "DataTransferStatus",
	"SampledValue.context":                        "ReadingContext",
	"SampledValue.format":                         "ValueFormat",
	"SampledValue.unit":                           "UnitOfMeasure",
	"StopTransactionRequest.reason":               "Reason",
	"StopTransactionRequest.transactionData":      "MeterValue",
	"DiagnosticsStatusNotificationRequest.status": "DiagnosticsStatus",
	"FirmwareStatusNotificationRequest.status":    "FirmwareStatus",
	"SendLocalListRequest.localAuthorizationList": "AuthorizationData",
	"GetConfigurationResponse.configurationKey":   "KeyValue",
}

func main() {
	dir := flag.String("schemas", "", "directory of the version's official JSON schemas")
	pkg := flag.String("pkg", "", "Go package name")
	out := flag.String("out", "messages_gen.go", "output file")
	flag.Parse()
	if *dir == "" || *pkg == "" {
		log.Fatal("msggen: -schemas and -pkg are required")
	}
	files, err := load(*dir)
	if err != nil {
		log.Fatal(err)
	}
	g := &gen{candidates: map[string]map[string]bool{}, types: map[string]*goType{}, typeShape: map[string]string{}}
	if *pkg == "v16" {
		g.overrides = overrides16
	}
	g.collect = true
	for _, f := range files {
		if err := g.walkFile(f); err != nil {
			log.Fatal(err)
		}
	}
	g.collect = false
	for _, f := range files {
		if err := g.walkFile(f); err != nil {
			log.Fatal(err)
		}
	}
	src, err := g.render(*pkg, files)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

func load(dir string) ([]file, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []file
	for _, p := range names {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var root node
		if err := json.Unmarshal(b, &root); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		base := strings.TrimSuffix(filepath.Base(p), ".json")
		f := file{root: &root}
		switch {
		case strings.HasSuffix(base, "Response"):
			f.action = strings.TrimSuffix(base, "Response")
		case strings.HasSuffix(base, "Request"): // 2.0.1 file names
			f.action, f.request = strings.TrimSuffix(base, "Request"), true
		default: // 1.6 file names are the bare action
			f.action, f.request = base, true
		}
		if f.request {
			f.typeName = f.action + "Request"
		} else {
			f.typeName = f.action + "Response"
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("msggen: no schemas in %s", dir)
	}
	return out, nil
}

func (g *gen) walkFile(f file) error {
	g.defs = f.root.Definitions
	g.fileType = f.typeName
	_, err := g.structType(f.typeName, f.root, "")
	return err
}

// name resolves a candidate name to the final one: a candidate that stands
// for more than one shape gets its parent's name as prefix.
func (g *gen) name(candidate, parent, key string) string {
	if g.collect {
		if g.candidates[candidate] == nil {
			g.candidates[candidate] = map[string]bool{}
		}
		g.candidates[candidate][key] = true
		return candidate
	}
	if len(g.candidates[candidate]) > 1 {
		return parent + candidate
	}
	return candidate
}

func exported(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

func (g *gen) structType(name string, n *node, doc string) (string, error) {
	props, err := n.props()
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	required := map[string]bool{}
	for _, r := range n.Required {
		required[r] = true
	}
	t := &goType{name: name, doc: firstNonEmpty(doc, n.Description)}
	for _, p := range props {
		ft, desc, err := g.fieldType(name, p.name, p.n)
		if err != nil {
			return "", err
		}
		f := field{goName: exported(p.name), jsonName: p.name, goType: ft, doc: desc}
		req := required[p.name]
		switch {
		case ft == "time.Time" && !req:
			f.tag = p.name + ",omitzero"
		case req:
			f.tag = p.name
		default:
			if ft == "int" || ft == "float64" || ft == "bool" || (!strings.HasPrefix(ft, "[]") && g.isStruct(ft)) {
				f.goType = "*" + ft
			}
			f.tag = p.name + ",omitempty"
		}
		t.fields = append(t.fields, f)
	}
	return name, g.add(t, shapeKey(n.raw))
}

func (g *gen) isStruct(goName string) bool {
	switch goName {
	case "string", "int", "float64", "bool", "time.Time", "json.RawMessage":
		return false
	}
	if t, ok := g.types[goName]; ok {
		return !t.isEnum
	}
	// In pass 1 types may not exist yet; pointer-ness does not matter there.
	return true
}

func (g *gen) add(t *goType, shape string) error {
	if g.collect {
		return nil
	}
	if old, ok := g.typeShape[t.name]; ok {
		if old != shape {
			return fmt.Errorf("msggen: %s names two different shapes", t.name)
		}
		return nil
	}
	g.typeShape[t.name] = shape
	g.types[t.name] = t
	return nil
}

func (g *gen) fieldType(parent, propName string, n *node) (typ, doc string, err error) {
	doc = n.Description
	if n.Ref != "" {
		key := strings.TrimPrefix(n.Ref, "#/definitions/")
		def, ok := g.defs[key]
		if !ok {
			return "", "", fmt.Errorf("%s.%s: unresolved %s", parent, propName, n.Ref)
		}
		cand := def.JavaType
		if cand == "" {
			cand = strings.TrimSuffix(key, "Type")
		}
		name := g.name(cand, g.fileType, shapeKey(def.raw))
		t, err := g.namedType(name, def)
		return t, doc, err
	}
	switch n.typeName() {
	case "string":
		if len(n.Enum) > 0 {
			cand := exported(propName)
			if o, ok := g.overrides[parent+"."+propName]; ok {
				cand = o
			}
			name := g.name(cand, parent, shapeKey(n.raw))
			return name, doc, g.add(&goType{name: name, isEnum: true, values: n.Enum}, shapeKey(n.raw))
		}
		if n.Format == "date-time" {
			return "time.Time", doc, nil
		}
		return "string", doc, nil
	case "integer":
		return "int", doc, nil
	case "number":
		return "float64", doc, nil
	case "boolean":
		return "bool", doc, nil
	case "object":
		cand := exported(propName)
		if o, ok := g.overrides[parent+"."+propName]; ok {
			cand = o
		}
		name := g.name(cand, parent, shapeKey(n.raw))
		t, err := g.structType(name, n, "")
		return t, doc, err
	case "array":
		if n.Items == nil {
			return "[]json.RawMessage", doc, nil
		}
		et, _, err := g.fieldType(parent, propName, n.Items)
		return "[]" + et, doc, err
	}
	return "json.RawMessage", doc, nil
}

func (g *gen) namedType(name string, def *node) (string, error) {
	switch def.typeName() {
	case "string":
		if len(def.Enum) > 0 {
			return name, g.add(&goType{name: name, doc: def.Description, isEnum: true, values: def.Enum}, shapeKey(def.raw))
		}
		return "string", nil
	case "object":
		return g.structType(name, def, def.Description)
	}
	return "", fmt.Errorf("msggen: definition %s has unsupported type %s", name, def.Type)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func comment(w *bytes.Buffer, indent, text string) {
	text = strings.ReplaceAll(text, "\r", "")
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		fmt.Fprintf(w, "%s// %s\n", indent, line)
	}
}

// constName turns an enum value such as "Interruption.Begin" or "L1-N" into
// an identifier suffix.
func constName(v string) string {
	var b strings.Builder
	up := true
	for _, r := range v {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (g *gen) render(pkg string, files []file) ([]byte, error) {
	var w bytes.Buffer
	fmt.Fprintf(&w, "// Code generated by msggen from the official OCA JSON schemas. DO NOT EDIT.\n\npackage %s\n\n", pkg)
	w.WriteString("import (\n\"encoding/json\"\n\"time\"\n)\n\n")
	w.WriteString("var (\n_ = json.RawMessage(nil)\n_ = time.Time{}\n)\n\n")

	actions := map[string]bool{}
	for _, f := range files {
		actions[f.action] = true
	}
	var names []string
	for a := range actions {
		names = append(names, a)
	}
	sort.Strings(names)
	w.WriteString("// Action names.\nconst (\n")
	for _, a := range names {
		fmt.Fprintf(&w, "Action%s = %q\n", a, a)
	}
	w.WriteString(")\n\n")

	for _, kind := range []string{"Request", "Response"} {
		fmt.Fprintf(&w, "// New%s returns a pointer to a new zero %s of action, or false for an action\n// this version does not have.\nfunc New%s(action string) (any, bool) {\nswitch action {\n", kind, strings.ToLower(kind), kind)
		for _, a := range names {
			if _, ok := g.types[a+kind]; ok {
				fmt.Fprintf(&w, "case Action%s:\nreturn new(%s%s), true\n", a, a, kind)
			}
		}
		w.WriteString("}\nreturn nil, false\n}\n\n")
	}

	var tnames []string
	for n := range g.types {
		tnames = append(tnames, n)
	}
	sort.Strings(tnames)
	consts := map[string]string{}
	for _, n := range tnames {
		t := g.types[n]
		if t.doc != "" {
			comment(&w, "", t.doc)
		} else {
			fmt.Fprintf(&w, "// %s is an OCPP message type.\n", t.name)
		}
		if t.isEnum {
			fmt.Fprintf(&w, "type %s string\n\nconst (\n", t.name)
			// "BootReasonEnum" values read better as BootReasonPowerUp,
			// unless a type BootReason exists too.
			prefix := strings.TrimSuffix(t.name, "Enum")
			if _, clash := g.types[prefix]; clash && prefix != t.name {
				prefix = t.name
			}
			for _, v := range t.values {
				c := prefix + constName(v)
				if other, dup := consts[c]; dup {
					return nil, fmt.Errorf("msggen: constant %s for both %s and %s.%s", c, other, t.name, v)
				}
				consts[c] = t.name + "." + v
				fmt.Fprintf(&w, "%s %s = %q\n", c, t.name, v)
			}
			w.WriteString(")\n\n")
			continue
		}
		fmt.Fprintf(&w, "type %s struct {\n", t.name)
		for _, f := range t.fields {
			if f.doc != "" {
				comment(&w, "", f.doc)
			}
			fmt.Fprintf(&w, "%s %s `json:\"%s\"`\n", f.goName, f.goType, f.tag)
		}
		w.WriteString("}\n\n")
	}
	for c := range consts {
		if _, clash := g.types[c]; clash {
			return nil, fmt.Errorf("msggen: constant %s clashes with a type", c)
		}
	}
	src, err := format.Source(w.Bytes())
	if err != nil {
		return w.Bytes(), fmt.Errorf("msggen: gofmt: %w", err)
	}
	return src, nil
}
