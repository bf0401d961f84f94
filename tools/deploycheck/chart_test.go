package deploycheck

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

const (
	chartDir  = "../../deploy/helm/chargeplane"
	release   = "cp"
	namespace = "charging"
)

// helmBin is the helm CLI pinned in go.mod, built by TestMain from the Go
// module proxy's source (cached by the Go build cache after the first time).
var helmBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deploycheck")
	if err != nil {
		panic(err)
	}
	helmBin = filepath.Join(dir, "helm")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", helmBin, "helm.sh/helm/v4/cmd/helm")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build helm: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin, args...)
	// No repositories, plugins or caches of the user's helm.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home, "HELM_CACHE_HOME="+home, "HELM_DATA_HOME="+home)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if err != nil {
		return out.String() + stderr.String(), err
	}
	return out.String(), nil
}

// render lints the chart with the values files, renders it, and validates
// every manifest.
func render(t *testing.T, values ...string) []Object {
	t.Helper()
	var args []string
	for _, v := range values {
		args = append(args, "-f", v)
	}
	if out, err := helm(t, append([]string{"lint", "--strict", chartDir}, args...)...); err != nil {
		t.Fatalf("helm lint %v: %v\n%s", values, err, out)
	}
	out, err := helm(t, append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", values, err, out)
	}
	objs, err := Decode([]byte(out))
	if err != nil {
		t.Fatalf("%v: %v", values, err)
	}
	for _, err := range Check(objs) {
		t.Errorf("%v: %v", values, err)
	}
	return objs
}

func ciValues(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("ci values files: %v %v", files, err)
	}
	return files
}

// Every values file of ci/ lints and renders valid manifests.
func TestChartRendersValid(t *testing.T) {
	for _, f := range ciValues(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if objs := render(t, f); len(objs) == 0 {
				t.Fatal("nothing rendered")
			}
		})
	}
}

func find[T any](t *testing.T, objs []Object, name string) T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.Obj.(T); ok && o.Name() == name {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T named %s", zero, name)
	return zero
}

func kinds(objs []Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Kind()+"/"+o.Name())
	}
	slices.Sort(out)
	return out
}

func env(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			m[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		default:
			m[e.Name] = e.Value
		}
	}
	return m
}

func TestDefaults(t *testing.T) {
	objs := render(t, filepath.Join(chartDir, "ci", "default-values.yaml"))
	want := []string{
		"Deployment/cp-chargeplane-core", "Deployment/cp-chargeplane-gateway",
		"HorizontalPodAutoscaler/cp-chargeplane-gateway",
		"PodDisruptionBudget/cp-chargeplane-core", "PodDisruptionBudget/cp-chargeplane-gateway",
		"Service/cp-chargeplane-core", "Service/cp-chargeplane-core-control",
		"Service/cp-chargeplane-gateway", "Service/cp-chargeplane-gateway-metrics",
		"ServiceAccount/cp-chargeplane",
	}
	if got := kinds(objs); !slices.Equal(got, want) {
		t.Errorf("rendered %v\nwant %v", got, want)
	}
	core := find[*appsv1.Deployment](t, objs, "cp-chargeplane-core")
	if *core.Spec.Replicas < 2 {
		t.Errorf("core replicas %d, want several", *core.Spec.Replicas)
	}
	ce := env(core.Spec.Template.Spec.Containers[0])
	for k, v := range map[string]string{
		"SHUTDOWN_TIMEOUT": "30s", "METRICS_ADDR": ":9464", "LOG_FORMAT": "json", "HTTP_ADDR": ":8080", "GRPC_ADDR": ":9090",
		"AUTH_SECRET": "secret:cp-chargeplane/AUTH_SECRET", "DATABASE_URL": "secret:cp-chargeplane/DATABASE_URL", "AMQP_URL": "secret:cp-chargeplane/AMQP_URL",
		"CONTROL_ADDR": ":9091", "GATEWAY_SECRET": "secret:cp-chargeplane/GATEWAY_SECRET",
	} {
		if ce[k] != v {
			t.Errorf("core %s = %q, want %q", k, ce[k], v)
		}
	}
	// 5 s preStop + 30 s SHUTDOWN_TIMEOUT + 5 s margin.
	if g := *core.Spec.Template.Spec.TerminationGracePeriodSeconds; g != 40 {
		t.Errorf("core grace period %d, want 40", g)
	}
	gw := find[*appsv1.Deployment](t, objs, "cp-chargeplane-gateway")
	ge := env(gw.Spec.Template.Spec.Containers[0])
	for k, v := range map[string]string{
		"CORE_GRPC_ADDR": "dns:///cp-chargeplane-core-control.charging.svc:9091", "DRAIN_WINDOW": "10s", "SHUTDOWN_TIMEOUT": "30s",
		"AMQP_URL": "secret:cp-chargeplane/AMQP_URL", "OCPP_ADDR": ":8887", "GATEWAY_SECRET": "secret:cp-chargeplane/GATEWAY_SECRET",
	} {
		if ge[k] != v {
			t.Errorf("gateway %s = %q, want %q", k, ge[k], v)
		}
	}
	for _, k := range []string{"AUTH_SECRET", "DATABASE_URL", "OCPP_TLS_ADDR"} {
		if _, ok := ge[k]; ok {
			t.Errorf("the gateway gets %s", k)
		}
	}
	// The control plane is only on the gateways' headless Service, not on
	// the operators'.
	for _, p := range find[*corev1.Service](t, objs, "cp-chargeplane-core").Spec.Ports {
		if p.Port == 9091 || p.TargetPort.StrVal == "control" {
			t.Errorf("the operators' core Service exposes the control plane: %+v", p)
		}
	}
	if p := find[*corev1.Service](t, objs, "cp-chargeplane-core-control").Spec.Ports; len(p) != 1 || p[0].Port != 9091 || p[0].TargetPort.StrVal != "control" {
		t.Errorf("control plane Service ports %+v", p)
	}
	lb := find[*corev1.Service](t, objs, "cp-chargeplane-gateway")
	if lb.Spec.Type != corev1.ServiceTypeLoadBalancer || len(lb.Spec.Ports) != 1 || lb.Spec.Ports[0].Port != 80 {
		t.Errorf("gateway service %s %+v", lb.Spec.Type, lb.Spec.Ports)
	}
	for _, p := range lb.Spec.Ports {
		if p.Name == "metrics" {
			t.Error("metrics exposed on the load balancer")
		}
	}
}

func TestTLS(t *testing.T) {
	objs := render(t, filepath.Join(chartDir, "ci", "tls-values.yaml"))
	gw := find[*appsv1.Deployment](t, objs, "cp-chargeplane-gateway")
	if gw.Spec.Replicas == nil || *gw.Spec.Replicas != 3 {
		t.Errorf("gateway replicas %v, want 3 without autoscaling", gw.Spec.Replicas)
	}
	pod := gw.Spec.Template.Spec
	ge := env(pod.Containers[0])
	if ge["OCPP_TLS_ADDR"] != ":8443" || ge["MIN_SECURITY_PROFILE"] != "2" {
		t.Errorf("gateway env %v", ge)
	}
	// Each file named by the TLS settings lies in a read-only mount of the
	// Secret the values name, with the key the file is named after; the
	// control plane's Secrets give each side only the keys it needs.
	mountedFiles(t, "gateway", pod, map[string]string{
		"TLS_CERT_FILE": "chargeplane-gateway-tls", "TLS_KEY_FILE": "chargeplane-gateway-tls", "TLS_CLIENT_CA_FILE": "chargeplane-charger-ca",
		"CORE_CA_FILE":      "chargeplane-core-control-tls",
		"GATEWAY_CERT_FILE": "chargeplane-gateway-control-tls", "GATEWAY_KEY_FILE": "chargeplane-gateway-control-tls",
	})
	core := find[*appsv1.Deployment](t, objs, "cp-chargeplane-core")
	mountedFiles(t, "core", core.Spec.Template.Spec, map[string]string{
		"CONTROL_TLS_CERT_FILE": "chargeplane-core-control-tls", "CONTROL_TLS_KEY_FILE": "chargeplane-core-control-tls",
		"CONTROL_CLIENT_CA_FILE": "chargeplane-gateway-control-tls",
		"CA_CERT_FILE":           "chargeplane-csms-ca", "CA_KEY_FILE": "chargeplane-csms-ca",
	})
	// The CSMS CA's files.
	for setting, path := range map[string]string{"CA_CERT_FILE": "/etc/chargeplane/ca/tls.crt", "CA_KEY_FILE": "/etc/chargeplane/ca/tls.key"} {
		if got := env(core.Spec.Template.Spec.Containers[0])[setting]; got != path {
			t.Errorf("core %s = %q, want %q", setting, got, path)
		}
	}
	lb := find[*corev1.Service](t, objs, "cp-chargeplane-gateway")
	if len(lb.Spec.Ports) != 1 || lb.Spec.Ports[0].Port != 443 || lb.Spec.Ports[0].TargetPort.StrVal != "ocpp-tls" {
		t.Errorf("TLS-only load balancer ports %+v", lb.Spec.Ports)
	}
	if !slices.Equal(lb.Spec.LoadBalancerSourceRanges, []string{"203.0.113.0/24"}) {
		t.Errorf("source ranges %v", lb.Spec.LoadBalancerSourceRanges)
	}
	s := find[*corev1.Secret](t, objs, "cp-chargeplane")
	if len(s.StringData) != 4 {
		t.Errorf("created secret keys %v", s.StringData)
	}
	for _, o := range objs {
		if o.Kind() == "HorizontalPodAutoscaler" {
			t.Error("an autoscaler although autoscaling is off")
		}
	}
}

// mountedFiles checks that each setting names a file in a read-only mount
// of the Secret want gives, projecting the key the file is named after, and
// that no mount of those Secrets projects a private key the settings do not
// name (a gateway never gets the cores' tls.key, nor a core the gateways').
func mountedFiles(t *testing.T, what string, pod corev1.PodSpec, want map[string]string) {
	t.Helper()
	vols := map[string]*corev1.SecretVolumeSource{}
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			vols[v.Name] = v.Secret
		}
	}
	e := env(pod.Containers[0])
	named := map[string]bool{}
	for setting, secret := range want {
		path := e[setting]
		named[path] = true
		var got *corev1.SecretVolumeSource
		for _, m := range pod.Containers[0].VolumeMounts {
			if filepath.Dir(path) == m.MountPath && m.ReadOnly {
				got = vols[m.Name]
			}
		}
		if got == nil || got.SecretName != secret {
			t.Errorf("%s %s=%q is not in a read-only mount of Secret %q", what, setting, path, secret)
			continue
		}
		if len(got.Items) > 0 && !slices.ContainsFunc(got.Items, func(k corev1.KeyToPath) bool { return k.Path == filepath.Base(path) }) {
			t.Errorf("%s %s=%q: the mount of %q does not project %s", what, setting, path, secret, filepath.Base(path))
		}
	}
	for _, m := range pod.Containers[0].VolumeMounts {
		v := vols[m.Name]
		if v == nil {
			continue
		}
		for _, k := range v.Items {
			if k.Key == "tls.key" && !named[filepath.Join(m.MountPath, k.Path)] {
				t.Errorf("%s mounts %s of Secret %q, which no setting names", what, k.Key, v.SecretName)
			}
		}
	}
}

// Behind a TLS-terminating proxy: the proxies' addresses reach the gateways
// as TRUSTED_PROXIES, the gateways stay inside the cluster, and the chart's
// default believes no one.
func TestTrustedProxies(t *testing.T) {
	objs := render(t, filepath.Join(chartDir, "ci", "proxy-values.yaml"))
	gw := find[*appsv1.Deployment](t, objs, "cp-chargeplane-gateway")
	ge := env(gw.Spec.Template.Spec.Containers[0])
	if ge["TRUSTED_PROXIES"] != "10.42.0.0/16,fd00:42::/64,192.0.2.10" || ge["MIN_SECURITY_PROFILE"] != "2" {
		t.Errorf("gateway env %v", ge)
	}
	if _, ok := ge["OCPP_TLS_ADDR"]; ok {
		t.Error("TLS terminated by the proxy, yet the gateways listen for it")
	}
	svc := find[*corev1.Service](t, objs, "cp-chargeplane-gateway")
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.ExternalTrafficPolicy != "" {
		t.Errorf("gateway service %s, externalTrafficPolicy %q", svc.Spec.Type, svc.Spec.ExternalTrafficPolicy)
	}
	def := find[*appsv1.Deployment](t, render(t, filepath.Join(chartDir, "ci", "default-values.yaml")), "cp-chargeplane-gateway")
	if v, ok := env(def.Spec.Template.Spec.Containers[0])["TRUSTED_PROXIES"]; ok {
		t.Errorf("by default TRUSTED_PROXIES=%q, want it unset", v)
	}
	if out, err := helm(t, "template", release, chartDir, "--set", "gateway.trustedProxies[0]=proxy.example"); err == nil ||
		!strings.Contains(out, "trustedProxies/0") {
		t.Errorf("a host name as a trusted proxy: err %v, output %q", err, out)
	}
}

func TestServiceMonitor(t *testing.T) {
	objs := render(t, filepath.Join(chartDir, "ci", "servicemonitor-values.yaml"))
	sm := find[*monitoringv1.ServiceMonitor](t, objs, "cp-chargeplane")
	if sm.Labels["release"] != "prometheus" || sm.Spec.Endpoints[0].Port != "metrics" {
		t.Errorf("service monitor %+v", sm)
	}
	// It scrapes the core's and the gateways' metrics ports, nothing else.
	var scraped []string
	for _, o := range objs {
		if s, ok := o.Obj.(*corev1.Service); ok && labelsMatch(sm.Spec.Selector.MatchLabels, s.Labels) {
			scraped = append(scraped, s.Name)
		}
	}
	slices.Sort(scraped)
	if !slices.Equal(scraped, []string{"cp-chargeplane-core", "cp-chargeplane-gateway-metrics"}) {
		t.Errorf("scraped services %v", scraped)
	}
	core := find[*appsv1.Deployment](t, objs, "cp-chargeplane-core")
	c := core.Spec.Template.Spec.Containers[0]
	if !strings.HasPrefix(c.Image, "chargeplane/api@sha256:") {
		t.Errorf("image %s, want pinned by digest", c.Image)
	}
	if env(c)["AUTH_SECRET"] != "secret:chargeplane-credentials/AUTH_SECRET" || c.Lifecycle != nil {
		t.Errorf("existing secret, no preStop: %v %v", env(c), c.Lifecycle)
	}
	if g := *core.Spec.Template.Spec.TerminationGracePeriodSeconds; g != 125 {
		t.Errorf("grace period %d, want 0 + 120 + 5", g)
	}
}

func labelsMatch(sel, l map[string]string) bool {
	for k, v := range sel {
		if l[k] != v {
			return false
		}
	}
	return true
}

// Values that cannot work are refused with a message that says why.
func TestChartRefusesBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		set  []string
		want string
	}{
		"drain over half the timeout":       {[]string{"shutdown.drainWindowSeconds=20"}, "must be at most half of shutdown.timeoutSeconds"},
		"TLS without a certificate":         {[]string{"gateway.tls.enabled=true"}, "gateway.tls.enabled needs gateway.tls.secretName"},
		"control TLS without a certificate": {[]string{"controlTLS.enabled=true"}, "controlTLS.enabled needs controlTLS.secretName"},
		"control mutual TLS without TLS":    {[]string{"controlTLS.gatewaySecretName=x"}, "controlTLS.gatewaySecretName (mutual TLS) needs controlTLS.enabled"},
		"replicas not a number":             {[]string{"core.replicas=many"}, "at '/core/replicas': got string, want integer"},
		"misspelt value":                    {[]string{"gateway.tls.enable=true"}, "additional properties 'enable' not allowed"},
		"created Secret without the gateway secret": {[]string{"secret.create=true", "secret.values.AUTH_SECRET=a", "secret.values.DATABASE_URL=b",
			"secret.values.AMQP_URL=c"}, "secret.values has no GATEWAY_SECRET"},
	} {
		t.Run(name, func(t *testing.T) {
			args := []string{"template", release, chartDir}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			out, err := helm(t, args...)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("err %v, output %q; want a failure saying %q", err, out, tc.want)
			}
		})
	}
}

// Every variable the chart sets is a setting of the binaries: listed in
// .env.example (generated from pkg/config).
func TestChartSetsOnlyRealSettings(t *testing.T) {
	f, err := os.Open("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	known := map[string]bool{}
	line := regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=`)
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			known[m[1]] = true
		}
	}
	for _, file := range ciValues(t) {
		for _, o := range render(t, file) {
			d, ok := o.Obj.(*appsv1.Deployment)
			if !ok {
				continue
			}
			for name := range env(d.Spec.Template.Spec.Containers[0]) {
				if !known[name] {
					t.Errorf("%s: %s sets %s, which no binary reads", filepath.Base(file), d.Name, name)
				}
			}
		}
	}
}
