{{- define "signet.name" -}}signet{{- end -}}

{{- define "signet.fullname" -}}
{{- if contains "signet" .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-signet" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "signet.labels" -}}
app.kubernetes.io/name: signet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "signet.selector" -}}
app.kubernetes.io/name: signet
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "signet.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "signet.tlsSecret" -}}{{ include "signet.fullname" . }}-{{ ternary "managed-tls" "tls" (eq .Values.tls.mode "managed") }}{{- end -}}

{{- /* signet.guard fails on a namespace shared with other workloads: anyone who
can create Pods in signet's namespace runs anything (it is excluded from the
webhooks) and, as signet's service account, reads what signet reads. */ -}}
{{- define "signet.guard" -}}
{{- if has .Release.Namespace (list "default" "kube-system" "kube-public" "kube-node-lease") -}}
{{- fail (printf "signet must not be installed in namespace %q: install it in a namespace of its own that only cluster administrators can write to (helm install --namespace signet-system --create-namespace); that namespace is excluded from signet's webhooks" .Release.Namespace) -}}
{{- end -}}
{{- $req := dig "requests" "memory" "" .Values.resources | toString -}}
{{- $lim := dig "limits" "memory" "" .Values.resources | toString -}}
{{- if or (not $lim) (ne $req $lim) -}}
{{- fail (printf "resources.requests.memory (%s) must equal resources.limits.memory (%s): signet must not be the first Pod evicted under memory pressure" $req $lim) -}}
{{- end -}}
{{- end -}}

{{- /* signet.pullSecrets: "true" when signet reads workloads' pull secrets. */ -}}
{{- define "signet.pullSecrets" -}}
{{- $ps := .Values.registryAuth.pullSecrets -}}
{{- if or $ps.clusterWide $ps.namespaces -}}true{{- else -}}false{{- end -}}
{{- end -}}

{{- define "signet.policyConfigMapData" -}}
policy.yaml: |
{{ toYaml .Values.policy | indent 2 }}
{{- end -}}

{{- /* signet.ipBlocks: NetworkPolicy peers for .cidrs, each without the .except
CIDRs of its address family. */ -}}
{{- define "signet.ipBlocks" -}}
{{- range .cidrs }}
{{- $v6 := contains ":" . }}
- ipBlock:
    cidr: {{ . | quote }}
    {{- $except := list }}
    {{- range $.except }}{{ if eq (contains ":" .) $v6 }}{{ $except = append $except . }}{{ end }}{{ end }}
    {{- with $except }}
    except: {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
{{- end }}
