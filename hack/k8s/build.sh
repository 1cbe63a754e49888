#!/usr/bin/env bash
# Builds the real local control plane's programs from upstream sources at the versions pinned in
# control-plane/go.mod and etcd/go.mod: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
# (Kubernetes v1.37.2) and etcd (v3.6.16). Prints the directory holding them on stdout. (kube-proxy is not
# used: several clusters share one network namespace in the tests, and its nftables table name is fixed;
# hack/k8s/service-network.ts forwards Services instead.)
#
# Binaries are cached outside the work tree, in $REDIS_DR_K8S_CACHE (default ~/.cache/redis-dr/k8s), under a
# key made of the pinned versions and the hash of both modules' go.mod/go.sum: a second run only checks the
# key (no Go at all); a version change builds into a new directory (and removes the other versions'). A
# build goes to a temporary directory that is renamed into place only once every binary is there, so a
# failed or interrupted build never leaves a half-written binary in the cache. Measured on 2 cores: about 11 minutes cold, 17 s with Go's caches warm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

k8s_version=v1.37.2
etcd_version=v3.6.16
programs=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

key=$(cat "$here/control-plane/go.mod" "$here/control-plane/go.sum" "$here/etcd/go.mod" "$here/etcd/go.sum" "$0" |
  sha256sum | cut -c1-12)
cache=${REDIS_DR_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/redis-dr/k8s}
dest="$cache/$k8s_version-etcd-$etcd_version-$key"

if [ -f "$dest/.complete" ]; then
  echo "$dest"
  exit 0
fi

command -v go >/dev/null || {
  echo "building the control plane needs Go 1.26 or newer (https://go.dev/dl/); go is not on PATH" >&2
  exit 1
}

mkdir -p "$cache"
work=$(mktemp -d "$cache/.build-XXXXXX")
# Interrupted (Ctrl-C, a CI timeout) or failed: the half-built directory goes, and the compiler with it. Each
# `go build` runs in the background and is waited for, because bash runs a trap only between commands.
child=""
interrupted() {
  [ -z "$child" ] || kill "$child" 2>/dev/null || true
  rm -rf "$work"
  exit "$1"
}
trap 'rm -rf "$work"' EXIT
trap 'interrupted 130' INT
trap 'interrupted 143' TERM
in_background() {
  "$@" &
  child=$!
  wait "$child"
  child=""
}

log() { printf '[k8s build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
log "building Kubernetes $k8s_version and etcd $etcd_version into $dest (cold: 11-14 minutes on 2 cores)"

version_pkg=k8s.io/component-base/version
IFS=. read -r major minor _ <<<"${k8s_version#v}"
ldflags="-s -w -X $version_pkg.gitVersion=$k8s_version -X $version_pkg.gitMajor=$major -X $version_pkg.gitMinor=$minor"
ldflags+=" -X $version_pkg.gitTreeState=clean -X $version_pkg.buildDate=1970-01-01T00:00:00Z"

export CGO_ENABLED=0 GOFLAGS=-mod=readonly
start=$SECONDS
log "etcd $etcd_version"
in_background go -C "$here/etcd" build -trimpath -ldflags "-s -w" -o "$work/etcd" go.etcd.io/etcd/server/v3
for program in "${programs[@]}"; do
  log "$program ($((SECONDS - start)) s so far)"
  in_background go -C "$here/control-plane" build -trimpath -ldflags "$ldflags" -o "$work/$program" \
    "k8s.io/kubernetes/cmd/$program"
done

"$work/kube-apiserver" --version | grep -qx "Kubernetes $k8s_version" || {
  echo "kube-apiserver reports $("$work/kube-apiserver" --version), expected Kubernetes $k8s_version" >&2
  exit 1
}
touch "$work/.complete"
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
for old in "$cache"/v*-etcd-*; do
  [ "$old" = "$dest" ] || rm -rf "$old"
done
log "done in $((SECONDS - start)) s"
echo "$dest"
