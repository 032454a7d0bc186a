#!/bin/sh
# Service kube-apiserver: a Kubernetes API server alone (no controllers, no scheduler, no
# kubelet), for code that keeps its state in Kubernetes objects. etcd on 127.0.0.1 with its data
# in the node's /run (tmpfs); kube-apiserver (the k8s lane's build, from $LAB_K8S_CACHE) on port
# 6443 of every address, serving a certificate of a CA made here, token authentication (one user,
# in group system:masters), RBAC. The kubeconfig (server https://<node IP>:6443, the CA inline,
# the token, namespace poolcsi) is /run/lab/kube/kubeconfig, and for other nodes
# $LAB_SHARED_DIR/kube/<node>/kubeconfig. Namespace poolcsi exists. Extra kube-apiserver flags:
# $LAB_KUBE_APISERVER_ARGS (split on spaces).
. "$(dirname "$0")/lib.sh"
show_logs_on_failure "$LAB_LOG_DIR/etcd.log" "$LAB_LOG_DIR/kube-apiserver.log"
exec 3>&2 # wait_for silences its probe; a dead daemon is reported here

. "$LAB_ROOT/test/k8s/versions.env"
apiserver=$LAB_K8S_CACHE/bin/kube-apiserver-$K8S_VERSION/kube-apiserver
[ -x "$apiserver" ] || {
  echo "no $apiserver: build it with bash test/k8s/build-go.sh kubernetes (ensureKubeApiserver() in a test)" >&2
  exit 1
}
dir=/run/lab/kube
ip=${LAB_IP:-127.0.0.1}
mkdir -p -m 700 "$dir"
cd "$dir"

# etcd first: it starts while openssl makes the keys.
daemon etcd /usr/bin/etcd --name "$LAB_NODE" --data-dir "$dir/etcd" --logger zap --log-level warn \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster "$LAB_NODE=http://127.0.0.1:2380"
etcd_pid=$!

# P-256 keys: an RSA key costs seconds under UML.
ec() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "$@" 2>/dev/null; }
ec -x509 -days 3 -keyout ca.key -out ca.crt -subj /CN=poolcsi-lab-kube-ca
ec -keyout apiserver.key -out apiserver.csr -subj /CN=kube-apiserver
cat >apiserver.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:$ip,IP:127.0.0.1,DNS:localhost,DNS:$LAB_NODE,DNS:kubernetes.default.svc
EXT
openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3 \
  -extfile apiserver.ext -out apiserver.crt 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out sa.key
openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
echo "$token,poolcsi-lab-admin,poolcsi-lab-admin,\"system:masters\"" >tokens.csv

alive() { kill -0 "$1" 2>/dev/null || { echo "$2 exited" >&3; exit 1; }; }
etcd_up() { alive "$etcd_pid" etcd && curl -fsS http://127.0.0.1:2379/health; }
wait_for 60 "etcd on 127.0.0.1:2379" etcd_up

# Trimmed for a one-CPU node: no priority and fairness (its config controller), no admission
# plugin but NamespaceLifecycle (a create in a missing namespace fails as in a cluster), no
# endpoint reconciler (no kubernetes Endpoints to keep), no profiling.
# shellcheck disable=SC2086
daemon kube-apiserver "$apiserver" \
  --etcd-servers=http://127.0.0.1:2379 \
  --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="$ip" \
  --tls-cert-file="$dir/apiserver.crt" --tls-private-key-file="$dir/apiserver.key" \
  --token-auth-file="$dir/tokens.csv" --authorization-mode=RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
  --service-cluster-ip-range=10.96.0.0/24 \
  --enable-priority-and-fairness=false --endpoint-reconciler-type=none --profiling=false \
  --disable-admission-plugins=LimitRanger,ServiceAccount,TaintNodesByCondition,PodSecurity,Priority,DefaultTolerationSeconds,DefaultStorageClass,StorageObjectInUseProtection,PersistentVolumeClaimResize,RuntimeClass,CertificateApproval,CertificateSigning,ClusterTrustBundleAttest,CertificateSubjectRestriction,DefaultIngressClass,PodTopologyLabels,MutatingAdmissionPolicy,MutatingAdmissionWebhook,ValidatingAdmissionPolicy,ValidatingAdmissionWebhook,ResourceQuota \
  ${LAB_KUBE_APISERVER_ARGS:-}
apiserver_pid=$!

api() { curl -fsS --cacert "$dir/ca.crt" -H "Authorization: Bearer $token" "$@"; }
ready() { alive "$apiserver_pid" kube-apiserver && alive "$etcd_pid" etcd && api "https://$ip:6443/readyz"; }
wait_for 170 "kube-apiserver /readyz on $ip:6443" ready

api -X POST -H 'Content-Type: application/json' "https://$ip:6443/api/v1/namespaces" \
  -d '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"poolcsi"}}' >/dev/null

cat >kubeconfig.tmp <<KC
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: https://$ip:6443
    certificate-authority-data: $(base64 -w0 ca.crt)
users:
- name: poolcsi-lab-admin
  user:
    token: $token
contexts:
- name: lab
  context:
    cluster: lab
    user: poolcsi-lab-admin
    namespace: poolcsi
current-context: lab
KC
chmod 600 kubeconfig.tmp
mkdir -p "$LAB_SHARED_DIR/kube/$LAB_NODE"
cp kubeconfig.tmp "$LAB_SHARED_DIR/kube/$LAB_NODE/kubeconfig"
mv kubeconfig.tmp kubeconfig
