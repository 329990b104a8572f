#!/usr/bin/env bash
# Builds the pinned test binaries (kube-apiserver, etcd, kubectl, ...) from the Go
# module proxy through the wrapper modules in hack/tools/, and caches them outside
# the repo so that no binary is ever committed.
#
# Usage:
#   hack/build-tools.sh [tool...]       build (or reuse) tools; prints each binary's path
#                                       default: kube-apiserver etcd kubectl
#   hack/build-tools.sh --print-dir <tool>
#                                       print the tool's cache dir, without building
#   hack/build-tools.sh --assets-dir    print the KUBEBUILDER_ASSETS dir (kube-apiserver,
#                                       etcd, kubectl); exits 1 if it is not complete yet
#   hack/build-tools.sh --list          print the known tools and their versions
#
# Tools: kube-apiserver kube-controller-manager kubectl etcd helm kubeconform crane
#        placement-oracle docker-registry
# Cache: ${VIRTFLEET_CACHE:-$HOME/.cache/virtfleet}/bin/<tool>-<version>/<tool>
# VIRTFLEET_BUILD_JOBS sets go build -p (default 2). Go's build cache (GOCACHE)
# makes a rebuild after deleting the cache dir take seconds.
# Versions are the ones required in hack/tools/<wrapper>/go.mod; bump them there.
# placement-oracle is this repo's own Go module (hack/placement-oracle): its version is
# k8s.io/component-helpers' plus a hash of its sources, so an edit rebuilds it.
# docker-registry is not built: it is the binary of Debian's package of that name, taken
# out of the .deb (`apt-get download` + `dpkg-deb -x`) and never installed, because the
# package's postinst starts a registry service on :5000 on every interface. Its version is
# the Debian version apt offers (apt-cache), so a Debian update fetches the new binary.
# Paths go to stdout, progress to stderr, so `$(hack/build-tools.sh etcd)` works.
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/tools" && pwd)"
CACHE_DIR="${VIRTFLEET_CACHE:-$HOME/.cache/virtfleet}"
BIN_DIR="${CACHE_DIR}/bin"
DEFAULT_TOOLS=(kube-apiserver etcd kubectl)
ALL_TOOLS=(kube-apiserver kube-controller-manager kubectl etcd helm kubeconform crane placement-oracle docker-registry)

# Build with the installed Go only (never fetch a toolchain), ignore any go.work,
# and link statically like the upstream release builds.
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0

BUILD_TMP=""
# An interrupted build leaves no partial file behind (signals exit so EXIT runs).
EXTRACT_TMP=""
trap 'rm -f "$BUILD_TMP"; [[ -z "$EXTRACT_TMP" ]] || rm -rf "$EXTRACT_TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

log() { echo "build-tools: $*" >&2; }
die() { log "error: $*"; exit 1; }

# tool -> "<wrapper dir> <module that names the version> <main package>"
spec() {
  case "$1" in
    kube-apiserver | kube-controller-manager | kubectl)
      echo "kubernetes k8s.io/kubernetes k8s.io/kubernetes/cmd/$1" ;;
    etcd) echo "etcd go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3" ;;
    helm) echo "helm helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm" ;;
    kubeconform) echo "kubeconform github.com/yannh/kubeconform github.com/yannh/kubeconform/cmd/kubeconform" ;;
    crane) echo "crane github.com/google/go-containerregistry github.com/google/go-containerregistry/cmd/crane" ;;
    docker-registry) echo "- - -" ;; # a Debian package, see debian_version and extract_deb
    placement-oracle) echo "../placement-oracle k8s.io/component-helpers ." ;;
    *) die "unknown tool '$1' (known: ${ALL_TOOLS[*]})" ;;
  esac
}

# Version of module $2 as required in wrapper $1's go.mod (plain text read: no
# network, so --print-dir stays instant).
required_version() {
  local v
  v="$(awk -v m="$2" '{ for (i = 1; i < NF; i++) if ($i == m && $(i + 1) ~ /^v/) { print $(i + 1); exit } }' \
    "${TOOLS_DIR}/$1/go.mod")"
  [[ -n "$v" ]] || die "no version of $2 in hack/tools/$1/go.mod"
  echo "$v"
}

# Debian version of package $1 that apt would fetch (from apt's local lists: no network).
# A Debian epoch's ':' is left out of it, so it can name a directory.
debian_version() {
  apt-cache show --no-all-versions "$1" 2>/dev/null | awk '/^Version: / { sub(/^[0-9]+:/, "", $2); print $2; exit }'
}

# docker-registry's version, resolved once per run (apt-cache takes ~0.5 s) into REGISTRY_VERSION.
resolve_registry_version() {
  [[ -z "${REGISTRY_VERSION:-}" ]] || return 0
  local v
  v="$(debian_version docker-registry)"
  if [[ -z "$v" && -n "${MAY_UPDATE_APT:-}" ]]; then
    log "apt knows no docker-registry package yet; running apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    v="$(debian_version docker-registry)"
  fi
  if [[ -z "$v" ]]; then
    # No apt lists yet (a fresh machine): the newest binary already taken out, if any.
    v="$(find "$BIN_DIR" -maxdepth 1 -name 'docker-registry-*' -printf '%f\n' 2>/dev/null | sed 's/^docker-registry-//' | sort -V | tail -n 1)"
  fi
  [[ -n "$v" ]] || die "apt knows no docker-registry package; run: apt-get update"
  REGISTRY_VERSION="v$v"
}

version_of() { # tool -> version with the leading v, e.g. v1.35.4
  local dir mod _pkg
  if [[ "$1" == docker-registry ]]; then
    resolve_registry_version
    echo "$REGISTRY_VERSION"
    return
  fi
  read -r dir mod _pkg <<<"$(spec "$1")"
  if [[ "$1" == placement-oracle ]]; then
    echo "$(required_version "$dir" "$mod")-$(cat "${TOOLS_DIR}/${dir}"/{go.mod,go.sum,main.go} | sha256sum | cut -c1-12)"
    return
  fi
  required_version "$dir" "$mod"
}

tool_dir() { local v; v="$(version_of "$1")"; echo "${BIN_DIR}/$1-${v#v}"; }

assets_dir() { local v; v="$(version_of kube-apiserver)"; echo "${CACHE_DIR}/assets-${v#v}"; }

# Tool-specific ldflags/tags, mirroring each project's own release build.
build_flags() { # tool version -> sets TAGS and LDFLAGS
  local tool="$1" version="$2" major minor p client_go
  TAGS="" LDFLAGS="-s -w"
  case "$tool" in
    kube-apiserver | kube-controller-manager | kubectl)
      # hack/lib/golang.sh + version.sh: without the stamps /version says v0.0.0.
      TAGS="selinux,notest,grpcnotrace"
      IFS=. read -r major minor _ <<<"${version#v}"
      for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        LDFLAGS+=" -X ${p}.gitVersion=${version} -X ${p}.gitMajor=${major} -X ${p}.gitMinor=${minor}"
      done ;;
    helm)
      # helm's Makefile: without these `helm version` says v3.x and the default
      # .Capabilities.KubeVersion falls back to v1.20.
      client_go="$(required_version helm k8s.io/client-go)"
      IFS=. read -r major minor _ <<<"${client_go#v}"
      LDFLAGS+=" -X helm.sh/helm/v3/internal/version.version=${version}"
      for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
        LDFLAGS+=" -X ${p}.k8sVersionMajor=$((major + 1)) -X ${p}.k8sVersionMinor=${minor}"
      done ;;
    kubeconform) LDFLAGS+=" -X main.version=${version}" ;;
    # crane's Makefile stamps it; otherwise `crane version` reads the wrapper's "(devel)".
    crane) LDFLAGS+=" -X github.com/google/go-containerregistry/cmd/crane/cmd.Version=${version}" ;;
    etcd) ;; # its version is a constant in go.etcd.io/etcd/api/v3/version
  esac
}

# Takes usr/bin/$2 out of Debian package $1 into $3 without installing the package (its
# maintainer scripts never run). Runs `apt-get update` once when the download fails.
extract_deb() {
  local package="$1" binary="$2" out="$3" start=$SECONDS deb
  EXTRACT_TMP="$(mktemp -d "${TMPDIR:-/tmp}/virtfleet-deb-XXXXXX")"
  log "fetching ${binary} from Debian's ${package} package ..."
  if ! (cd "$EXTRACT_TMP" && apt-get download -qq -o APT::Sandbox::User=root "$package" >&2); then
    log "apt-get download failed; running apt-get update first"
    apt-get update -qq >&2 || die "apt-get update failed"
    (cd "$EXTRACT_TMP" && apt-get download -qq -o APT::Sandbox::User=root "$package" >&2) || die "apt-get download ${package} failed"
  fi
  deb="$(find "$EXTRACT_TMP" -maxdepth 1 -name "${package}_*.deb" | head -n 1)"
  [[ -n "$deb" ]] || die "apt-get download left no ${package}_*.deb"
  dpkg-deb -x "$deb" "${EXTRACT_TMP}/root" || die "dpkg-deb -x ${deb} failed"
  [[ -x "${EXTRACT_TMP}/root/usr/bin/${binary}" ]] || die "${package} has no usr/bin/${binary}"
  BUILD_TMP="$(mktemp "${out}.tmp.XXXXXX")"
  cp "${EXTRACT_TMP}/root/usr/bin/${binary}" "$BUILD_TMP"
  chmod 755 "$BUILD_TMP"
  mv -f "$BUILD_TMP" "$out"
  rm -rf "$EXTRACT_TMP"
  EXTRACT_TMP=""
  log "took ${binary} $(basename "$(dirname "$out")" | sed "s/^${binary}-//") out of ${package} in $((SECONDS - start))s ($(du -h "$out" | cut -f1))"
}

build() {
  local tool="$1" dir mod pkg version out start
  read -r dir mod pkg <<<"$(spec "$tool")"
  if [[ "$tool" == placement-oracle ]]; then
    version="$(required_version "$dir" "$mod")" # its stamp is component-helpers' version
  else
    version="$(version_of "$tool")"
  fi
  out="$(tool_dir "$tool")/${tool}"
  if [[ ! -x "$out" ]]; then
    mkdir -p "$(dirname "$out")"
    # Serialise concurrent runs (e.g. parallel test jobs) on the same binary.
    if command -v flock >/dev/null; then
      exec {lock_fd}>"$(dirname "$out")/.lock"
      flock "$lock_fd"
    fi
    if [[ ! -x "$out" && "$tool" == docker-registry ]]; then
      extract_deb docker-registry docker-registry "$out"
    elif [[ ! -x "$out" ]]; then
      build_flags "$tool" "$version"
      log "building ${tool} ${version} ..."
      start=$SECONDS
      BUILD_TMP="$(mktemp "${out}.tmp.XXXXXX")"
      # -mod=readonly: go.mod/go.sum in hack/tools are the pins; an inherited
      # GOFLAGS=-mod=mod must not rewrite them. -buildvcs=false keeps the repo's
      # git state out of the binary. -p caps parallel compiles to bound memory
      # (measured peak ~2 GiB, in the final link of kube-controller-manager).
      if ! (cd "${TOOLS_DIR}/${dir}" && go build -mod=readonly -buildvcs=false -trimpath \
        -p "${VIRTFLEET_BUILD_JOBS:-2}" -tags "$TAGS" -ldflags "$LDFLAGS" -o "$BUILD_TMP" "$pkg"); then
        die "building ${tool} failed"
      fi
      mv -f "$BUILD_TMP" "$out" # atomic: a killed build never leaves a half-written binary
      log "built ${tool} ${version} in $((SECONDS - start))s ($(du -h "$out" | cut -f1))"
    fi
    if [[ -n "${lock_fd:-}" ]]; then exec {lock_fd}>&-; unset lock_fd; fi
  fi
  echo "$out"
}

# KUBEBUILDER_ASSETS convention: one dir holding kube-apiserver, etcd, kubectl.
# Relative links so the whole cache dir can be moved or mounted elsewhere.
link_assets() {
  local adir t
  adir="$(assets_dir)"
  mkdir -p "$adir"
  for t in kube-apiserver etcd kubectl; do
    if [[ -x "$(tool_dir "$t")/$t" ]]; then
      ln -sfn "../bin/$(basename "$(tool_dir "$t")")/$t" "${adir}/$t"
    fi
  done
}

main() {
  case "${1:-}" in
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; return ;;
    --print-dir)
      [[ $# -eq 2 ]] || die "usage: $0 --print-dir <tool>"
      spec "$2" >/dev/null
      [[ "$2" != docker-registry ]] || resolve_registry_version
      tool_dir "$2"; return ;;
    --assets-dir)
      local adir t missing=()
      adir="$(assets_dir)"
      link_assets
      for t in kube-apiserver etcd kubectl; do [[ -x "${adir}/$t" ]] || missing+=("$t"); done
      echo "$adir"
      if ((${#missing[@]})); then
        log "assets dir is missing: ${missing[*]}; run: $0 ${missing[*]}"
        return 1
      fi
      return ;;
    --list)
      local t
      resolve_registry_version
      for t in "${ALL_TOOLS[@]}"; do echo "$t $(version_of "$t")"; done
      return ;;
    -*) die "unknown option '$1' (see $0 --help)" ;;
  esac
  local tools=("$@") t
  ((${#tools[@]})) || tools=("${DEFAULT_TOOLS[@]}")
  for t in "${tools[@]}"; do spec "$t" >/dev/null; done # fail fast on typos
  MAY_UPDATE_APT=1 # building may refresh apt's lists; --print-dir and --list never do
  for t in "${tools[@]}"; do [[ "$t" != docker-registry ]] || resolve_registry_version; done
  for t in "${tools[@]}"; do build "$t"; done
  link_assets
}

main "$@"
