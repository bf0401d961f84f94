package app_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/chargeplane/chargeplane/pkg/bus/rabbitmq"
)

// The dashboard and the alert rules must only use metrics the binaries
// register: a renamed metric would otherwise leave an empty panel or an
// alert that can never fire. The api registers everything but the
// RabbitMQ bus's collectors, added here.
func TestDashboardsAndAlertsUseRegisteredMetrics(t *testing.T) {
	a := start(t, load(t, nil))
	defer shutdown(t, a)
	names := map[string]bool{}
	descs := make(chan *prometheus.Desc, 1024)
	go func() {
		a.Metrics().Describe(descs)
		for _, c := range (&rabbitmq.Bus{}).Collectors() {
			c.Describe(descs)
		}
		close(descs)
	}()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range descs {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}

	root := filepath.Join("..", "..", "deploy")
	var exprs []string
	rules, err := os.ReadFile(filepath.Join(root, "helm", "chargeplane", "rules", "chargeplane.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(rules, &rf); err != nil {
		t.Fatalf("alert rules: %v", err)
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("rule group %s: a rule without alert or expr: %+v", g.Name, r)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	dash, err := os.ReadFile(filepath.Join(root, "grafana", "dashboards", "chargeplane.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(exprs) < 10 {
		t.Fatalf("only %d expressions found", len(exprs))
	}

	used := regexp.MustCompile(`\bchargeplane_[a-z_]+`)
	for _, e := range exprs {
		for _, n := range used.FindAllString(e, -1) {
			base := n
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if b, ok := strings.CutSuffix(n, suffix); ok && names[b] {
					base = b
				}
			}
			if !names[base] {
				t.Errorf("%s (in %q) is not a registered metric", n, e)
			}
		}
	}
}
