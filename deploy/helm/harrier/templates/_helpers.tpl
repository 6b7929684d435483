{{- define "harrier.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "harrier.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "harrier.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{- define "harrier.selectorLabels" -}}
app.kubernetes.io/name: {{ include "harrier.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "harrier.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "harrier.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "harrier.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "harrier.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "harrier.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.registry -}}
{{- printf "%s/%s:%s" .Values.image.registry .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* harrier.yaml: the `harrier:` passthrough, with the chart's toggles applied. */}}
{{- define "harrier.config" -}}
{{- $cfg := deepCopy .Values.harrier -}}
{{- $_ := set $cfg "buf_size_preset" .Values.driver.modernEbpf.bufSizePreset -}}
{{- $_ := set $cfg "engine" (dict "kind" "modern_ebpf") -}}
{{- $metrics := default (dict) (get $cfg "metrics") -}}
{{- $_ := set $metrics "enabled" .Values.metrics.enabled -}}
{{- $_ := set $metrics "interval" .Values.metrics.interval -}}
{{- $_ := set $cfg "metrics" $metrics -}}
{{- $web := default (dict) (get $cfg "webserver") -}}
{{- $_ := set $web "prometheus_metrics_enabled" .Values.metrics.enabled -}}
{{- $_ := set $cfg "webserver" $web -}}
{{- if .Values.falcosidekick.enabled -}}
{{- $cfg = mergeOverwrite $cfg (deepCopy .Values.falcosidekick.config) -}}
{{- end -}}
{{- if .Values.falcosidekick.webui.enabled -}}
{{- $ui := default (dict) (get $cfg "ui") -}}
{{- $_ := set $ui "enabled" true -}}
{{- $_ := set $cfg "ui" $ui -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}
