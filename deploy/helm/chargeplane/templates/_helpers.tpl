{{/* Names, labels and the settings shared by both Deployments. */}}

{{- define "chargeplane.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "chargeplane.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chargeplane
{{- end -}}

{{/* selectorLabels takes (list $ "core") or (list $ "gateway"). */}}
{{- define "chargeplane.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ $.Chart.Name }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "chargeplane.secretName" -}}
{{- .Values.secret.existingSecret | default (include "chargeplane.fullname" .) -}}
{{- end -}}

{{- define "chargeplane.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "chargeplane.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* image takes (list $ "api") or (list $ "gateway"). */}}
{{- define "chargeplane.image" -}}
{{- $ := index . 0 -}}
{{- $repo := index $.Values.image.repositories (index . 1) -}}
{{- if $.Values.image.digest -}}
{{- printf "%s@%s" $repo (index $.Values.image.digest (index . 1)) -}}
{{- else -}}
{{- printf "%s:%s" $repo ($.Values.image.tag | default $.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/*
Graceful stop: on SIGTERM a pod first waits preStopSleepSeconds (so that the
load balancer and kube-proxy stop sending it new connections), then the
binary drains within SHUTDOWN_TIMEOUT (the gateway spreads its socket closes
over DRAIN_WINDOW, at most half of it); terminationGracePeriodSeconds covers
both plus a margin, so the kubelet never kills a pod mid-drain.
*/}}
{{- define "chargeplane.gracePeriod" -}}
{{- add .Values.shutdown.preStopSleepSeconds .Values.shutdown.timeoutSeconds .Values.shutdown.marginSeconds -}}
{{- end -}}

{{- define "chargeplane.checkShutdown" -}}
{{- if gt (mul 2 (int .Values.shutdown.drainWindowSeconds)) (int .Values.shutdown.timeoutSeconds) -}}
{{- fail (printf "shutdown.drainWindowSeconds (%v) must be at most half of shutdown.timeoutSeconds (%v): the gateway leaves the other half to publish the disconnections" .Values.shutdown.drainWindowSeconds .Values.shutdown.timeoutSeconds) -}}
{{- end -}}
{{- end -}}

{{- define "chargeplane.checkControlTLS" -}}
{{- $c := .Values.controlTLS -}}
{{- if and $c.enabled (not $c.secretName) -}}
{{- fail "controlTLS.enabled needs controlTLS.secretName: a kubernetes.io/tls Secret with the cores' certificate (tls.crt, tls.key) and its CA (ca.crt)" -}}
{{- end -}}
{{- if and $c.gatewaySecretName (not $c.enabled) -}}
{{- fail "controlTLS.gatewaySecretName (mutual TLS) needs controlTLS.enabled" -}}
{{- end -}}
{{- end -}}

{{/* env takes (list $ component-values): the plain settings, then the secret ones. */}}
{{- define "chargeplane.env" -}}
{{- $ := index . 0 -}}
{{- $c := index . 1 -}}
{{- range $name, $value := $c.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range $name, $key := $c.secretEnv }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "chargeplane.secretName" $ }}
      key: {{ $key }}
{{- end }}
{{- end -}}

{{- define "chargeplane.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "chargeplane.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}
