#!/usr/bin/env bash
# Runs a command in a network namespace of its own: loopback up, all of 10.0.0.0/8 local on it (the real
# local clusters' addresses, hack/k8s/control-plane.ts) and no route out, so nothing a cluster does can reach
# another machine. The namespace lives as long as the command. Needs root (unshare --net).
#   hack/k8s/in-netns.sh node --import tsx --test test/realk8s/*.test.ts
set -euo pipefail
if [ $# -eq 0 ]; then
  echo "usage: hack/k8s/in-netns.sh COMMAND [ARG...]" >&2
  exit 2
fi
exec unshare --net --fork -- /bin/sh -c 'ip link set lo up && ip addr add 10.0.0.0/8 dev lo && exec "$@"' in-netns "$@"
