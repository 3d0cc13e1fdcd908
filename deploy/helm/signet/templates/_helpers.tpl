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

{{- define "signet.tlsSecret" -}}
{{- if eq .Values.tls.mode "secret" -}}
{{- required "tls.mode secret needs tls.secret.name: your kubernetes.io/tls Secret in the release namespace" .Values.tls.secret.name -}}
{{- else -}}
{{ include "signet.fullname" . }}-{{ ternary "managed-tls" "tls" (eq .Values.tls.mode "managed") }}
{{- end -}}
{{- end -}}

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
{{ include "signet.policy" . | indent 2 }}
{{- end -}}

{{- /* signet.policy: .Values.policy and, when selfVerification.key is set,
a cosign validator "signet-release" trusting that key and a rule for each of
selfVerification.repositories (default: image.repository) using it, so that
signet's own image is verified with its release key. */ -}}
{{- define "signet.policy" -}}
{{- $policy := deepCopy .Values.policy }}
{{- with .Values.selfVerification }}
{{- if .key }}
{{- $validator := dict "name" "signet-release" "type" "cosign" "trustRoots" (list (dict "name" "release" "key" .key)) }}
{{- $_ := set $policy "validators" (append ($policy.validators | default list) $validator) }}
{{- $rules := $policy.rules | default list }}
{{- range (.repositories | default (list $.Values.image.repository)) }}
{{- $rules = append $rules (dict "pattern" . "validator" "signet-release") }}
{{- end }}
{{- $_ := set $policy "rules" $rules }}
{{- end }}
{{- end }}
{{- toYaml $policy }}
{{- end -}}

{{- /* signet.policyObject: "true" when the chart makes its policy values
the ClusterImagePolicy signet.defaultPolicyName: policySource cluster and
the CRD served. Helm resolves every object's kind before it creates any,
so on the install that also creates the CRDs (crds.install) the object
cannot be made: that install serves the same values as a file instead
(--policy next to --policy-source=cluster, "file:PATH"), and the first
upgrade makes the object and drops the file. */ -}}
{{- define "signet.policyObject" -}}
{{- if and (eq .Values.policySource "cluster") (.Capabilities.APIVersions.Has "signet.dev/v1alpha1/ClusterImagePolicy") }}true{{ end }}
{{- end -}}

{{- /* signet.defaultPolicyName: the ClusterImagePolicy the chart makes of
its policy values when policySource is cluster. */ -}}
{{- define "signet.defaultPolicyName" -}}
{{ include "signet.fullname" . }}-default
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

{{- /* signet.bundleVolume: a volume .name holding the key .from.key of the
Secret .from.secretName or the ConfigMap .from.configMapName; nothing when
neither is set. */ -}}
{{- define "signet.bundleVolume" -}}
{{- $items := list (dict "key" .from.key "path" .from.key) | toJson }}
{{- if .from.secretName }}
- name: {{ .name }}
  secret: {secretName: {{ .from.secretName | quote }}, items: {{ $items }}}
{{- else if .from.configMapName }}
- name: {{ .name }}
  configMap: {name: {{ .from.configMapName | quote }}, items: {{ $items }}}
{{- end }}
{{- end }}

{{- /* signet.plural: the resource name the API server serves a kind as, by
the rule controller-gen and kubebuilder use (Rollout → rollouts, Policy →
policies, Ingress → ingresses). A CRD that names its plural otherwise is
listed in webhook.resources. */ -}}
{{- define "signet.plural" -}}
{{- $k := lower . -}}
{{- if regexMatch "(s|x|z|ch|sh)$" $k -}}{{ $k }}es
{{- else if regexMatch "[^aeiou]y$" $k -}}{{ trimSuffix "y" $k }}ies
{{- else -}}{{ $k }}s
{{- end -}}
{{- end -}}

{{- /* signet.resourceRules: webhook rules for the kinds beyond the built-in
ones: those policy.resources declares, and webhook.resources (kinds that
ClusterImagePolicies applied outside the chart declare, or a plural that
signet.plural does not guess). */ -}}
{{- define "signet.resourceRules" -}}
{{- range .Values.policy.resources }}
- apiGroups: [{{ .group | quote }}]
  apiVersions: [{{ .version | quote }}]
  operations: [CREATE, UPDATE]
  resources: [{{ include "signet.plural" .kind | quote }}]
  scope: "*"
{{- end }}
{{- range .Values.webhook.resources }}
- apiGroups: [{{ .group | quote }}]
  apiVersions: [{{ .version | quote }}]
  operations: [CREATE, UPDATE]
  resources: [{{ .resource | quote }}]
  scope: "*"
{{- end }}
{{- end -}}

{{- /* signet.reverifyLease: the Lease the re-verifier's replicas elect a leader with. */ -}}
{{- define "signet.reverifyLease" -}}
{{- .Values.reverify.leaseName | default (printf "%s-reverifier" (include "signet.fullname" .)) -}}
{{- end -}}
