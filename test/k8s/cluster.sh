#!/usr/bin/env bash
# A single-node Kubernetes on this host for the k8s lane: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, snapshot-controller, containerd + runc, and a kubelet.
#   cluster.sh up      start everything (binaries from build-go.sh, images from build-images.sh)
#   cluster.sh down    stop what `up` started (by recorded pid), remove pods' leftovers, the
#                      bridge, the mounts, and restore the sysctls the kubelet changed
# Networking stays on one bridge of the lane's own ($BRIDGE): it carries the pod network
# (10.244.0.0/24, the host is 10.244.0.1 and is the node's address) and the API server's
# address 10.96.0.1, which is also the `kubernetes` Service's ClusterIP — so pods reach the
# API server without kube-proxy. etcd and the components' health ports are on 127.0.0.1.
# State: $POOLCSI_K8S_STATE (default /var/tmp/poolcsi-k8s); logs in $STATE/logs.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$HERE/versions.env"
CACHE=${POOLCSI_K8S_CACHE:-/var/tmp/poolcsi-cache/k8s}
STATE=${POOLCSI_K8S_STATE:-/var/tmp/poolcsi-k8s}
export PATH=$PATH:/usr/local/go/bin
NODE=${POOLCSI_K8S_NODE:-poolcsi-node-1}
BRIDGE=poolcsik8s0
NODE_IP=10.244.0.1
API_IP=10.96.0.1
KUBELET_DIR=/var/lib/kubelet
HOSTPATHS=(/run/udev /run/lvm /run/lock/lvm /etc/iscsi)
PKI=$STATE/pki
LOGS=$STATE/logs
PIDS=$STATE/pids
CT=$STATE/containerd
SOCK=$CT/containerd.sock
bin() { echo "$CACHE/bin/$1-$2/$1"; }
kubectl() { "$(bin kubectl "$K8S_VERSION")" --kubeconfig "$STATE/admin.kubeconfig" "$@"; }

# wait_for SECONDS WHAT CMD...: poll CMD until it succeeds, or fail after SECONDS.
wait_for() {
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs)) delay=0.1
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then echo "cluster: timed out after ${secs}s waiting for $what" >&2; return 1; fi
    sleep "$delay"
    delay=$(awk -v d="$delay" 'BEGIN { d *= 2; print (d > 2 ? 2 : d) }')
  done
}

start() { # name cmd...
  local n=$1; shift
  if [[ -f $PIDS/$n.pid ]] && kill -0 "$(cat "$PIDS/$n.pid")" 2>/dev/null; then return 0; fi
  setsid "$@" >"$LOGS/$n.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$n.pid"
}

alive() { [[ -f $PIDS/$1.pid ]] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }

pki() {
  # Kept across runs; made anew when any certificate is within a day of its 30-day end.
  if [[ -f $PKI/ca.crt ]]; then
    local c fresh=1
    for c in "$PKI"/*.crt; do openssl x509 -checkend 86400 -noout -in "$c" >/dev/null || fresh=; done
    [[ -n $fresh ]] && return 0
    rm -rf "$PKI"
  fi
  mkdir -p "$PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj /CN=poolcsi-k8s-lane-ca 2>/dev/null
    cert() { # name subject [subjectAltName]
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        if [[ -n ${3:-} ]]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$3"
        else echo "extendedKeyUsage=clientAuth"; fi
      } >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 30 -extfile "$1.ext" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    cert apiserver /CN=kube-apiserver "IP:$API_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    cert admin "/O=system:masters/CN=lane-admin"
    cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
    cert controller-manager /CN=system:kube-controller-manager
    cert scheduler /CN=system:kube-scheduler
    cert snapshot-controller "/O=system:masters/CN=snapshot-controller"
    cert kubelet "/O=system:nodes/CN=system:node:$NODE" "IP:$NODE_IP,DNS:$NODE"
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
  local u
  for u in admin controller-manager scheduler snapshot-controller kubelet; do
    cat >"$STATE/$u.kubeconfig" <<EOT
apiVersion: v1
kind: Config
clusters: [{name: lane, cluster: {server: "https://$API_IP:443", certificate-authority: $PKI/ca.crt}}]
users: [{name: $u, user: {client-certificate: $PKI/$u.crt, client-key: $PKI/$u.key}}]
contexts: [{name: lane, context: {cluster: lane, user: $u}}]
current-context: lane
EOT
  done
}

bridge() {
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  ip addr show dev "$BRIDGE" | grep -q "inet $NODE_IP/" || ip addr add "$NODE_IP/24" dev "$BRIDGE"
  ip addr show dev "$BRIDGE" | grep -q "inet $API_IP/" || ip addr add "$API_IP/32" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

control_plane() {
  local etcd=/usr/bin/etcd
  start etcd "$etcd" --name lane --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
    --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
    --initial-cluster lane=http://127.0.0.1:23800 --listen-metrics-urls http://127.0.0.1:23810
  wait_for 60 etcd curl -fsS http://127.0.0.1:23790/health
  start kube-apiserver "$(bin kube-apiserver "$K8S_VERSION")" \
    --bind-address=$API_IP --advertise-address=$API_IP --secure-port=443 \
    --etcd-servers=http://127.0.0.1:23790 \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" --client-ca-file="$PKI/ca.crt" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.96.0.0/24 --allow-privileged=true --profiling=false
  wait_for 120 "kube-apiserver /readyz" kubectl get --raw /readyz
  start kube-controller-manager "$(bin kube-controller-manager "$K8S_VERSION")" \
    --kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" --use-service-account-credentials=true \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --controllers='*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller'
  start kube-scheduler "$(bin kube-scheduler "$K8S_VERSION")" --kubeconfig="$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/scheduler.kubeconfig" --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false
  wait_for 60 "the default ServiceAccount" kubectl -n default get serviceaccount default
}

snapshot_controller() {
  local crds
  crds=$(GOFLAGS=-mod=mod go env GOMODCACHE)/github.com/kubernetes-csi/external-snapshotter/client/v8@$SNAPSHOTTER_VERSION/config/crd
  local f
  for f in snapshot.storage.k8s.io_volumesnapshotclasses.yaml snapshot.storage.k8s.io_volumesnapshotcontents.yaml snapshot.storage.k8s.io_volumesnapshots.yaml; do
    kubectl apply --server-side -f "$crds/$f" >/dev/null
  done
  wait_for 60 "VolumeSnapshot CRDs" kubectl get volumesnapshots -A
  start snapshot-controller "$(bin snapshot-controller "$SNAPSHOTTER_VERSION")" \
    --kubeconfig="$STATE/snapshot-controller.kubeconfig" --leader-election=false --feature-gates=CSIVolumeGroupSnapshot=false
}

containerd_up() {
  mkdir -p "$CT" "$STATE/cni/net.d"
  # runc fails every sandbox here (root lacks CAP_SYS_RESOURCE, runc writes oom_score_adj
  # -998): containerd runs runc through runc-oom-clamp.sh.
  cat >"$CT/config.toml" <<EOT
version = 2
root = "$CT/root"
state = "$CT/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = "$SOCK.debug"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "poolcsi.local/pause:1"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$HERE/runc-oom-clamp.sh"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOT
  cat >"$STATE/cni/net.d/10-poolcsi-lane.conflist" <<EOT
{"cniVersion": "0.4.0", "name": "poolcsi-lane", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam",
            "ranges": [[{"subnet": "10.244.0.0/24", "gateway": "$NODE_IP"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "loopback"}]}
EOT
  start containerd containerd --config "$CT/config.toml"
  wait_for 60 containerd ctr -a "$SOCK" version
  # The images this run uses (containerd keeps them in $STATE across runs: a warm run imports
  # nothing): pause and busybox, the sidecars at versions.env, poolcsi at the current source.
  local key have ref tar
  key=$(bash "$HERE/build-images.sh" poolcsi-key)
  have=$(ctr -a "$SOCK" -n k8s.io images ls -q)
  # Images of older source states of poolcsi: removed, so the lane's containerd does not grow.
  for ref in $(grep '^ghcr.io/poolcsi/poolcsi:lane-' <<<"$have" || true); do
    [[ $ref == "ghcr.io/poolcsi/poolcsi:lane-$key" ]] || ctr -a "$SOCK" -n k8s.io images rm "$ref" >/dev/null 2>&1 || true
  done
  while read -r ref tar; do
    grep -qxF "$ref" <<<"$have" && continue
    ctr -a "$SOCK" -n k8s.io images import "$CACHE/images/$tar" >/dev/null
  done <<EOT
poolcsi.local/pause:1 pause-1.tar
poolcsi.local/busybox:1 busybox-1.tar
registry.k8s.io/sig-storage/csi-provisioner:$PROVISIONER_VERSION csi-provisioner-$PROVISIONER_VERSION.tar
registry.k8s.io/sig-storage/csi-attacher:$ATTACHER_VERSION csi-attacher-$ATTACHER_VERSION.tar
registry.k8s.io/sig-storage/csi-resizer:$RESIZER_VERSION csi-resizer-$RESIZER_VERSION.tar
registry.k8s.io/sig-storage/csi-snapshotter:$SNAPSHOTTER_VERSION csi-snapshotter-$SNAPSHOTTER_VERSION.tar
ghcr.io/poolcsi/poolcsi:lane-$key poolcsi-$key.tar
EOT
}

# "<command> <table> <chain>" for every KUBE-* chain of IPv4 and IPv6 iptables.
iptables_chains() {
  local cmd t
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for t in filter nat mangle; do
      "$cmd" -w 5 -t "$t" -S 2>/dev/null | awk -v c="$cmd" -v t="$t" '$1 == "-N" && $2 ~ /^KUBE-/ { print c, t, $2 }'
    done
  done
}

kubelet_up() {
  # Remove the kubelet's directory at `down` only if this lane made it.
  [[ -f $STATE/kubelet-dir-existed ]] || { [[ -e $KUBELET_DIR ]] && echo yes || echo no; } >"$STATE/kubelet-dir-existed"
  mkdir -p "$KUBELET_DIR/plugins_registry" "$STATE/static-pods"
  # The kubelet changes these host sysctls: `down` puts them back.
  [[ -f $STATE/sysctl-before ]] || sysctl -e vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops \
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes >"$STATE/sysctl-before"
  # Host directories the chart's hostPath volumes create (DirectoryOrCreate): `down` removes
  # the ones that did not exist before, if they are empty.
  [[ -f $STATE/hostpaths-before ]] || for d in "${HOSTPATHS[@]}"; do [[ -e $d ]] && echo "$d"; done >"$STATE/hostpaths-before"
  # The kubelet adds KUBE-* chains (its iptables canaries): `down` removes the ones it added.
  [[ -f $STATE/iptables-before ]] || iptables_chains >"$STATE/iptables-before"
  # The CNI's network namespaces (cni-*) that are not this lane's: `down` leaves them alone.
  [[ -f $STATE/netns-before ]] || { ip netns list 2>/dev/null | awk '/^cni-/ {print $1}' || true; } >"$STATE/netns-before"
  # Was /var/lib/kubelet a mount point before? The kubelet bind-mounts it on itself (rshared).
  [[ -f $STATE/kubelet-dir-mounted ]] || { mountpoint -q "$KUBELET_DIR" && echo yes || echo no; } >"$STATE/kubelet-dir-mounted"
  cat >"$STATE/kubelet-config.yaml" <<EOT
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: $PKI/ca.crt}}
authorization: {mode: Webhook}
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$SOCK
staticPodPath: $STATE/static-pods
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
registerNode: true
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
localStorageCapacityIsolation: false
EOT
  start kubelet "$(bin kubelet "$K8S_VERSION")" --config="$STATE/kubelet-config.yaml" \
    --kubeconfig="$STATE/kubelet.kubeconfig" --hostname-override="$NODE" --node-ip=$NODE_IP \
    --root-dir="$KUBELET_DIR" --v=2
  wait_for 180 "node $NODE Ready" sh -c "'$(bin kubectl "$K8S_VERSION")' --kubeconfig '$STATE/admin.kubeconfig' get node '$NODE' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
}

up() {
  mkdir -p "$STATE" "$LOGS" "$PIDS"
  # Every run starts from an empty cluster and empty pools (a failed run's objects would make
  # `helm install` refuse); the PKI and containerd's images are kept. Logs of the last run stay
  # in $LOGS until this point.
  if ! alive etcd; then
    grep -q " $STATE/pools[/ ]" /proc/self/mountinfo && { echo "cluster: $STATE/pools is still mounted (run down first)" >&2; exit 1; }
    rm -rf "$STATE/etcd" "$STATE/pools" "$STATE/cni/ipam"
    rm -f "$LOGS"/*.log
  fi
  echo "$$" >"$STATE/owner"
  pki
  bridge
  control_plane
  snapshot_controller
  containerd_up
  kubelet_up
  echo "cluster: up (KUBECONFIG=$STATE/admin.kubeconfig)"
}

stop_pid() { # name [signal-wait-seconds]
  local f=$PIDS/$1.pid p
  [[ -f $f ]] || return 0
  p=$(cat "$f")
  if kill "$p" 2>/dev/null; then
    local end=$((SECONDS + ${2:-15}))
    while kill -0 "$p" 2>/dev/null && ((SECONDS < end)); do sleep 0.2; done
    kill -9 "$p" 2>/dev/null || true
  fi
  rm -f "$f"
}

down() {
  [[ -d $STATE ]] || return 0
  stop_pid kubelet 20
  # Containers outlive containerd (shims): kill and delete every task and container it has.
  if alive containerd; then
    local id
    for id in $(ctr -a "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
      # --all: in a hostPID pod (the node plugin) killing the init process leaves its children,
      # and the task does not stop until they are gone too.
      ctr -a "$SOCK" -n k8s.io tasks kill --all -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    for id in $(ctr -a "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
      wait_for 20 "task $id to stop" sh -c "ctr -a '$SOCK' -n k8s.io tasks delete '$id'" || ctr -a "$SOCK" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
    done
    for id in $(ctr -a "$SOCK" -n k8s.io containers ls -q 2>/dev/null); do
      ctr -a "$SOCK" -n k8s.io containers delete "$id" >/dev/null 2>&1 || true
    done
  fi
  for n in snapshot-controller containerd kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_pid "$n"; done
  for f in "$PIDS"/*.pid; do [[ -f $f ]] && stop_pid "$(basename "$f" .pid)"; done
  # Shims of containers that were not deleted: only those whose containerd was ours.
  local p
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $SOCK" || true); do kill -9 "$p" 2>/dev/null || true; done
  # Mounts left under our state and the kubelet's pods (deepest first), then the kubelet's
  # self bind-mount of its directory.
  local m
  for m in $(awk -v a="$STATE/" -v b="$KUBELET_DIR/" '{ if (index($5, a) == 1 || index($5, b) == 1) print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  if [[ $(cat "$STATE/kubelet-dir-mounted" 2>/dev/null) == no ]]; then
    while mountpoint -q "$KUBELET_DIR"; do umount -l "$KUBELET_DIR" || break; done
  fi
  rm -f "$STATE/kubelet-dir-mounted"
  if [[ $(cat "$STATE/kubelet-dir-existed" 2>/dev/null) == no ]] && ! grep -q " $KUBELET_DIR[/ ]" /proc/self/mountinfo; then
    rm -rf --one-file-system "$KUBELET_DIR"
  fi
  rm -f "$STATE/kubelet-dir-existed"
  # Network namespaces the CNI made for our pods, and the bridge.
  if [[ -f $STATE/netns-before ]]; then
    for n in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do
      grep -qxF "$n" "$STATE/netns-before" && continue
      ip netns pids "$n" 2>/dev/null | grep -q . || ip netns delete "$n" 2>/dev/null || true
    done
    rm -f "$STATE/netns-before"
  fi
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
  # The kubelet's cgroup tree (cgroupfs driver), empty once its pods are gone.
  local cg
  for cg in /sys/fs/cgroup/*/kubepods; do
    [[ -d $cg ]] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  if [[ -f $STATE/iptables-before ]]; then
    local cmd t chain
    while read -r cmd t chain; do
      grep -qxF "$cmd $t $chain" "$STATE/iptables-before" && continue
      "$cmd" -w 5 -t "$t" -F "$chain" 2>/dev/null || true
      "$cmd" -w 5 -t "$t" -X "$chain" 2>/dev/null || true
    done < <(iptables_chains)
    rm -f "$STATE/iptables-before"
  fi
  if [[ -f $STATE/hostpaths-before ]]; then
    local d
    for d in "${HOSTPATHS[@]}"; do grep -qxF "$d" "$STATE/hostpaths-before" || rmdir "$d" 2>/dev/null || true; done
    rm -f "$STATE/hostpaths-before"
  fi
  if [[ -f $STATE/sysctl-before ]]; then
    sed 's/ = /=/' "$STATE/sysctl-before" | xargs -r sysctl -q -w
    rm -f "$STATE/sysctl-before"
  fi
  echo "cluster: down"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  wipe) down; rm -rf "$STATE" "$KUBELET_DIR" ;;
  *) echo "usage: cluster.sh up|down|wipe" >&2; exit 2 ;;
esac
