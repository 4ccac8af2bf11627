{{/* The name of every object: the release name, or <release>-mcp-runtime when it lacks the chart name. */}}
{{- define "mcp-runtime.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Selector labels: immutable, so only what identifies the control plane's pods. */}}
{{- define "mcp-runtime.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: control-plane
{{- end -}}

{{/* Labels of every object (the same keys as the kustomize base, plus Helm's). */}}
{{- define "mcp-runtime.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: mcp-runtime
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "mcp-runtime.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* How many plugin sources are set: the schema cannot express "at most one" across keys. */}}
{{- define "mcp-runtime.pluginSources" -}}
{{- $n := 0 -}}
{{- if .Values.plugins.configMap.name }}{{ $n = add1 $n }}{{ end -}}
{{- if .Values.plugins.existingClaim }}{{ $n = add1 $n }}{{ end -}}
{{- if .Values.plugins.image.reference }}{{ $n = add1 $n }}{{ end -}}
{{- $n -}}
{{- end -}}

{{/* A label map as the key=value[,key=value] selector the control plane's settings take. */}}
{{- define "mcp-runtime.labelSelector" -}}
{{- $pairs := list -}}
{{- range $k, $v := . }}{{ $pairs = append $pairs (printf "%s=%s" $k $v) }}{{ end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* What the control plane needs in each namespace it serves. */}}
{{- define "mcp-runtime.serverRules" -}}
- apiGroups: ["mcp-runtime.dev"]
  resources: ["mcpservers"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["mcp-runtime.dev"]
  resources: ["mcpservers/status"]
  verbs: ["get", "update", "patch"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: [""]
  resources: ["services", "secrets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# Referenced ConfigMaps: read to check and hash what a server uses, watched (metadata) so a
# change reaches the servers that use them.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "delete"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["get", "list", "create", "patch"]
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
{{- end -}}

{{/* Whether every namespace is served (namespaces: ["*"]). */}}
{{- define "mcp-runtime.allNamespaces" -}}
{{- if has "*" .Values.namespaces }}true{{ end -}}
{{- end -}}

{{/* Whether the release's own namespace is one it serves (it is when none are listed). */}}
{{- define "mcp-runtime.servesOwn" -}}
{{- if or (empty .Values.namespaces) (has .Release.Namespace .Values.namespaces) }}true{{ end -}}
{{- end -}}
