{{/* The chart's name, shortened to fit Kubernetes name limits. */}}
{{- define "switchyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: release-chart, or the release alone when it already holds the chart's name. */}}
{{- define "switchyard.fullname" -}}
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

{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "switchyard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "switchyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "switchyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchyard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The configuration as the gateway reads it: the user's config with both
listeners on every interface at the Service's ports and, for sqlite without a
path, the database on the data volume. Several replicas (or an autoscaler) on
sqlite or on in-memory limits would each keep their own keys, budgets and
counters, so the chart refuses them.
*/}}
{{- define "switchyard.config" -}}
{{- $cfg := deepCopy (default dict .Values.config) }}
{{- $_ := set $cfg "listen" (printf ":%d" (int .Values.service.port)) }}
{{- $admin := deepCopy (default dict $cfg.admin) }}
{{- $_ := set $admin "listen" (printf ":%d" (int .Values.service.adminPort)) }}
{{- $_ := set $cfg "admin" $admin }}
{{- $store := deepCopy (default dict $cfg.store) }}
{{- $driver := default "sqlite" $store.driver }}
{{- if and (eq $driver "sqlite") (not $store.dsn) }}
{{- $_ := set $store "dsn" "/var/lib/switchyard/switchyard.db" }}
{{- end }}
{{- $_ := set $cfg "store" $store }}
{{- $limits := default dict $cfg.limits }}
{{- $scaled := or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled }}
{{- if and $scaled (eq $driver "sqlite") }}
{{- fail "several replicas (replicaCount > 1 or autoscaling.enabled) need config.store.driver: postgres; a SQLite file belongs to one pod" }}
{{- end }}
{{- if and $scaled (ne (default "memory" $limits.backend) "redis") }}
{{- fail "several replicas (replicaCount > 1 or autoscaling.enabled) need config.limits.backend: redis, or each pod would keep its own rate limits and budgets" }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* The store driver the configuration selects. */}}
{{- define "switchyard.driver" -}}
{{- $store := default dict (default dict .Values.config).store }}
{{- default "sqlite" $store.driver }}
{{- end }}
