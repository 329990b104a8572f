#!/usr/bin/env bash
# Builds the Argo CD health-check harness (gopher-lua) into the cache, never into the repo, and
# prints the binary's path. The cache key is a hash of the module's sources, so an edit rebuilds.
#   hack/lua-health/build.sh            build (or reuse); prints the path
#   "$(hack/lua-health/build.sh)" argocd/resource_customizations
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_DIR="${VIRTFLEET_CACHE:-$HOME/.cache/virtfleet}"
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
hash="$(cat "$DIR"/go.mod "$DIR"/go.sum "$DIR"/main.go | sha256sum | cut -c1-12)"
out="${CACHE_DIR}/bin/lua-health-${hash}/lua-health"
if [[ ! -x "$out" ]]; then
  echo "lua-health: building ${out}" >&2
  mkdir -p "$(dirname "$out")"
  tmp="$(mktemp "$(dirname "$out")/.lua-health.XXXXXX")"
  trap 'rm -f "$tmp"' EXIT
  (cd "$DIR" && go build -trimpath -ldflags "-s -w" -o "$tmp" .)
  mv "$tmp" "$out"
fi
echo "$out"
