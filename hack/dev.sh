#!/usr/bin/env bash
# One command per job on a fresh machine: installs what is missing, then runs the job.
#   hack/dev.sh test      type-check-free test run (what CI calls after typecheck and lint)
#   hack/dev.sh sandbox   the local sandbox with the webhook and the controller
# Installs: npm packages (npm ci, when node_modules is missing or older than package-lock.json) and Debian's
# redis-server / redis-sentinel (apt-get, when missing; needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

job=${1:-}
case "$job" in
  test | sandbox) ;;
  *)
    echo "usage: hack/dev.sh test|sandbox" >&2
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

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-sentinel >/dev/null || missing+=(redis-sentinel)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from Debian's packages"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
fi

exec npm run --silent "$job" -- "$@"
