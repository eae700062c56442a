{{/* Labels of every object: the selector's, and who manages it. */}}
{{- define "kspan.labels" -}}
app.kubernetes.io/name: kspan-rs
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{/* The rules on what kspan-rs watches, shared by the ClusterRole and the Role:
get/list/watch on exactly the kinds it watches, create/patch on its own Events;
nothing on secrets or configmaps. */}}
{{- define "kspan.watchRules" -}}
- apiGroups: [""]
  resources: {{ if .Values.namespaced }}[events, pods]{{ else }}[events, pods, nodes]{{ end }}
  verbs: [get, list, watch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [deployments, replicasets, statefulsets, daemonsets]
  verbs: [get, list, watch]
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [get, list, watch]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch]
# Its own failures, reported as Events on its own Pod.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
