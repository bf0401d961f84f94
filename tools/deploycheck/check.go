// Package deploycheck validates the deployment files: compose.yaml and the
// Dockerfile in its tests, and the manifests the Helm chart
// (deploy/helm/chargeplane) renders, the way kubeconform would and a little
// further:
//
//   - every document decodes strictly into the Kubernetes API types of
//     k8s.io/api (and the prometheus-operator's for ServiceMonitor): an
//     unknown kind or apiVersion, an unknown or duplicated field, or a value
//     of the wrong type is an error;
//   - what the API server would refuse or what would silently not work:
//     invalid names, labels, port names and environment variable names,
//     a selector that does not match its pod template, a probe or a
//     Service aimed at a port no container has, a mount of a missing
//     volume, an autoscaler, budget or ServiceMonitor that selects nothing;
//   - what this chart promises: non-root, read-only root file systems, and
//     a termination grace period long enough for the drain.
//
// The schemas are the Go API types of the pinned modules (go.mod), so the
// check needs no download at test time.
package deploycheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Object is one rendered manifest, decoded.
type Object struct {
	// Source is the template it came from ("chargeplane/templates/core.yaml").
	Source string
	Obj    runtime.Object
}

// Kind is the object's kind, e.g. "Deployment".
func (o Object) Kind() string { return o.Obj.GetObjectKind().GroupVersionKind().Kind }

// Name is the object's metadata.name.
func (o Object) Name() string { return meta(o.Obj).GetName() }

// decoder knows the API versions a current cluster (1.30 and later) serves
// for what a chart like ours may contain, and nothing older: a manifest in
// extensions/v1beta1 or policy/v1beta1 would be refused by the cluster, so
// it is refused here.
var decoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, autoscalingv2.AddToScheme,
		batchv1.AddToScheme, networkingv1.AddToScheme, rbacv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}()

var sourceLine = regexp.MustCompile(`(?m)^# Source: (\S+)`)

// Decode splits a multi-document YAML stream (helm template's output) and
// decodes every document strictly into its API type.
func Decode(manifests []byte) ([]Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifests)))
	var objs []Object
	var errs []error
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("split YAML: %w", err)
		}
		source := "?"
		if m := sourceLine.FindSubmatch(doc); m != nil {
			source = string(m[1])
		}
		if isEmpty(doc) {
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source, err))
			continue
		}
		objs = append(objs, Object{Source: source, Obj: obj})
	}
	return objs, errors.Join(errs...)
}

func isEmpty(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && string(line) != "---" {
			return false
		}
	}
	return true
}

// Check returns every problem found across the objects.
func Check(objs []Object) []error {
	c := &checker{objs: objs}
	for _, o := range objs {
		c.at = o
		c.metadata(meta(o.Obj))
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			c.deployment(v)
		case *corev1.Service:
			c.service(v)
		case *policyv1.PodDisruptionBudget:
			c.selects("PodDisruptionBudget", v.Spec.Selector)
		case *autoscalingv2.HorizontalPodAutoscaler:
			c.hpa(v)
		case *monitoringv1.ServiceMonitor:
			c.serviceMonitor(v)
		case *monitoringv1.PrometheusRule:
			for _, err := range Rules(v.Spec) {
				c.fail("%v", err)
			}
		case *corev1.Secret, *corev1.ServiceAccount, *corev1.ConfigMap:
		default:
			c.fail("%s: no check for this kind; add one", o.Kind())
		}
	}
	names := map[string]bool{}
	for _, o := range objs {
		key := o.Kind() + "/" + o.Name()
		if names[key] {
			c.errs = append(c.errs, fmt.Errorf("%s defined twice", key))
		}
		names[key] = true
	}
	return c.errs
}

type checker struct {
	objs []Object
	at   Object
	errs []error
}

func (c *checker) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s %s/%s: %s", c.at.Source, c.at.Kind(), c.at.Name(), fmt.Sprintf(format, args...)))
}

func meta(obj runtime.Object) metav1.Object {
	m, ok := obj.(metav1.Object)
	if !ok {
		panic(fmt.Sprintf("%T has no metadata", obj))
	}
	return m
}

func (c *checker) metadata(m metav1.Object) {
	for _, msg := range validation.IsDNS1123Subdomain(m.GetName()) {
		c.fail("name %q: %s", m.GetName(), msg)
	}
	c.labels("label", m.GetLabels())
	for k := range m.GetAnnotations() {
		for _, msg := range validation.IsQualifiedName(k) {
			c.fail("annotation key %q: %s", k, msg)
		}
	}
}

func (c *checker) labels(what string, l map[string]string) {
	for k, v := range l {
		for _, msg := range validation.IsQualifiedName(k) {
			c.fail("%s key %q: %s", what, k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			c.fail("%s %s=%q: %s", what, k, v, msg)
		}
	}
}

func (c *checker) deployment(d *appsv1.Deployment) {
	if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels)+len(d.Spec.Selector.MatchExpressions) == 0 {
		c.fail("no selector")
		return
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		c.fail("selector: %v", err)
		return
	}
	c.labels("pod label", d.Spec.Template.Labels)
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		c.fail("selector %v does not match the pod template's labels %v", sel, d.Spec.Template.Labels)
	}
	c.podSpec(&d.Spec.Template.Spec)
}

func (c *checker) podSpec(p *corev1.PodSpec) {
	if len(p.Containers) == 0 {
		c.fail("no containers")
	}
	volumes := map[string]bool{}
	for _, v := range p.Volumes {
		for _, msg := range validation.IsDNS1123Label(v.Name) {
			c.fail("volume %q: %s", v.Name, msg)
		}
		if volumes[v.Name] {
			c.fail("volume %q defined twice", v.Name)
		}
		volumes[v.Name] = true
	}
	if p.SecurityContext == nil || p.SecurityContext.RunAsNonRoot == nil || !*p.SecurityContext.RunAsNonRoot {
		c.fail("the pod does not require a non-root user")
	}
	for i := range p.Containers {
		c.container(p, &p.Containers[i], volumes)
	}
}

func (c *checker) container(p *corev1.PodSpec, ct *corev1.Container, volumes map[string]bool) {
	for _, msg := range validation.IsDNS1123Label(ct.Name) {
		c.fail("container %q: %s", ct.Name, msg)
	}
	if ct.Image == "" {
		c.fail("container %s: no image", ct.Name)
	}
	ports := map[string]int32{}
	for _, port := range ct.Ports {
		for _, msg := range validation.IsValidPortNum(int(port.ContainerPort)) {
			c.fail("container %s port %d: %s", ct.Name, port.ContainerPort, msg)
		}
		if port.Name != "" {
			for _, msg := range validation.IsValidPortName(port.Name) {
				c.fail("container %s port name %q: %s", ct.Name, port.Name, msg)
			}
			if _, dup := ports[port.Name]; dup {
				c.fail("container %s: port name %q twice", ct.Name, port.Name)
			}
			ports[port.Name] = port.ContainerPort
		}
	}
	env := map[string]string{}
	for _, e := range ct.Env {
		for _, msg := range validation.IsEnvVarName(e.Name) {
			c.fail("container %s env %q: %s", ct.Name, e.Name, msg)
		}
		if _, dup := env[e.Name]; dup {
			c.fail("container %s: env %s set twice", ct.Name, e.Name)
		}
		env[e.Name] = e.Value
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && (e.ValueFrom.SecretKeyRef.Name == "" || e.ValueFrom.SecretKeyRef.Key == "") {
			c.fail("container %s env %s: secretKeyRef without name or key", ct.Name, e.Name)
		}
	}
	for _, m := range ct.VolumeMounts {
		if !volumes[m.Name] {
			c.fail("container %s mounts volume %q, which the pod does not define", ct.Name, m.Name)
		}
	}
	for what, probe := range map[string]*corev1.Probe{"readiness": ct.ReadinessProbe, "liveness": ct.LivenessProbe, "startup": ct.StartupProbe} {
		if probe == nil {
			if what != "startup" {
				c.fail("container %s has no %s probe", ct.Name, what)
			}
			continue
		}
		if probe.HTTPGet != nil {
			c.portRef(fmt.Sprintf("container %s %s probe", ct.Name, what), probe.HTTPGet.Port, ports)
		}
	}
	sc := ct.SecurityContext
	switch {
	case sc == nil:
		c.fail("container %s has no securityContext", ct.Name)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		c.fail("container %s: root file system not read-only", ct.Name)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		c.fail("container %s: privilege escalation allowed", ct.Name)
	case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
		c.fail("container %s: capabilities not dropped", ct.Name)
	}
	c.gracePeriod(p, ct, env)
}

// gracePeriod: the kubelet kills the container terminationGracePeriodSeconds
// after it starts stopping the pod (preStop included); the binary may take
// SHUTDOWN_TIMEOUT after SIGTERM. A shorter grace period cuts the drain.
func (c *checker) gracePeriod(p *corev1.PodSpec, ct *corev1.Container, env map[string]string) {
	timeout := 30 * time.Second // the binaries' default
	if v, ok := env["SHUTDOWN_TIMEOUT"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			c.fail("container %s: SHUTDOWN_TIMEOUT=%q is not a Go duration", ct.Name, v)
			return
		}
		timeout = d
	}
	var preStop time.Duration
	if ct.Lifecycle != nil && ct.Lifecycle.PreStop != nil {
		if s := ct.Lifecycle.PreStop.Sleep; s != nil {
			preStop = time.Duration(s.Seconds) * time.Second
		} else {
			c.fail("container %s: preStop other than sleep (the images have no shell)", ct.Name)
		}
	}
	grace := 30 * time.Second
	if p.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
	}
	if grace <= preStop+timeout {
		c.fail("terminationGracePeriodSeconds %v does not exceed preStop %v + SHUTDOWN_TIMEOUT %v: the kubelet would kill the drain", grace, preStop, timeout)
	}
	if v, ok := env["DRAIN_WINDOW"]; ok {
		if d, err := time.ParseDuration(v); err != nil || 2*d > timeout {
			c.fail("container %s: DRAIN_WINDOW=%q must be a Go duration of at most half of SHUTDOWN_TIMEOUT %v", ct.Name, v, timeout)
		}
	}
}

func (c *checker) portRef(what string, port intstr.IntOrString, named map[string]int32) {
	if port.Type == intstr.String {
		if _, ok := named[port.StrVal]; !ok {
			c.fail("%s aims at port %q, which the container does not declare", what, port.StrVal)
		}
		return
	}
	if !slices.Contains(mapValues(named), port.IntVal) {
		c.fail("%s aims at port %d, which the container does not declare", what, port.IntVal)
	}
}

func mapValues(m map[string]int32) []int32 {
	var out []int32
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// pods returns the pod templates whose labels sel matches.
func (c *checker) pods(sel labels.Selector) []*corev1.PodTemplateSpec {
	var out []*corev1.PodTemplateSpec
	for _, o := range c.objs {
		if d, ok := o.Obj.(*appsv1.Deployment); ok && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, &d.Spec.Template)
		}
	}
	return out
}

func (c *checker) selects(what string, s *metav1.LabelSelector) {
	if s == nil {
		c.fail("%s without a selector", what)
		return
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		c.fail("selector: %v", err)
		return
	}
	if sel.Empty() || len(c.pods(sel)) == 0 {
		c.fail("selector %v matches no pod of the chart", sel)
	}
}

func (c *checker) service(s *corev1.Service) {
	if len(s.Spec.Ports) == 0 {
		c.fail("no ports")
	}
	sel := labels.SelectorFromSet(s.Spec.Selector)
	pods := c.pods(sel)
	if len(s.Spec.Selector) == 0 || len(pods) == 0 {
		c.fail("selector %v matches no pod of the chart", sel)
	}
	seen := map[string]bool{}
	for _, p := range s.Spec.Ports {
		for _, msg := range validation.IsValidPortName(p.Name) {
			c.fail("port name %q: %s", p.Name, msg)
		}
		if seen[p.Name] {
			c.fail("port name %q twice", p.Name)
		}
		seen[p.Name] = true
		for _, msg := range validation.IsValidPortNum(int(p.Port)) {
			c.fail("port %d: %s", p.Port, msg)
		}
		for _, pod := range pods {
			named := map[string]int32{}
			for _, ct := range pod.Spec.Containers {
				for _, cp := range ct.Ports {
					named[cp.Name] = cp.ContainerPort
				}
			}
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port)
			}
			c.portRef("port "+p.Name, target, named)
		}
	}
	if s.Spec.ExternalTrafficPolicy != "" && s.Spec.Type != corev1.ServiceTypeLoadBalancer && s.Spec.Type != corev1.ServiceTypeNodePort {
		c.fail("externalTrafficPolicy on a %s Service", s.Spec.Type)
	}
}

func (c *checker) hpa(h *autoscalingv2.HorizontalPodAutoscaler) {
	ref := h.Spec.ScaleTargetRef
	var target *appsv1.Deployment
	for _, o := range c.objs {
		if d, ok := o.Obj.(*appsv1.Deployment); ok && ref.Kind == "Deployment" && ref.APIVersion == "apps/v1" && d.Name == ref.Name {
			target = d
		}
	}
	if target == nil {
		c.fail("scaleTargetRef %s %s/%s is not a Deployment of the chart", ref.APIVersion, ref.Kind, ref.Name)
		return
	}
	if target.Spec.Replicas != nil {
		c.fail("Deployment %s sets replicas, which fights the autoscaler on every upgrade", target.Name)
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
		c.fail("minReplicas %v, maxReplicas %d", h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	for _, ct := range target.Spec.Template.Spec.Containers {
		if _, ok := ct.Resources.Requests[corev1.ResourceCPU]; !ok {
			c.fail("container %s has no CPU request: CPU utilisation cannot be computed", ct.Name)
		}
	}
}

func (c *checker) serviceMonitor(m *monitoringv1.ServiceMonitor) {
	sel, err := metav1.LabelSelectorAsSelector(&m.Spec.Selector)
	if err != nil || sel.Empty() {
		c.fail("selector %v: %v", sel, err)
		return
	}
	found := 0
	for _, o := range c.objs {
		s, ok := o.Obj.(*corev1.Service)
		if !ok || !sel.Matches(labels.Set(s.Labels)) {
			continue
		}
		found++
		for _, ep := range m.Spec.Endpoints {
			if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
				c.fail("Service %s has no port %q to scrape", s.Name, ep.Port)
			}
		}
	}
	if found == 0 {
		c.fail("selector %v matches no Service of the chart", sel)
	}
	if len(m.Spec.Endpoints) == 0 {
		c.fail("no endpoints")
	}
}

// Rules parses a PrometheusRule's groups as Prometheus itself would load
// them (rulefmt: known fields only, valid names, templates and PromQL), so
// a rule the operator would accept but Prometheus would reject fails here.
func Rules(spec monitoringv1.PrometheusRuleSpec) []error {
	b, err := yaml.Marshal(spec)
	if err != nil {
		return []error{err}
	}
	return ParseRules(b)
}

// ParseRules parses a Prometheus rules file.
func ParseRules(b []byte) []error {
	groups, errs := rulefmt.Parse(b, false, model.LegacyValidation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) == 0 && (groups == nil || len(groups.Groups) == 0) {
		errs = append(errs, errors.New("no rule groups"))
	}
	return errs
}
