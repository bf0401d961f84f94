package config

import (
	"bytes"
	"os"
	"reflect"
	"regexp"
	"testing"
)

// Every Config field is bound to exactly one setting, so a field cannot be
// added without a variable, a default and a line of help.
func TestTableBindsEveryFieldOnce(t *testing.T) {
	var c Config
	bound := map[any]string{}
	for _, s := range settings {
		p := s.v.addr(&c)
		if other, dup := bound[p]; dup {
			t.Errorf("%s and %s bind the same field", s.Name, other)
		}
		bound[p] = s.Name
	}
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		if _, ok := bound[v.Field(i).Addr().Interface()]; !ok {
			t.Errorf("Config.%s has no setting in the table", v.Type().Field(i).Name)
		}
	}
}

func TestTableIsWellFormed(t *testing.T) {
	name := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	seen := map[string]bool{}
	for _, s := range settings {
		if !name.MatchString(s.Name) || seen[s.Name] {
			t.Errorf("setting %q: name malformed or repeated", s.Name)
		}
		seen[s.Name] = true
		if s.Help == "" || s.Binaries == 0 || s.Binaries&^Both != 0 {
			t.Errorf("%s: help %q, binaries %v", s.Name, s.Help, s.Binaries)
		}
		if s.Secret && s.Default != "" {
			t.Errorf("%s is secret but has a default", s.Name)
		}
	}
}

// .env.example is generated from the table; a stale copy fails here, before
// make check-generated would.
func TestEnvExampleIsGenerated(t *testing.T) {
	var want bytes.Buffer
	if err := WriteEnvExample(&want); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal(".env.example differs from the settings table: run make generate")
	}
	for _, s := range settings {
		if !regexp.MustCompile(`(?m)^` + s.Name + `=` + regexp.QuoteMeta(s.Default) + `$`).Match(got) {
			t.Errorf(".env.example lacks %s=%s", s.Name, s.Default)
		}
	}
}

// docs/operations.md carries the same table, generated.
func TestOperationsTableIsGenerated(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReplaceMarkdownTable(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != want {
		t.Fatal("the settings table of docs/operations.md differs from the settings table: run make generate")
	}
	for _, s := range settings {
		if !bytes.Contains(doc, []byte("| `"+s.Name+"` |")) {
			t.Errorf("docs/operations.md lacks %s", s.Name)
		}
	}
}
