// Package configtest checks a binary's --help against the settings table,
// so that what `api --help` and `gateway --help` print agrees with the
// table that also generates .env.example.
package configtest

import (
	"strings"
	"testing"

	"github.com/chargeplane/chargeplane/pkg/config"
)

// CheckHelp fails t unless help, the output of bin's --help, lists exactly
// the settings bin reads, each with its default, in the table's order.
func CheckHelp(t *testing.T, bin config.Binary, help string) {
	t.Helper()
	_, table, found := strings.Cut(help, config.HelpHeader)
	if !found {
		t.Fatalf("--help has no %q section:\n%s", config.HelpHeader, help)
	}
	type entry struct{ name, def string }
	var listed []entry
	for _, line := range strings.Split(table, "\n")[1:] {
		fields := strings.Fields(line)
		if !strings.HasPrefix(line, "  ") || len(fields) < 3 {
			break
		}
		def := fields[1]
		if def == config.EmptyDefault {
			def = ""
		}
		listed = append(listed, entry{fields[0], def})
	}
	var want []entry
	for _, s := range config.Settings() {
		if s.Binaries&bin != 0 {
			want = append(want, entry{s.Name, s.Default})
		}
	}
	if len(listed) != len(want) {
		t.Errorf("--help lists %d settings, %s reads %d:\n%s", len(listed), bin, len(want), help)
	}
	for i := range min(len(listed), len(want)) {
		if listed[i] != want[i] {
			t.Errorf("--help line %d: %s=%q, want %s=%q", i+1, listed[i].name, listed[i].def, want[i].name, want[i].def)
		}
	}
}
