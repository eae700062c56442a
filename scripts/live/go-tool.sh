# shellcheck shell=bash
# Building a Go command from the module proxy into the cache, as Jaeger and helm
# are built. Sourced by scripts/live-env.sh.

# go_tool_install NAME VERSION DIR BIN GO PACKAGE MINUTES [LDFLAGS]: builds PACKAGE
# (a main package) at VERSION with GO into BIN, unless BIN is there; the module
# and build.log in DIR. MINUTES: the CPU-minutes it is said to take.
go_tool_install() {
  local name=$1 version=$2 dir=$3 bin=$4 go=$5 package=$6 minutes=$7 ldflags=${8:-}
  if [ -x "$bin" ]; then
    log "$name $version: present in $bin"
    return
  fi
  [ -x "$go" ] || die "$name: no Go toolchain at $go (set KSPAN_GO to a go >= 1.25)"
  local t0 mod="$dir/module"
  t0=$(now)
  log "building $name $version ($package) with $("$go" version) in $mod"
  log "  from the Go module proxy (about $minutes CPU-minutes)"
  # A module of its own in the cache dir (not the repository), so that `go get
  # -tool` records exactly this version and its dependencies.
  mkdir -p "$mod" "$(dirname "$bin")"
  printf 'module kspan-rs/%s-tool\n\ngo 1.26\n' "$name" >"$mod/go.mod"
  (cd "$mod" &&
    "$go" get -tool "$package@$version" &&
    nice -n 10 "$go" build -ldflags "$ldflags" -o "$bin.tmp" "$package") >"$dir/build.log" 2>&1 \
    || { tail -n 30 "$dir/build.log" >&2; die "building $name failed; see $dir/build.log"; }
  mv "$bin.tmp" "$bin"
  log "$name built in $(elapsed "$t0") s: $bin"
}
