#!/usr/bin/env bash
# Serves the CRD fixtures from a throwaway etcd + kube-apiserver on 127.0.0.1
# and checks what the offline `validate` cannot: the API server establishes
# them, takes the samples with strict field validation, serves short names,
# categories and printer columns, and has a status subresource exactly where
# KubeVirt/CDI have one.
#
# Usage: hack/kubevirt-crds/live-check.sh [ASSETS_DIR]
#   ASSETS_DIR holds kube-apiserver, etcd and kubectl (the KUBEBUILDER_ASSETS
#   convention); default $KUBEBUILDER_ASSETS, else `hack/build-tools.sh --assets-dir`.
# Everything listens on free loopback ports and lives in a temp dir that is
# removed on exit, with the processes this script started.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "${HERE}/../.." && pwd)"
FIXTURES="${ROOT}/schemas/kubevirt"
ASSETS="${1:-${KUBEBUILDER_ASSETS:-}}"
if [[ -z "$ASSETS" ]]; then
  ASSETS="$("${ROOT}/hack/build-tools.sh" --assets-dir)" || { echo "live-check: no kube-apiserver/etcd/kubectl yet" >&2; exit 1; }
fi
for b in kube-apiserver etcd kubectl; do
  [[ -x "${ASSETS}/$b" ]] || { echo "live-check: ${ASSETS}/$b missing" >&2; exit 1; }
done

log() { echo "live-check: $*" >&2; }
fail() { log "FAIL: $*"; failures=$((failures + 1)); }
failures=0

TMP="$(mktemp -d)"
ETCD_PID="" API_PID=""
stop() { # pid: SIGTERM, up to 15 s, then SIGKILL
  [[ -n "$1" ]] || return 0
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 30); do kill -0 "$1" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
# The API server first: with etcd gone its graceful shutdown can hang.
cleanup() { stop "$API_PID"; stop "$ETCD_PID"; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

ETCD_PORT="$(free_port)" PEER_PORT="$(free_port)" API_PORT="$(free_port)"
"${ASSETS}/etcd" --name default --data-dir "$TMP/etcd" --unsafe-no-fsync \
  --listen-client-urls "http://127.0.0.1:${ETCD_PORT}" --advertise-client-urls "http://127.0.0.1:${ETCD_PORT}" \
  --listen-peer-urls "http://127.0.0.1:${PEER_PORT}" --initial-advertise-peer-urls "http://127.0.0.1:${PEER_PORT}" \
  --initial-cluster "default=http://127.0.0.1:${PEER_PORT}" >"$TMP/etcd.log" 2>&1 &
ETCD_PID=$!

openssl genrsa -out "$TMP/sa.key" 2048 2>/dev/null
openssl rsa -in "$TMP/sa.key" -pubout -out "$TMP/sa.pub" 2>/dev/null
TOKEN="$(openssl rand -hex 16)"
echo "${TOKEN},admin,admin,system:masters" >"$TMP/tokens.csv"
"${ASSETS}/kube-apiserver" --etcd-servers "http://127.0.0.1:${ETCD_PORT}" --cert-dir "$TMP/certs" \
  --secure-port "$API_PORT" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
  --service-account-issuer "https://127.0.0.1:${API_PORT}/" --service-account-key-file "$TMP/sa.pub" \
  --service-account-signing-key-file "$TMP/sa.key" --token-auth-file "$TMP/tokens.csv" \
  --authorization-mode RBAC --service-cluster-ip-range 10.0.0.0/24 --allow-privileged=true \
  --disable-admission-plugins ServiceAccount >"$TMP/apiserver.log" 2>&1 &
API_PID=$!

cat >"$TMP/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: t, cluster: {server: "https://127.0.0.1:${API_PORT}", insecure-skip-tls-verify: true}}]
users: [{name: t, user: {token: "${TOKEN}"}}]
contexts: [{name: t, context: {cluster: t, user: t, namespace: default}}]
current-context: t
EOF
k() { "${ASSETS}/kubectl" --kubeconfig "$TMP/kubeconfig" "$@"; }

for _ in $(seq 120); do
  k get --raw /readyz >/dev/null 2>&1 && k get namespace default >/dev/null 2>&1 && break
  sleep 0.5
done
k get --raw /readyz >/dev/null || { tail -20 "$TMP/apiserver.log" >&2; log "API server not ready"; exit 1; }
log "serving $(k version -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).serverVersion.gitVersion))') on 127.0.0.1:${API_PORT}"

CRDS=(virtualmachines.kubevirt.io virtualmachineinstances.kubevirt.io virtualmachineinstancemigrations.kubevirt.io
  datavolumes.cdi.kubevirt.io datasources.cdi.kubevirt.io)
FILES=()
for c in "${CRDS[@]}"; do
  g="${c#*.}" r="${c%%.*}"
  FILES+=("${FIXTURES}/${g}_${r}.yaml")
done

# Client-side apply on purpose: its last-applied annotation (the CRD as compact
# JSON, about 170 KB for the VM) must stay under the 256 KiB annotation limit.
for f in "${FILES[@]}"; do k apply -f "$f" >/dev/null || fail "apply $(basename "$f")"; done
k wait --for condition=Established --timeout 60s "${CRDS[@]/#/crd/}" >/dev/null || fail "CRDs not Established"
for c in "${CRDS[@]}"; do
  conds="$(k get crd "$c" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {end}')"
  log "crd/$c: $conds"
  [[ "$conds" == *"Established=True"* && "$conds" == *"NamesAccepted=True"* && "$conds" != *NonStructuralSchema* ]] ||
    fail "crd/$c conditions: $conds"
done

# Samples, with strict server-side field validation: a field the schema would
# prune is an error, not a silent drop.
for s in datasource datavolume datavolume-http vm-containerdisk vm-datavolumetemplate vmi vmim; do
  k create --validate=strict -f "${HERE}/samples/${s}.yaml" >/dev/null || fail "create sample ${s}"
done
[[ "$(k get vm sample-containerdisk -o jsonpath='{.spec.runStrategy}')" == Always ]] || fail "VM runStrategy not stored"
# ...and strict validation is in force: KubeVirt v1.9's VM CRD carries CDI
# v1.64's DataVolume spec, which has no http.checksum.
k create --validate=strict -f - >/dev/null 2>"$TMP/strict.err" <<EOF && fail "unknown field accepted"
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: strict-check}
spec:
  runStrategy: Halted
  dataVolumeTemplates:
  - metadata: {name: strict-check-root}
    spec:
      source: {http: {url: "https://example.invalid/disk.img", checksum: "sha256:00"}}
      storage: {resources: {requests: {storage: 1Gi}}}
  template: {spec: {domain: {devices: {}, memory: {guest: 1Gi}}}}
EOF
grep -q 'unknown field "spec.dataVolumeTemplates\[0\].spec.source.http.checksum"' "$TMP/strict.err" ||
  fail "unexpected strict-validation result: $(cat "$TMP/strict.err")"
[[ "$(k get dv sample-http -o jsonpath='{.spec.source.http.checksum}')" == sha256:* ]] || fail "DV http checksum not stored"

# Status subresource where KubeVirt/CDI have one: a status patch through it
# works; through the main resource status is ignored.
status_patch() { # kind name json
  k patch "$1" "$2" --subresource=status --type=merge -p "$3" >/dev/null 2>&1
}
status_patch vm sample-containerdisk '{"status":{"printableStatus":"Running","ready":true,"conditions":[{"type":"Ready","status":"True"}]}}' ||
  fail "VM status subresource"
status_patch vmim sample-migration '{"status":{"phase":"Running"}}' || fail "VMIM status subresource"
status_patch dv sample-import '{"status":{"phase":"ImportInProgress","progress":"45.00%","restartCount":1}}' || fail "DV status subresource"
k patch vm sample-containerdisk --type=merge -p '{"status":{"printableStatus":"Stopped"}}' >/dev/null
[[ "$(k get vm sample-containerdisk -o jsonpath='{.status.printableStatus}')" == Running ]] ||
  fail "VM status changed through the main resource"
# None on VMI and DataSource: status is written with the whole object.
status_patch vmi sample-containerdisk '{"status":{"phase":"Failed"}}' && fail "VMI has a status subresource"
status_patch datasource fedora '{"status":{}}' && fail "DataSource has a status subresource"
k patch vmi sample-containerdisk --type=merge -p '{"status":{"phase":"Succeeded"}}' >/dev/null
[[ "$(k get vmi sample-containerdisk -o jsonpath='{.status.phase}')" == Succeeded ]] || fail "VMI status not updated with the object"
k patch datasource fedora --type=merge -p '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Ready"}]}}' >/dev/null
[[ "$(k get das fedora -o jsonpath='{.status.conditions[0].status}')" == True ]] || fail "DataSource status not updated with the object"

# Short names, the "all" category and printer columns, through discovery.
k get vm,vms,vmi,vmis,vmim,vmims,dv,dvs,das -o name >/dev/null || fail "short names"
all="$(k get all -o name 2>/dev/null)"
for r in virtualmachine.kubevirt.io virtualmachineinstance.kubevirt.io virtualmachineinstancemigration.kubevirt.io \
  datavolume.cdi.kubevirt.io datasource.cdi.kubevirt.io; do
  grep -q "^${r}/" <<<"$all" || fail "${r} missing from 'kubectl get all'"
done
k get vm,vmi,vmim,dv,das -o wide >&2 || fail "printer columns"

if ((failures > 0)); then
  log "${failures} check(s) failed"
  exit 1
fi
log "all checks passed"
