# shellcheck shell=bash
# What every component of the live environment shares: the cache, logging,
# root, Debian packages and the Python venv. Sourced by scripts/live-env.sh.

CACHE="${KSPAN_CACHE:-$HOME/.cache/kspan-rs}"
VENV="$CACHE/venv"

log() { printf '[live-env] %s\n' "$*" >&2; }
die() { printf '[live-env] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

# ------------------------------------------------------------ apt packages ----

APT_UPDATED=0

apt_update_once() {
  [ "$APT_UPDATED" = 1 ] || { log "apt-get update"; as_root apt-get update -qq >&2; APT_UPDATED=1; }
}

# A package that counts as present when a function prints something, whatever
# Debian package provides it (e.g. any nginx flavour): APT_PRESENT_IF[pkg]=function.
declare -A APT_PRESENT_IF=()

# missing_apt_packages PKG...: prints those not installed, one a line.
missing_apt_packages() {
  local p
  for p in "$@"; do
    if [ -n "${APT_PRESENT_IF[$p]:-}" ] && [ -n "$("${APT_PRESENT_IF[$p]}")" ]; then continue; fi
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      printf '%s\n' "$p"
    fi
  done
}

# install_apt PKG...: installs those missing, in one apt-get run.
install_apt() {
  local missing
  missing=$(missing_apt_packages "$@" | tr '\n' ' ')
  if [ -z "${missing// /}" ]; then
    log "apt packages: all present ($*)"
    return
  fi
  log "apt packages missing: $missing"
  apt_update_once
  log "apt-get install -y $missing"
  # Debian's etcd-server and nginx packages try to start system-wide services
  # (etcd on 127.0.0.1:2379, nginx on *:80). We never use them: our instances
  # pick their own loopback ports. When the machine has no policy-rc.d, a
  # temporary one (exit 101 = "action forbidden") keeps the maintainer scripts
  # from starting them; it is removed right after the install.
  local policy=/usr/sbin/policy-rc.d tmp_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary, written by kspan-rs scripts/live-env.sh install\nexit 101\n' \
      | as_root tee "$policy" >/dev/null && as_root chmod 755 "$policy" && tmp_policy=1
    # shellcheck disable=SC2064
    [ "$tmp_policy" = 0 ] || trap "as_root rm -f '$policy'" EXIT
  fi
  local rc=0
  # shellcheck disable=SC2086
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2 || rc=$?
  if [ "$tmp_policy" = 1 ]; then as_root rm -f "$policy"; trap - EXIT; fi
  [ "$rc" = 0 ] || die "apt-get install failed ($rc)"
}

# ------------------------------------------------------------- python venv ----

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
      log "python3 has no venv/ensurepip: apt-get install -y python3-venv"
      apt_update_once
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    fi
    log "python venv: creating $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip >&2 || true
  fi
}
