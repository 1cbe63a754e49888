#!/usr/bin/env bash
# One command per job on a fresh machine: installs what is missing, then runs the job.
#   hack/dev.sh demo      the narrated DR drill on the local sandbox (the main job)
#   hack/dev.sh test      the test suite (what CI runs after typecheck and lint)
#   hack/dev.sh sandbox   the local sandbox with the webhook and the controller, until Ctrl-C
#   hack/dev.sh bench     the benchmarks (pass --quick for a short run)
# Installs: npm packages (npm ci, when node_modules is missing or older than package-lock.json) and the
# Debian packages behind the commands the sandbox and the tests run (apt-get, when missing; needs root or sudo).
# Needs, and says where to get when missing: Node.js 20 or newer, kubectl 1.24 or newer (kustomize v4.5+), and
# for `test` Go 1.26 or newer (the suite builds the real control plane from upstream sources: hack/k8s).
set -euo pipefail
cd "$(dirname "$0")/.."

job=${1:-}
case "$job" in
  demo | test | sandbox | bench) ;;
  *)
    echo "usage: hack/dev.sh demo|test|sandbox|bench [args]" >&2
    exit 2
    ;;
esac
shift

# Node.js: everything here is TypeScript run by Node (tsx, node --test, npm scripts).
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ! [[ $node_major =~ ^[0-9]+$ ]] || ((node_major < 20)); then
  {
    echo "redis-dr needs Node.js 20 or newer (package.json engines), found: $(node --version 2>/dev/null || echo none)."
    echo "Install Node.js 20 or newer from https://nodejs.org/en/download (Debian 12's nodejs package is 18),"
    echo "make it the first node on PATH, and run hack/dev.sh $job again."
  } >&2
  exit 1
fi

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) to run: $*" >&2
    return 1
  fi
}

# command → the Debian package that provides it
packages=(
  redis-server:redis-server redis-sentinel:redis-sentinel redis-cli:redis-tools
  kubectl:kubernetes-client openssl:openssl cc:gcc ss:iproute2 nsenter:util-linux setpriv:util-linux
  promtool:prometheus lua5.1:lua5.1 shellcheck:shellcheck nft:nftables ip:iproute2
)
missing=()
for entry in "${packages[@]}"; do
  command -v "${entry%%:*}" >/dev/null || missing+=("${entry#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "installing ${missing[*]} from Debian's packages"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# kubectl: the manifest tests render manifests/ with `kubectl kustomize`, and our kustomizations use
# `labels:` and `kind: Component`, which need the kustomize built into kubectl 1.24 or newer (v4.5+).
# Debian 12's kubernetes-client is kubectl 1.20: its kustomize v2 knows neither, and prints no version.
kustomize=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p' || true)
IFS=. read -r kustomize_major kustomize_minor _ <<<"${kustomize#v}"
if ! [[ $kustomize_major =~ ^[0-9]+$ && $kustomize_minor =~ ^[0-9]+$ ]] ||
  ((kustomize_major < 4 || (kustomize_major == 4 && kustomize_minor < 5))); then
  {
    if command -v kubectl >/dev/null; then
      echo "$(command -v kubectl) has kustomize ${kustomize:-older than v4.5 (it prints no version)}."
    else
      echo "kubectl is not installed."
    fi
    echo "The manifest tests render manifests/ with \`kubectl kustomize\`, which needs kubectl 1.24 or newer"
    echo "(kustomize v4.5+, for \`labels:\` and \`kind: Component\`); Debian 12's kubernetes-client is kubectl 1.20."
    echo "Install a current kubectl (https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/) and make it"
    echo "the first kubectl on PATH."
  } >&2
  if [ "$job" = test ]; then exit 1; fi
  echo "continuing with $job: it runs with this kubectl, but the manifest tests would fail with it" >&2
fi

# Go: the test suite builds the real control plane (kube-apiserver, etcd, … from upstream sources, hack/k8s).
if [ "$job" = test ]; then
  go_minor=$(go env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
  if ! [[ $go_minor =~ ^[0-9]+$ ]] || ((go_minor < 26)); then
    {
      echo "the test suite builds Kubernetes from source, which needs Go 1.26 or newer, found: $(go env GOVERSION 2>/dev/null || echo none)."
      echo "Install it from https://go.dev/dl/ and make it the first go on PATH."
    } >&2
    exit 1
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
fi

exec npm run --silent "$job" -- "$@"
