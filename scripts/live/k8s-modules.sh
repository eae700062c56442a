# shellcheck shell=bash
# A current Kubernetes release built from the Go module proxy: kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet, kubectl and the etcd server
# the release depends on. Sourced by scripts/live-env.sh.

# The Go that builds it: Debian's golang-go (for v1.20.2) is far too old.
K8S_MODULES_GO="${KSPAN_GO:-/usr/local/go/bin/go}"
K8S_MODULES_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)

# k8s_module_gomod VERSION: a go.mod requiring k8s.io/kubernetes at VERSION with every
# staging module (k8s.io/kubernetes replaces them with ./staging/src/k8s.io/..., which
# a dependency cannot use) replaced by its published v0.MINOR.PATCH release.
k8s_module_gomod() {
  local version=$1 upstream staging
  upstream=$(cd "$2" && "$K8S_MODULES_GO" mod download -json "k8s.io/kubernetes@$version" | jq -r .GoMod)
  [ -f "$upstream" ] || die "no go.mod of k8s.io/kubernetes@$version from the module proxy"
  staging="v0.${version#v1.}"
  printf 'module kspan-rs/kubernetes-build\n\ngo %s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' \
    "$(awk '$1 == "go" { print $2; exit }' "$upstream")" "$version"
  awk -v v="$staging" '$2 == "=>" && $3 ~ /^\.\/staging\// { printf "\t%s => %s %s\n", $1, $1, v }' "$upstream"
  printf ')\n'
}

# k8s_module_ldflags VERSION: the version the binaries report (`kubectl version`,
# /version), as the release's own build stamps it.
k8s_module_ldflags() {
  local version=$1 minor pkg flags="-s -w" date
  minor=${version#v1.}
  minor=${minor%%.*}
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  echo "$flags"
}

# build_k8s_from_modules VERSION: builds into $(k8s_bin VERSION), skipped when present.
# Module and log in $CACHE/k8s-VERSION/; a build cache of its own (removed afterwards),
# so the time logged is that of a cold machine.
build_k8s_from_modules() {
  local version=$1 bin dir mod build t0 etcd_version
  bin=$(k8s_bin "$version")
  if k8s_present "$version"; then
    log "control plane $version: present in $bin"
    return
  fi
  [ -x "$K8S_MODULES_GO" ] || die "no Go toolchain at $K8S_MODULES_GO (set KSPAN_GO to a go >= 1.26)"
  dir="$CACHE/k8s-$version"
  mod="$dir/module"
  build="$dir/gocache"
  t0=$(now)
  log "building Kubernetes $version (${K8S_MODULES_CMDS[*]}, etcd) from the Go module proxy"
  log "  with $("$K8S_MODULES_GO" version) in $mod, nice 10 (about 21 CPU-minutes; log: $dir/build.log)"
  rm -rf "$mod" "$build" "$dir/bin.tmp"
  mkdir -p "$mod" "$build" "$dir/bin.tmp"
  k8s_module_gomod "$version" "$mod" >"$mod/go.mod.new" || die "resolving k8s.io/kubernetes@$version failed"
  mv "$mod/go.mod.new" "$mod/go.mod"
  local pkgs=() c
  for c in "${K8S_MODULES_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  # etcd at the version the release itself requires (its go.mod pins the server module).
  if ! (cd "$mod" &&
    export GOCACHE="$build" CGO_ENABLED=0 &&
    "$K8S_MODULES_GO" get "${pkgs[@]/%/@$version}" &&
    etcd_version=$("$K8S_MODULES_GO" list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3) &&
    "$K8S_MODULES_GO" get "go.etcd.io/etcd/server/v3@$etcd_version" &&
    nice -n 10 "$K8S_MODULES_GO" build -trimpath -ldflags "$(k8s_module_ldflags "$version")" -o "$dir/bin.tmp/" "${pkgs[@]}" &&
    nice -n 10 "$K8S_MODULES_GO" build -trimpath -ldflags "-s -w" -o "$dir/bin.tmp/etcd" go.etcd.io/etcd/server/v3) \
    >"$dir/build.log" 2>&1; then
    tail -n 30 "$dir/build.log" >&2
    rm -rf "$build"
    die "building Kubernetes $version failed; see $dir/build.log"
  fi
  rm -rf "$build"
  rm -rf "$bin"
  mv "$dir/bin.tmp" "$bin"
  log "Kubernetes $version built in $(elapsed "$t0") s: $(cd "$bin" && stat -c '%n %s' ./* | awk '{printf "%s %d MB; ", substr($1, 3), $2/1048576}')"
}
