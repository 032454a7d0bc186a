{{/* Names, labels, images, paths and the per-pool-type tables the templates share. */}}

{{- define "poolcsi.driverName" -}}poolcsi.io{{- end }}

{{- define "poolcsi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "poolcsi.fullname" -}}
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

{{- define "poolcsi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "poolcsi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "poolcsi.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "poolcsi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* "repo:tag" from {repository, tag}; refuses an empty or floating tag. */}}
{{- define "poolcsi.image" -}}
{{- $tag := required (printf "image tag of %s is required" .repository) .tag }}
{{- if eq $tag "latest" }}{{ fail (printf "%s: pin a released tag, not latest" .repository) }}{{ end }}
{{- printf "%s:%s" .repository $tag }}
{{- end }}

{{- define "poolcsi.driverImage" -}}
{{- include "poolcsi.image" (dict "repository" .Values.image.repository "tag" (default .Chart.AppVersion .Values.image.tag)) }}
{{- end }}

{{- define "poolcsi.controllerServiceAccount" -}}
{{- default (printf "%s-controller" (include "poolcsi.fullname" .)) .Values.serviceAccount.controller.name }}
{{- end }}

{{- define "poolcsi.nodeServiceAccount" -}}
{{- default (printf "%s-node" (include "poolcsi.fullname" .)) .Values.serviceAccount.node.name }}
{{- end }}

{{- define "poolcsi.poolsConfigMap" -}}
{{- default (printf "%s-pools" (include "poolcsi.fullname" .)) .Values.poolsConfigMap.name }}
{{- end }}

{{/* CSI sockets. Controller: an emptyDir shared by the driver and its sidecars. Node: the
     kubelet's plugin directory, where kubelet finds the socket it registered. */}}
{{- define "poolcsi.socketDir" -}}/csi{{- end }}
{{- define "poolcsi.socketPath" -}}/csi/csi.sock{{- end }}
{{- define "poolcsi.nodePluginDir" -}}{{ trimSuffix "/" .Values.kubeletDir }}/plugins/{{ include "poolcsi.driverName" . }}{{- end }}

{{/* The driver's own arguments, common to both modes. */}}
{{- define "poolcsi.serveArgs" -}}
- serve
- --endpoint=unix://{{ include "poolcsi.socketPath" . }}
- --pools-configmap={{ .Release.Namespace }}/{{ include "poolcsi.poolsConfigMap" . }}
- --log-level={{ .Values.logLevel }}
{{- end }}

{{/* Agent wiring: the only place that knows the agent's flags and files.
     Node: serve the agent on the host network with the server certificate; the certificate
     names poolcsi-agent (poolcsi.agentServerName), which the controller verifies instead of an
     IP. Controller: find each node's agent at its InternalIP on agent.port, with the client
     certificate. Both trust only the CA in ca.crt. */}}
{{- define "poolcsi.agentServerName" -}}poolcsi-agent{{- end }}
{{- define "poolcsi.agentClientName" -}}{{ include "poolcsi.fullname" . }}-controller{{- end }}
{{- define "poolcsi.agentTlsDir" -}}/etc/poolcsi/agent-tls{{- end }}
{{- define "poolcsi.agentServerSecret" -}}{{ include "poolcsi.fullname" . }}-agent-server{{- end }}
{{- define "poolcsi.agentClientSecret" -}}{{ include "poolcsi.fullname" . }}-agent-client{{- end }}

{{- define "poolcsi.agentNodeArgs" -}}
{{- if .Values.agent.enabled -}}
- --agent-listen=0.0.0.0:{{ .Values.agent.port }}
- --agent-tls-dir={{ include "poolcsi.agentTlsDir" . }}
- --agent-client-name={{ include "poolcsi.agentClientName" . }}
{{- end }}
{{- end }}

{{- define "poolcsi.agentControllerArgs" -}}
{{- if .Values.agent.enabled -}}
- --agents=nodes:{{ .Values.agent.port }}
- --agent-tls-dir={{ include "poolcsi.agentTlsDir" . }}
{{- end }}
{{- end }}

{{/* Pool types. Node-local pools live on one node; shared pools are reachable from many.
     Each type's KubeVirt CDI profile: the claim property sets CDI offers (first = default for
     DataVolumes that name none) and how CDI clones: csi-clone where the backend clones thin
     (lvmthin, zfs, rbd), snapshot where the target host snapshots, copy otherwise. */}}
{{- define "poolcsi.cdiProfiles" -}}
dir:
  cloneStrategy: copy
  claimPropertySets: [{accessModes: [ReadWriteOnce], volumeMode: Filesystem}]
lvm:
  cloneStrategy: copy
  claimPropertySets: [{accessModes: [ReadWriteOnce], volumeMode: Block}, {accessModes: [ReadWriteOnce], volumeMode: Filesystem}]
lvmthin:
  cloneStrategy: csi-clone
  claimPropertySets: [{accessModes: [ReadWriteOnce], volumeMode: Block}, {accessModes: [ReadWriteOnce], volumeMode: Filesystem}]
zfspool:
  cloneStrategy: csi-clone
  claimPropertySets: [{accessModes: [ReadWriteOnce], volumeMode: Block}, {accessModes: [ReadWriteOnce], volumeMode: Filesystem}]
zfs-iscsi:
  cloneStrategy: csi-clone
  claimPropertySets: [{accessModes: [ReadWriteMany], volumeMode: Block}, {accessModes: [ReadWriteOnce], volumeMode: Block}, {accessModes: [ReadWriteOnce], volumeMode: Filesystem}]
rbd:
  cloneStrategy: csi-clone
  claimPropertySets: [{accessModes: [ReadWriteMany], volumeMode: Block}, {accessModes: [ReadWriteOnce], volumeMode: Block}, {accessModes: [ReadWriteOnce], volumeMode: Filesystem}]
iscsi:
  cloneStrategy: snapshot
  claimPropertySets: [{accessModes: [ReadWriteMany], volumeMode: Block}, {accessModes: [ReadWriteOnce], volumeMode: Block}, {accessModes: [ReadWriteOnce], volumeMode: Filesystem}]
iscsi-luns:
  cloneStrategy: copy
  claimPropertySets: [{accessModes: [ReadWriteMany], volumeMode: Block}, {accessModes: [ReadWriteOnce], volumeMode: Block}, {accessModes: [ReadWriteOnce], volumeMode: Filesystem}]
nfs:
  cloneStrategy: copy
  claimPropertySets: [{accessModes: [ReadWriteMany], volumeMode: Filesystem}, {accessModes: [ReadWriteOnce], volumeMode: Filesystem}]
{{- end }}

{{/* pool id -> pool, from values.pools; fails on a duplicate id (the JSON Schema can't). */}}
{{- define "poolcsi.poolsById" -}}
{{- $byId := dict }}
{{- range .Values.pools }}
{{- if hasKey $byId .id }}{{ fail (printf "pools: duplicate pool id %q" .id) }}{{ end }}
{{- $_ := set $byId .id . }}
{{- end }}
{{- toYaml $byId }}
{{- end }}

{{/* A StorageClass's CDI profile: its own `cdi` settings over its pool type's defaults.
     Called with (dict "sc" $sc "root" $). Empty when neither is known. */}}
{{- define "poolcsi.cdiProfile" -}}
{{- $pools := include "poolcsi.poolsById" .root | fromYaml }}
{{- $profiles := include "poolcsi.cdiProfiles" .root | fromYaml }}
{{- $profile := dict }}
{{- $pool := get $pools .sc.pool }}
{{- if and $pool .root.Values.poolsConfigMap.create }}
{{- $profile = deepCopy (get $profiles $pool.type | default dict) }}
{{- end }}
{{- $profile = mergeOverwrite $profile (deepCopy (.sc.cdi | default dict)) }}
{{- if $profile }}{{ toYaml $profile }}{{ end }}
{{- end }}

{{/* Security context of every sidecar: they only need the socket and the API server. The
     user comes from the pod: 65532 in the controller; root on the node, where the registrar
     writes into kubelet's plugins_registry and the driver's socket belongs to root. */}}
{{- define "poolcsi.sidecarSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end }}
{{/* Leader election of a controller sidecar. Called with (dict "root" . "gates" "A=x,"): the
     sidecar's other feature gates, each followed by a comma. The lease is released when the
     sidecar stops on SIGTERM, so a rollout or a deleted pod hands over at once; the long lease
     is only waited out after a crash. */}}
{{- define "poolcsi.leaderElectionArgs" -}}
{{- $le := .root.Values.controller.leaderElection -}}
- --leader-election
- --leader-election-namespace={{ .root.Release.Namespace }}
- --leader-election-lease-duration={{ $le.leaseDuration }}
- --leader-election-renew-deadline={{ $le.renewDeadline }}
- --leader-election-retry-period={{ $le.retryPeriod }}
- --feature-gates={{ .gates | default "" }}ReleaseLeaderElectionOnExit=true
{{- end }}

{{/* Ports, leader-election liveness, security context and the socket mount of a controller
       sidecar. Called with (dict "port" N "resources" R). */}}
{{- define "poolcsi.sidecarCommon" -}}
ports:
  - {name: http-{{ .port }}, containerPort: {{ .port }}}
# Restart a leader that can no longer renew its lease (csi-lib-utils#66).
livenessProbe:
  httpGet: {path: /healthz/leader-election, port: {{ .port }}}
  periodSeconds: 20
  timeoutSeconds: 10
  failureThreshold: 3
securityContext: {{- include "poolcsi.sidecarSecurityContext" . | nindent 2 }}
{{- with .resources }}
resources: {{- toYaml . | nindent 2 }}
{{- end }}
volumeMounts:
  - {name: socket-dir, mountPath: {{ include "poolcsi.socketDir" . }}}
{{- end }}

{{/* Host directories the node plugin sees at their own path: each dir pool's directory
     (when the chart renders the pools) and node.extraHostPaths. A YAML list of {name, path}. */}}
{{- define "poolcsi.nodeHostPaths" -}}
{{- $paths := list }}
{{- $seen := dict }}
{{- if .Values.poolsConfigMap.create }}
{{- range .Values.pools }}
{{- if and (eq .type "dir") (not (hasKey $seen .path)) }}
{{- $_ := set $seen .path true }}
{{- $paths = append $paths (dict "name" (printf "pool-%s" .id) "path" .path) }}
{{- end }}
{{- end }}
{{- end }}
{{- range .Values.node.extraHostPaths }}
{{- if not (hasKey $seen .path) }}
{{- $_ := set $seen .path true }}
{{- $paths = append $paths (dict "name" (printf "host-%s" .name) "path" .path) }}
{{- end }}
{{- end }}
{{- toYaml $paths }}
{{- end }}

{{/* A Role or ClusterRole and its binding to one ServiceAccount of the release.
     (dict "root" $ "kind" "Role|ClusterRole" "name" N "sa" SA "rules" YAML ["namespace" NS]) */}}
{{- define "poolcsi.rbac" -}}
{{- $ns := .namespace | default .root.Release.Namespace }}
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ .kind }}
metadata:
  name: {{ .name }}
  {{- if eq .kind "Role" }}
  namespace: {{ $ns }}
  {{- end }}
  labels:
    {{- include "poolcsi.labels" .root | nindent 4 }}
rules:
  {{- .rules | trim | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ .kind }}Binding
metadata:
  name: {{ .name }}
  {{- if eq .kind "Role" }}
  namespace: {{ $ns }}
  {{- end }}
  labels:
    {{- include "poolcsi.labels" .root | nindent 4 }}
subjects:
  - kind: ServiceAccount
    name: {{ .sa }}
    namespace: {{ .root.Release.Namespace }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: {{ .kind }}
  name: {{ .name }}
{{- end }}

{{/* Image and args of the liveness-probe container: `poolcsi health` from the driver's image,
     or the upstream livenessprobe. Called with (dict "root" $ "port" N). */}}
{{- define "poolcsi.livenessProbeContainer" -}}
{{- $sc := .root.Values.sidecars }}
{{- if eq $sc.livenessProbe.implementation "poolcsi" -}}
image: {{ include "poolcsi.driverImage" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
args:
  - health
  - --csi-address={{ include "poolcsi.socketPath" .root }}
  - --http-endpoint=:{{ .port }}
{{- else -}}
image: {{ include "poolcsi.image" $sc.livenessProbe.image }}
imagePullPolicy: {{ $sc.pullPolicy }}
args:
  - --csi-address={{ include "poolcsi.socketPath" .root }}
  - --http-endpoint=:{{ .port }}
{{- end }}
{{- end }}
