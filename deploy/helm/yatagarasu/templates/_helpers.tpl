{{/* Names and labels. */}}
{{- define "yatagarasu.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "yatagarasu.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "yatagarasu.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "yatagarasu.selectorLabels" -}}
app.kubernetes.io/name: {{ include "yatagarasu.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "yatagarasu.labels" -}}
helm.sh/chart: {{ include "yatagarasu.chart" . }}
{{ include "yatagarasu.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Secret the pods take their environment from (created here or existing). */}}
{{- define "yatagarasu.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else }}
{{- include "yatagarasu.fullname" . }}
{{- end }}
{{- end }}

{{/* server.port of the rendered config (8080 when absent: the proxy's default). */}}
{{- define "yatagarasu.httpPort" -}}
{{- dig "server" "port" 8080 .Values.config | int }}
{{- end }}

{{/* metrics.port of the rendered config, or empty. */}}
{{- define "yatagarasu.metricsPort" -}}
{{- $p := dig "metrics" "port" "" .Values.config }}
{{- if $p }}{{ $p | int }}{{ end }}
{{- end }}

{{/* The port the probes and the ServiceMonitor use: metrics.port when set (it stays open
     during the drain), else the main port. */}}
{{- define "yatagarasu.probePort" -}}
{{- if include "yatagarasu.metricsPort" . }}metrics{{ else }}http{{ end }}
{{- end }}

{{/* Refuse values that would cut a drain short. */}}
{{- define "yatagarasu.validate" -}}
{{- $drain := dig "shutdown" "timeout_seconds" 30 .Values.config | int }}
{{- $sleep := .Values.preStopSleepSeconds | int }}
{{- $grace := .Values.terminationGracePeriodSeconds | int }}
{{- if le $grace (add $drain $sleep) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be greater than config.shutdown.timeout_seconds (%d) + preStopSleepSeconds (%d), or the kubelet SIGKILLs a drain still in progress" $grace $drain $sleep) }}
{{- end }}
{{- if and (not .Values.secret.existingSecret) (not .Values.secret.values) }}
{{- fail "set secret.values (the env vars of config's ${VAR}s) or secret.existingSecret" }}
{{- end }}
{{- end }}
