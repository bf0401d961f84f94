package deploycheck

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

// loadCompose does what `docker compose config` does without an engine:
// interpolation, the compose specification's schema, profiles.
func loadCompose(t *testing.T, env []string, profiles ...string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"../../compose.yaml"},
		cli.WithWorkingDirectory("../.."),
		cli.WithEnv(env),
		cli.WithProfiles(profiles),
		cli.WithConsistency(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func TestCompose(t *testing.T) {
	env := []string{"AUTH_SECRET=" + strings.Repeat("s", 64), "GATEWAY_SECRET=" + strings.Repeat("g", 64)}
	plain, err := loadCompose(t, env)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if got := plain.ServiceNames(); !slices.Equal(sorted(got), []string{"api", "gateway-1", "gateway-2", "postgres", "rabbitmq"}) {
		t.Errorf("services without a profile: %v", got)
	}
	mon, err := loadCompose(t, env, "monitoring")
	if err != nil {
		t.Fatalf("compose.yaml with the monitoring profile: %v", err)
	}
	if got := mon.ServiceNames(); !slices.Contains(got, "prometheus") || !slices.Contains(got, "grafana") {
		t.Errorf("the monitoring profile lacks Prometheus or Grafana: %v", got)
	}
	// Every bind mount of the monitoring services exists in the repository.
	for _, name := range []string{"prometheus", "grafana"} {
		svc := mon.Services[name]
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s mounts %s: %v", name, v.Source, err)
				}
			}
		}
		for _, p := range svc.Ports {
			if p.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes port %d beyond localhost", name, p.Target)
			}
		}
	}
	// Prometheus scrapes exactly the services that serve METRICS_ADDR, on
	// that port.
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	raw, err := os.ReadFile("../../deploy/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &prom); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	scraped := map[string]bool{}
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				scraped[target] = true
			}
		}
	}
	for name, svc := range plain.Services {
		addr := svc.Environment["METRICS_ADDR"]
		if addr == nil {
			continue
		}
		if target := name + *addr; !scraped[target] {
			t.Errorf("%s serves /metrics on %s, but Prometheus does not scrape %s", name, *addr, target)
		}
		delete(scraped, name+*addr)
	}
	delete(scraped, "localhost:9090")
	for target := range scraped {
		t.Errorf("Prometheus scrapes %s, which no service serves", target)
	}
	for _, name := range []string{"api", "gateway-1", "gateway-2"} {
		if f := plain.Services[name].Environment["LOG_FORMAT"]; f == nil || *f != "json" {
			t.Errorf("%s logs %v, want json", name, f)
		}
		if s := plain.Services[name].Environment["GATEWAY_SECRET"]; s == nil || *s != strings.Repeat("g", 64) {
			t.Errorf("%s has GATEWAY_SECRET %v, want the one given", name, s)
		}
	}
	// The gateways call the core's control plane, which is not published.
	for _, name := range []string{"gateway-1", "gateway-2"} {
		if a := plain.Services[name].Environment["CORE_GRPC_ADDR"]; a == nil || *a != "api:9091" {
			t.Errorf("%s calls the core at %v, want its control plane api:9091", name, a)
		}
	}
	for _, p := range plain.Services["api"].Ports {
		if p.Target == 9091 {
			t.Error("the api publishes its control plane on the host")
		}
	}

	// Without a secret, compose says what to set.
	if _, err := loadCompose(t, env[1:]); err == nil || !strings.Contains(err.Error(), "AUTH_SECRET") {
		t.Errorf("without AUTH_SECRET: %v", err)
	}
	if _, err := loadCompose(t, env[:1]); err == nil || !strings.Contains(err.Error(), "GATEWAY_SECRET") {
		t.Errorf("without GATEWAY_SECRET: %v", err)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
