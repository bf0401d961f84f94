package deploycheck

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct{ cmd, args string }

// stages parses the Dockerfile into its stages by name (FROM … AS name).
func stages(t *testing.T) (args map[string]string, out map[string][]instruction) {
	t.Helper()
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	args, out = map[string]string{}, map[string][]instruction{}
	stage := ""
	var cur strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, rest, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		cmd = strings.ToUpper(cmd)
		switch {
		case cmd == "ARG" && stage == "":
			name, def, _ := strings.Cut(rest, "=")
			args[name] = def
		case cmd == "FROM":
			m := regexp.MustCompile(`(?i)\sAS\s+(\S+)$`).FindStringSubmatch(rest)
			if m == nil {
				t.Fatalf("unnamed stage: FROM %s", rest)
			}
			stage = m[1]
		}
		out[stage] = append(out[stage], instruction{cmd, rest})
	}
	return args, out
}

func TestDockerfile(t *testing.T) {
	args, st := stages(t)
	if !strings.HasPrefix(args["RUNTIME_IMAGE"], "gcr.io/distroless/static") || !strings.Contains(args["RUNTIME_IMAGE"], "nonroot") {
		t.Errorf("runtime base %q, want distroless static nonroot", args["RUNTIME_IMAGE"])
	}
	goMod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindSubmatch(goMod)
	if goVersion == nil || args["GO_IMAGE"] != "golang:"+string(goVersion[1]) {
		t.Errorf("build image %q does not pin go.mod's Go %s", args["GO_IMAGE"], goVersion[1])
	}
	var build strings.Builder
	for _, in := range st["build"] {
		build.WriteString(in.cmd + " " + in.args + "\n")
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-buildvcs=false", "-buildid=", "GOTOOLCHAIN=local", "go mod download"} {
		if !strings.Contains(build.String(), want) {
			t.Errorf("the build stage lacks %s", want)
		}
	}
	for _, target := range []string{"api", "gateway"} {
		ins := st[target]
		if len(ins) == 0 {
			t.Fatalf("no %s stage", target)
		}
		if ins[0].args != "${RUNTIME_IMAGE} AS "+target {
			t.Errorf("%s stage starts FROM %s", target, ins[0].args)
		}
		var user, entry string
		for _, in := range ins[1:] {
			switch in.cmd {
			case "USER":
				user = in.args
			case "ENTRYPOINT":
				entry = in.args
			case "RUN", "ADD":
				t.Errorf("%s stage runs %s %s: the runtime image has no shell and takes only built files", target, in.cmd, in.args)
			case "COPY":
				if !strings.Contains(in.args, "--from=build") {
					t.Errorf("%s stage copies from the context: %s", target, in.args)
				}
			}
		}
		// Numeric, so that Kubernetes can verify runAsNonRoot.
		if user != "65532:65532" {
			t.Errorf("%s runs as %q, want 65532:65532", target, user)
		}
		if entry != `["/usr/local/bin/`+target+`"]` {
			t.Errorf("%s entrypoint %s", target, entry)
		}
	}
}
