#!/usr/bin/env bash
# End-to-end run of redis-dr on a real Kubernetes cluster (kind), on a machine with Docker, kind and kubectl:
#   1. create a kind cluster and install cert-manager;
#   2. build the image, load it into the cluster, install manifests/ (kubectl kustomize) and wait for the
#      webhook (certificate issued, caBundle injected) and the controller;
#   3. run the reference's basic scenario: prod-redis (primary) and dr-redis (replica mode), data written to
#      the primary shows up on every DR pod, an invalid change is refused, the reference's promotion patch
#      makes dr-redis a writable standalone primary, the reference's naive revert is refused, and a demotion
#      confirmed with the demotionToken makes it a replica again;
#   4. delete the cluster (also on failure, after printing diagnostics).
#
# Usage: hack/kind-e2e.sh
# Environment:
#   CLUSTER_NAME          kind cluster name (default redis-dr-e2e)
#   IMAGE                 image to build and load (default redis-dr:e2e; not :latest, which kind would pull)
#   CERT_MANAGER_VERSION  cert-manager release to install (default v1.21.2, September 2026; cert-manager
#                         supports only its two newest minor lines, so move this on with them)
#   PRIMARY_MODE          mode of prod-redis: sentinel, as in the reference (default), or standalone
#   REDIS_CONTAINER       container of the Redis pods to exec into (default redis)
#   KEEP_CLUSTER=1        keep the cluster afterwards (for debugging)
#   REUSE_CLUSTER=1       use an existing cluster of that name instead of creating one
#   TIMEOUT               seconds to wait for each step (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER_NAME=${CLUSTER_NAME:-redis-dr-e2e}
IMAGE=${IMAGE:-redis-dr:e2e}
CERT_MANAGER_VERSION=${CERT_MANAGER_VERSION:-v1.21.2}
PRIMARY_MODE=${PRIMARY_MODE:-sentinel}
REDIS_CONTAINER=${REDIS_CONTAINER:-redis}
KEEP_CLUSTER=${KEEP_CLUSTER:-0}
REUSE_CLUSTER=${REUSE_CLUSTER:-0}
TIMEOUT=${TIMEOUT:-300}
NS=production
SYSTEM_NS=redis-dr-system
CONTEXT="kind-${CLUSTER_NAME}"
WORK=$(mktemp -d)

log() { printf '\n==> %s\n' "$*"; }
fail() {
  printf '\nFAILED: %s\n' "$*" >&2
  exit 1
}
k() { kubectl --context "$CONTEXT" "$@"; }

for tool in docker kind kubectl openssl; do
  command -v "$tool" >/dev/null || fail "$tool is required"
done
[[ "$IMAGE" == *:* && "$IMAGE" != *:latest ]] || fail "IMAGE needs a tag other than latest (kind would pull it)"

diagnostics() {
  echo "---- diagnostics ----" >&2
  k get redisclusters -A -o wide >&2 || true
  k -n "$NS" describe redisclusters >&2 || true
  k get pods -A -o wide >&2 || true
  k -n "$NS" get events --sort-by=.lastTimestamp >&2 || true
  k -n "$SYSTEM_NS" logs deploy/redis-dr-controller --tail=200 >&2 || true
  k -n "$SYSTEM_NS" logs deploy/redis-dr-webhook --tail=100 >&2 || true
}

cleanup() {
  local status=$?
  if [ "$status" -ne 0 ]; then diagnostics; fi
  rm -rf "$WORK"
  if [ "$KEEP_CLUSTER" = 1 ]; then
    echo "keeping cluster $CLUSTER_NAME (kind delete cluster --name $CLUSTER_NAME)"
  elif [ "$REUSE_CLUSTER" != 1 ]; then
    kind delete cluster --name "$CLUSTER_NAME" || true
  fi
  exit "$status"
}
trap cleanup EXIT

# wait_until DESCRIPTION COMMAND...: runs COMMAND every 2 s until it succeeds, for at most $TIMEOUT seconds.
wait_until() {
  local description=$1
  shift
  local deadline=$((SECONDS + TIMEOUT)) output
  until output=$("$@" 2>&1); do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${TIMEOUT}s waiting for: $description${output:+ (last output: $output)}"
    sleep 2
  done
  echo "ok: $description"
}

# field_is RESOURCE JSONPATH VALUE: the RedisCluster field equals VALUE.
field_is() { [ "$(k -n "$NS" get "$1" -o jsonpath="$2")" = "$3" ]; }
condition_reason_is() { field_is "rediscluster/$1" "{.status.conditions[?(@.type==\"$2\")].reason}" "$3"; }
condition_status_is() { field_is "rediscluster/$1" "{.status.conditions[?(@.type==\"$2\")].status}" "$3"; }

# redis_cli POD PASSWORD ARGS...: runs redis-cli in the pod; the password travels on stdin, never in a command
# line (REDISCLI_AUTH is read by redis-cli from its environment).
redis_cli() {
  local pod=$1 password=$2
  shift 2
  local container=()
  [ -z "$REDIS_CONTAINER" ] || container=(-c "$REDIS_CONTAINER")
  printf '%s\n' "$password" | k -n "$NS" exec -i "$pod" ${container[@]+"${container[@]}"} -- \
    sh -c 'read -r REDISCLI_AUTH; export REDISCLI_AUTH; exec redis-cli "$@"' redis-cli "$@"
}

# expect_refused DESCRIPTION EXPECTED_TEXT COMMAND...: COMMAND must fail with EXPECTED_TEXT in its output.
expect_refused() {
  local description=$1 expected=$2
  shift 2
  local output
  if output=$("$@" 2>&1); then fail "$description was accepted: $output"; fi
  grep -qF -- "$expected" <<<"$output" || fail "$description was refused, but not with \"$expected\": $output"
  echo "ok: refused: $description"
  echo "    $output"
}

# key_is POD PASSWORD KEY VALUE: GET KEY on the pod answers VALUE.
key_is() { [ "$(redis_cli "$1" "$2" GET "$3")" = "$4" ]; }
# role_is POD PASSWORD ROLE: INFO replication on the pod says role:ROLE.
role_is() { redis_cli "$1" "$2" INFO replication | tr -d '\r' | grep -qx "role:$3"; }
# ca_injected CONFIGURATION: cert-manager's CA injector has filled the webhook configuration's caBundle.
ca_injected() { [ -n "$(k get "$1" -o jsonpath='{.webhooks[0].clientConfig.caBundle}')" ]; }

primary_of() {
  k -n "$NS" get pods -l "redis.io/cluster=$1,redis.io/role=primary" -o jsonpath='{.items[0].metadata.name}'
}

log "cluster $CLUSTER_NAME"
if [ "$REUSE_CLUSTER" = 1 ] && kind get clusters | grep -qx "$CLUSTER_NAME"; then
  echo "reusing it"
else
  kind create cluster --name "$CLUSTER_NAME" --wait 120s
fi

log "cert-manager $CERT_MANAGER_VERSION"
k apply -f "https://github.com/cert-manager/cert-manager/releases/download/${CERT_MANAGER_VERSION}/cert-manager.yaml"
k -n cert-manager wait --for=condition=Available --timeout="${TIMEOUT}s" \
  deployment/cert-manager deployment/cert-manager-cainjector deployment/cert-manager-webhook

log "image $IMAGE"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER_NAME"

log "install manifests/ with image $IMAGE"
kubectl kustomize manifests >"$WORK/install.yaml"
grep -q 'image: redis-dr:' "$WORK/install.yaml" || fail "no redis-dr image in the rendered manifests"
sed -i.orig "s#image: redis-dr:.*#image: ${IMAGE}#" "$WORK/install.yaml"
# cert-manager's own webhook may need a few seconds more before it accepts Issuers and Certificates.
wait_until "manifests applied" k apply -f "$WORK/install.yaml"
k -n "$SYSTEM_NS" wait --for=condition=Ready --timeout="${TIMEOUT}s" certificate/redis-dr-webhook
for configuration in mutatingwebhookconfiguration/redis-dr-mutating validatingwebhookconfiguration/redis-dr-validating; do
  wait_until "caBundle injected into $configuration" ca_injected "$configuration"
done
k -n "$SYSTEM_NS" rollout status deployment/redis-dr-webhook --timeout="${TIMEOUT}s"
k -n "$SYSTEM_NS" rollout status deployment/redis-dr-controller --timeout="${TIMEOUT}s"

log "the reference's basic example: prod-redis ($PRIMARY_MODE) and dr-redis in namespace $NS"
k create namespace "$NS" --dry-run=client -o yaml | k apply -f -
PROD_PASSWORD=$(openssl rand -hex 24)
DR_PASSWORD=$(openssl rand -hex 24)
printf '%s' "$PROD_PASSWORD" | k -n "$NS" create secret generic prod-redis-auth --from-file=password=/dev/stdin
printf '%s' "$DR_PASSWORD" | k -n "$NS" create secret generic dr-redis-auth --from-file=password=/dev/stdin
# The examples as shipped, with volumes small enough for kind.
sed -e 's/size: 100Gi/size: 1Gi/' -e "s/mode: sentinel/mode: ${PRIMARY_MODE}/" \
  manifests/examples/basic/prod-redis.yaml >"$WORK/prod-redis.yaml"
sed -e 's/size: 100Gi/size: 1Gi/' manifests/examples/basic/dr-redis.yaml >"$WORK/dr-redis.yaml"

k apply -f "$WORK/prod-redis.yaml"
wait_until "prod-redis Ready" condition_status_is prod-redis Ready True
PROD_PRIMARY=$(primary_of prod-redis)
[ -n "$PROD_PRIMARY" ] || fail "prod-redis has no pod labelled redis.io/role=primary"
for i in $(seq 1 100); do redis_cli "$PROD_PRIMARY" "$PROD_PASSWORD" SET "key:$i" "value-$i" >/dev/null; done
echo "ok: 100 keys written to $PROD_PRIMARY"

log "replica mode: dr-redis replicates from prod-redis"
k apply -f "$WORK/dr-redis.yaml"
wait_until "dr-redis ReplicaMode True/Enabled" condition_reason_is dr-redis ReplicaMode Enabled
wait_until "dr-redis Ready" condition_status_is dr-redis Ready True
MESSAGE=$(k -n "$NS" get rediscluster dr-redis -o jsonpath='{.status.conditions[?(@.type=="ReplicaMode")].message}')
[ "$MESSAGE" = "Cluster is replicating from prod-redis-us-east (prod-redis-leader.production.svc.cluster.local:6379)" ] ||
  fail "unexpected ReplicaMode message: $MESSAGE"
for pod in dr-redis-0 dr-redis-1 dr-redis-2; do
  wait_until "$pod has key:100" key_is "$pod" "$DR_PASSWORD" key:100 value-100
  INFO=$(redis_cli "$pod" "$DR_PASSWORD" INFO replication | tr -d '\r')
  grep -qx 'role:slave' <<<"$INFO" || fail "$pod is not a replica: $INFO"
  grep -qx 'master_link_status:up' <<<"$INFO" || fail "$pod's link is not up: $INFO"
done
[ "$(k -n "$NS" get pod dr-redis-0 -o jsonpath='{.metadata.labels.redis\.io/role}')" = primary ] ||
  fail "dr-redis-0 (the designated leader) is not labelled redis.io/role=primary"

log "an invalid change is refused by the webhook"
expect_refused "source port 70000" "spec.replicaMode.source.port" \
  k -n "$NS" patch rediscluster dr-redis --type=merge -p '{"spec":{"replicaMode":{"source":{"port":70000}}}}'

log "failover: the reference's promotion patch"
k -n "$NS" patch rediscluster dr-redis --type=merge -p '{"spec":{"replicaMode":{"promote":true}}}'
wait_until "promotion Completed" field_is rediscluster/dr-redis '{.status.promotion.phase}' Completed
wait_until "dr-redis ReplicaMode False/Promoted" condition_reason_is dr-redis ReplicaMode Promoted
field_is rediscluster/dr-redis '{.status.currentPrimary}' dr-redis-0 || fail "currentPrimary is not dr-redis-0"
INFO=$(redis_cli dr-redis-0 "$DR_PASSWORD" INFO replication | tr -d '\r')
grep -qx 'role:master' <<<"$INFO" || fail "dr-redis-0 is not a primary: $INFO"
grep -qx 'connected_slaves:2' <<<"$INFO" || fail "dr-redis-0 does not have 2 replicas: $INFO"
[ "$(redis_cli dr-redis-0 "$DR_PASSWORD" SET written-after-promotion yes)" = OK ] || fail "dr-redis-0 is not writable"
[ "$(redis_cli dr-redis-0 "$DR_PASSWORD" DBSIZE)" -ge 101 ] || fail "keys are missing after promotion"
echo "ok: dr-redis-0 is a writable primary with every key"

log "the reference's naive revert is refused (it would discard the writes made since promotion)"
TOKEN=$(k -n "$NS" get rediscluster dr-redis -o jsonpath='{.status.promotion.replicationId}')
[ -n "$TOKEN" ] || fail "status.promotion.replicationId is empty"
expect_refused "promote: false without the demotionToken" "demotionToken" \
  k -n "$NS" patch rediscluster dr-redis --type=merge -p '{"spec":{"replicaMode":{"promote":false}}}'
# The manifest as a Git revert would leave it, with an explicit promote: false.
awk '{ print } /authSecretName: prod-redis-auth/ { print "    promote: false" }' "$WORK/dr-redis.yaml" \
  >"$WORK/dr-redis-reverted.yaml"
grep -q '^    promote: false$' "$WORK/dr-redis-reverted.yaml" || fail "could not write the reverted manifest"
expect_refused "re-applying the manifest with promote: false" "demotionToken" k apply -f "$WORK/dr-redis-reverted.yaml"

log "DR drill: demotion confirmed with the demotionToken"
k -n "$NS" patch rediscluster dr-redis --type=merge \
  -p "{\"spec\":{\"replicaMode\":{\"promote\":false,\"demotionToken\":\"${TOKEN}\"}}}"
wait_until "dr-redis replicates again" condition_reason_is dr-redis ReplicaMode Enabled
wait_until "dr-redis-0 is a replica again" role_is dr-redis-0 "$DR_PASSWORD" slave
wait_until "dr-redis-0 has key:100 (resynchronised from prod-redis)" key_is dr-redis-0 "$DR_PASSWORD" key:100 value-100
[ "$(redis_cli dr-redis-0 "$DR_PASSWORD" EXISTS written-after-promotion)" = 0 ] ||
  fail "the write made after promotion survived the demotion"
echo "ok: the write made during the drill is gone, as the demotion said"

log "PASSED"
