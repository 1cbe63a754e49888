#!/usr/bin/env bash
# The test suite, by tier. A test file's suffix says what it needs (test/README.md):
#   *.test.ts        unit: Node and small offline checkers only (no redis-server, no API server), seconds
#   *.redis.test.ts  redis: real redis-server and redis-sentinel processes, no API server
#   *.e2e.test.ts    e2e: an API server, the embedded sandbox or the real control plane (test/k8s/)
# Usage: hack/test.sh [unit|redis|e2e|all] (default all, what `npm test` and CI run); --list TIER prints the
# tier's files instead of running them.
# `all` runs every file but test/k8s/ on the embedded sandbox in one pass, then the fault suite's summary for
# it (hack/faults-summary.ts: scenarios run, acknowledged keys, keys lost), then the suite on the real control
# plane (hack/k8s/test.sh, which prints its own summary). The sandbox's lines of the fault ledger are dropped
# first, so the summary counts this run only. `e2e` does the same with the e2e files only.
set -euo pipefail
cd "$(dirname "$0")/.."

list=false
if [ "${1:-}" = --list ]; then
  list=true
  shift
fi
tier=${1:-all}
case "$tier" in
  unit | redis | e2e | all) ;;
  *)
    echo "usage: hack/test.sh [--list] [unit|redis|e2e|all]" >&2
    exit 2
    ;;
esac

files_of() {
  case "$1" in
    unit) find test -name '*.test.ts' -not -name '*.redis.test.ts' -not -name '*.e2e.test.ts' ;;
    redis) find test -name '*.redis.test.ts' ;;
    e2e) find test -name '*.e2e.test.ts' ;;
    all) find test -name '*.test.ts' ;;
  esac | sort
}

if $list; then
  files_of "$tier"
  exit 0
fi

# test/k8s/ runs on the real control plane only (hack/k8s/test.sh).
mapfile -t files < <(files_of "$tier" | grep -v '^test/k8s/')
run=(node --import tsx --test --test-concurrency=2 --test-timeout=600000 "${files[@]}")
case "$tier" in
  unit | redis) exec "${run[@]}" ;;
esac

node --import tsx hack/faults-summary.ts --reset sandbox
status=0
"${run[@]}" || status=$?
node --import tsx hack/faults-summary.ts --backend sandbox --require || status=1
[ "$status" -eq 0 ] || exit "$status"
exec bash hack/k8s/test.sh
