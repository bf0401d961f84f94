package deploycheck

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// rulesFile is the one copy of the alert rules: compose mounts its folder,
// the chart renders it as a PrometheusRule.
var rulesFile = filepath.Join(chartDir, "rules", "chargeplane.yml")

// The rules file loads in Prometheus as it is (compose), and the chart's
// PrometheusRule carries exactly its groups.
func TestPrometheusRule(t *testing.T) {
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if errs := ParseRules(raw); len(errs) > 0 {
		t.Fatalf("%s: %v", rulesFile, errs)
	}
	objs := render(t, filepath.Join(chartDir, "ci", "servicemonitor-values.yaml"))
	pr := find[*monitoringv1.PrometheusRule](t, objs, "cp-chargeplane")
	if pr.Labels["release"] != "prometheus" {
		t.Errorf("labels %v, want the ruleSelector's release label", pr.Labels)
	}
	rendered, err := yaml.Marshal(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := parse(t, rendered), parse(t, raw); !reflect.DeepEqual(got, want) {
		t.Errorf("the chart's rules differ from %s:\n%+v\nwant\n%+v", rulesFile, got, want)
	}

	for _, o := range render(t) {
		if o.Kind() == "PrometheusRule" {
			t.Error("a PrometheusRule is rendered by default; it needs the operator's CRD")
		}
	}
}

func parse(t *testing.T, b []byte) []rulefmt.RuleGroup {
	t.Helper()
	g, errs := rulefmt.Parse(b, false, model.LegacyValidation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("%v", errs)
	}
	return g.Groups
}

// What Prometheus would refuse is refused here, with its reason.
func TestParseRulesRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ rules, want string }{
		"bad PromQL":       {`groups: [{name: g, rules: [{alert: A, expr: "rate(x[5m]"}]}]`, "parse error"},
		"unknown field":    {`groups: [{name: g, rules: [{alert: A, expr: up, forr: 5m}]}]`, "forr"},
		"bad template":     {`groups: [{name: g, rules: [{alert: A, expr: up, annotations: {summary: "{{ $value "}}]}]`, "annotation"},
		"alert and record": {`groups: [{name: g, rules: [{alert: A, record: r, expr: up}]}]`, "only one"},
		"no groups":        {`groups: []`, "no rule groups"},
	} {
		t.Run(name, func(t *testing.T) {
			errs := ParseRules([]byte(tc.rules))
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			if !strings.Contains(strings.Join(msgs, "; "), tc.want) {
				t.Errorf("errors %v, want one about %q", msgs, tc.want)
			}
		})
	}
}
