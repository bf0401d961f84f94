package deploycheck

import (
	"strings"
	"testing"
)

// A valid pair of Deployment and Service that each case below breaks in
// one place.
const good = `# Source: t/templates/a.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      securityContext: {runAsNonRoot: true}
      terminationGracePeriodSeconds: 40
      containers:
        - name: web
          image: example/web:1
          env: [{name: SHUTDOWN_TIMEOUT, value: 30s}]
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /readyz, port: http}}
          livenessProbe: {httpGet: {path: /healthz, port: http}}
          lifecycle: {preStop: {sleep: {seconds: 5}}}
          resources: {requests: {cpu: 100m}}
          securityContext:
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
---
# Source: t/templates/b.yaml
apiVersion: v1
kind: Service
metadata: {name: web, labels: {app: web}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
`

func problems(t *testing.T, manifests string) string {
	t.Helper()
	objs, err := Decode([]byte(manifests))
	if err != nil {
		return err.Error()
	}
	var msgs []string
	for _, err := range Check(objs) {
		msgs = append(msgs, err.Error())
	}
	return strings.Join(msgs, "\n")
}

func TestGoodPasses(t *testing.T) {
	if p := problems(t, good); p != "" {
		t.Fatal(p)
	}
}

func TestEachBreakageFound(t *testing.T) {
	for name, tc := range map[string]struct{ old, new, want string }{
		"unknown field":         {"  selector: {matchLabels: {app: web}}", "  replica: 2\n  selector: {matchLabels: {app: web}}", `unknown field "spec.replica"`},
		"wrong type":            {"containerPort: 8080", "containerPort: eighty", "t/templates/a.yaml"},
		"unknown kind":          {"kind: Service", "kind: Servise", "no kind \"Servise\""},
		"removed apiVersion":    {"apiVersion: apps/v1", "apiVersion: extensions/v1beta1", "extensions/v1beta1"},
		"selector mismatch":     {"metadata: {labels: {app: web}}", "metadata: {labels: {app: api}}", "does not match the pod template"},
		"probe to missing port": {"port: http}}\n          livenessProbe", "port: https}}\n          livenessProbe", `readiness probe aims at port "https"`},
		"service to no pod":     {"selector: {app: web}", "selector: {app: nobody}", "matches no pod"},
		"target port missing":   {"targetPort: http", "targetPort: web", `port http aims at port "web"`},
		"long port name":        {"name: http, port: 80", "name: http-for-chargers, port: 80", "must be no more than 15 characters"},
		"bad env name":          {"name: SHUTDOWN_TIMEOUT", "name: SHUTDOWN TIMEOUT", "env \"SHUTDOWN TIMEOUT\""},
		"grace period short":    {"terminationGracePeriodSeconds: 40", "terminationGracePeriodSeconds: 30", "would kill the drain"},
		"writable root":         {"readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "not read-only"},
		"root allowed":          {"runAsNonRoot: true", "runAsNonRoot: false", "non-root"},
		"missing mount":         {"resources: {requests: {cpu: 100m}}", "resources: {requests: {cpu: 100m}}\n          volumeMounts: [{name: certs, mountPath: /c}]", `volume "certs"`},
		"no liveness probe":     {"livenessProbe: {httpGet: {path: /healthz, port: http}}", "", "no liveness probe"},
		"bad label value":       {"metadata: {name: web, labels: {app: web}}", "metadata: {name: web, labels: {app: \"web app\"}}", "label app=\"web app\""},
		"duplicate key":         {"image: example/web:1", "image: example/web:1\n          image: example/web:2", `key "image" already set`},
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("the case does not apply: %q not in the manifest", tc.old)
			}
			bad := strings.Replace(good, tc.old, tc.new, 1)
			if p := problems(t, bad); !strings.Contains(p, tc.want) {
				t.Errorf("problems %q, want one containing %q", p, tc.want)
			}
		})
	}
}

func TestAutoscalerAndMonitorChecked(t *testing.T) {
	hpa := `
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 5
`
	if p := problems(t, good+hpa); p != "" {
		t.Errorf("valid autoscaler: %s", p)
	}
	if p := problems(t, good+strings.Replace(hpa, "name: web}\n  minReplicas", "name: api}\n  minReplicas", 1)); !strings.Contains(p, "is not a Deployment of the chart") {
		t.Errorf("autoscaler of nothing: %q", p)
	}
	withReplicas := strings.Replace(good, "spec:\n  selector", "spec:\n  replicas: 2\n  selector", 1)
	if p := problems(t, withReplicas+hpa); !strings.Contains(p, "fights the autoscaler") {
		t.Errorf("replicas beside an autoscaler: %q", p)
	}
	sm := `
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  endpoints: [{port: metrics}]
`
	if p := problems(t, good+sm); !strings.Contains(p, `has no port "metrics"`) {
		t.Errorf("monitor of a missing port: %q", p)
	}
	if p := problems(t, good+strings.Replace(sm, "port: metrics", "port: http", 1)); p != "" {
		t.Errorf("valid monitor: %s", p)
	}
}
