#!/usr/bin/env bash
# One command per job on a fresh machine: installs what is missing, then runs the job.
#   hack/dev.sh demo      the narrated DR drill on the local sandbox (the main job)
#   hack/dev.sh test      the test suite (what CI runs after typecheck and lint)
#   hack/dev.sh sandbox   the local sandbox with the webhook and the controller, until Ctrl-C
#   hack/dev.sh bench     the benchmarks (pass --quick for a short run)
# Installs: npm packages (npm ci, when node_modules is missing or older than package-lock.json) and the
# Debian packages behind the commands the sandbox and the tests run (apt-get, when missing; needs root or sudo).
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
  promtool:prometheus lua5.1:lua5.1 shellcheck:shellcheck
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

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
fi

exec npm run --silent "$job" -- "$@"
