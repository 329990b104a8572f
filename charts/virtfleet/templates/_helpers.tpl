{{/* The chart name, or nameOverride. */}}
{{- define "virtfleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's objects: fullnameOverride, or release and chart name. */}}
{{- define "virtfleet.fullname" -}}
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

{{- define "virtfleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "virtfleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "virtfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "virtfleet.labels" -}}
helm.sh/chart: {{ include "virtfleet.chart" . }}
{{ include "virtfleet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: virtfleet
{{- end }}

{{- define "virtfleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "virtfleet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Lease's namespace: leaderElection.namespace or the release namespace. */}}
{{- define "virtfleet.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{/* Which migrations count against the budget: namespace when one namespace is watched. */}}
{{- define "virtfleet.migrationBudgetScope" -}}
{{- if .Values.controller.migrationBudgetScope }}
{{- .Values.controller.migrationBudgetScope }}
{{- else if .Values.watchNamespace }}
{{- "namespace" }}
{{- else }}
{{- "cluster" }}
{{- end }}
{{- end }}

{{- define "virtfleet.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
