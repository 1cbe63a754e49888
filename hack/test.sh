#!/usr/bin/env bash
# `npm test`: every test file on the embedded sandbox, then the fault suite's summary for it
# (hack/faults-summary.ts: scenarios run, acknowledged keys, keys lost), then the suite on the real control
# plane (hack/k8s/test.sh, which prints its own summary). The sandbox's lines of the fault ledger are dropped
# first, so the summary counts this run only.
set -euo pipefail
cd "$(dirname "$0")/.."

node --import tsx hack/faults-summary.ts --reset sandbox
status=0
# shellcheck disable=SC2046 # one argument per file
node --import tsx --test --test-concurrency=2 --test-timeout=600000 \
  $(find test -name '*.test.ts' -not -path 'test/k8s/*' | sort) || status=$?
node --import tsx hack/faults-summary.ts --backend sandbox --require || status=1
[ "$status" -eq 0 ] || exit "$status"
exec bash hack/k8s/test.sh
