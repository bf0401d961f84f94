package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/chargeplane/chargeplane/pkg/config"
	"github.com/chargeplane/chargeplane/pkg/config/configtest"
)

// gateway --help lists the settings the gateway reads, from the table that
// generates .env.example (pkg/config checks that file against the table).
func TestHelpListsSettings(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		var out bytes.Buffer
		if err := run([]string{arg}, &out); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		configtest.CheckHelp(t, config.Gateway, out.String())
	}
}

func TestCommandLineRefused(t *testing.T) {
	for _, args := range [][]string{{"--port", "1"}, {"serve"}} {
		var out bytes.Buffer
		err := run(args, &out)
		var usage usageError
		if !errors.As(err, &usage) || out.Len() != 0 {
			t.Errorf("%v: err %v, output %q; want a usage error and no output", args, err, out.String())
		}
	}
	if err := run([]string{"serve"}, &bytes.Buffer{}); !strings.Contains(err.Error(), `"serve"`) {
		t.Errorf("the error does not name the argument: %v", err)
	}
}
