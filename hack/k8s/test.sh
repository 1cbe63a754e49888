#!/usr/bin/env bash
# The suite on the real control plane: test/k8s/ and the e2e scenario files that run on either back end
# (E2E_BACKEND=real, hack/k8s/testing.ts). Builds the binaries (or finds them in the cache) and fetches the
# upstream CRDs' Go modules while the network is there, then runs the test files inside a network namespace
# of their own (hack/k8s/in-netns.sh), one file at a time: each starts its own cluster, and a control plane
# is 4-5 processes on 2 cores. Arguments replace the file list. Ends with the fault suite's summary for this
# back end (hack/faults-summary.ts; the ledger's real-control-plane lines are dropped at the start).
set -euo pipefail
cd "$(dirname "$0")/../.."

bash hack/k8s/build.sh >/dev/null
node --import tsx --eval 'await (await import("./hack/k8s/upstream-crds.ts")).upstreamCrdFiles();'

require=()
if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(find test/k8s -name '*.test.ts' | sort)
  # The e2e files that drive only what both back ends offer (TestCluster); controller.e2e and webhook.e2e
  # drive the sandbox's own API server (broken watches, compaction) and run on the sandbox only.
  files+=(
    test/e2e/scenarios/basic-example.e2e.test.ts
    test/e2e/scenarios/cross-region.e2e.test.ts
    test/e2e/scenarios/monitoring-and-drill.e2e.test.ts
    test/e2e/scenarios/troubleshooting.e2e.test.ts
    test/e2e/replication/min-sync-replicas.e2e.test.ts
    test/e2e/replication/sentinel-dr.e2e.test.ts
    test/e2e/replication/sentinel-tls.e2e.test.ts
    test/e2e/replication/tls-dr.e2e.test.ts
    test/e2e/faults/admission-and-api.e2e.test.ts
    test/e2e/faults/api-during-promotion.e2e.test.ts
    test/e2e/faults/disk-full.e2e.test.ts
    test/e2e/faults/empty-source.e2e.test.ts
    test/e2e/faults/initial-sync.e2e.test.ts
    test/e2e/faults/leader-guard.e2e.test.ts
    test/e2e/faults/link-and-source.e2e.test.ts
    test/e2e/faults/pods-and-controller.e2e.test.ts
    test/e2e/faults/promotion-faults.e2e.test.ts
    test/e2e/faults/sentinel-boot.e2e.test.ts
    test/e2e/security/redis-users.e2e.test.ts
  )
  require=(--require)
fi
node --import tsx hack/faults-summary.ts --reset real
status=0
E2E_BACKEND=real hack/k8s/in-netns.sh node --import tsx --test --test-concurrency=1 --test-timeout=600000 \
  "${files[@]}" || status=$?
node --import tsx hack/faults-summary.ts --backend real "${require[@]}" || status=1
exit "$status"
