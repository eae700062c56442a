# shellcheck shell=bash
# What `install`, `check` and `stop` do over the components (COMPONENTS, set by
# scripts/live-env.sh). Each component file scripts/live/<name>.sh defines, with
# <name> in snake case:
#   <name>_packages   the Debian packages it needs (words on one line)
#   <name>_install    puts what it needs into the cache, skipping what is there
#   <name>_check      logs each missing piece and fails if any; may print a note
#   <name>_processes  its pid file names in $DIR/pids, in the order `stop` signals them
# and may define
#   <name>_teardown   DIR: what `stop` does first, before it signals any process
# Sourced by scripts/live-env.sh.

# select_components [NAME...]: SELECTED := the names given (checked), or every
# component but those installed on request, as function prefixes.
select_components() {
  local c
  [ $# -gt 0 ] || set -- "${COMPONENTS[@]}"
  SELECTED=()
  for c in "$@"; do
    [[ " ${COMPONENTS[*]} ${ON_REQUEST_COMPONENTS[*]} " == *" $c "* ]] \
      || die "unknown component: $c (one of: ${COMPONENTS[*]} ${ON_REQUEST_COMPONENTS[*]})"
    SELECTED+=("${c//-/_}")
  done
}

# install [COMPONENT...]: every component, or those named.
cmd_install() {
  local c packages=(util-linux)  # flock, setsid
  select_components "$@"
  mkdir -p "$CACHE"
  local t0
  t0=$(now)
  exec 9>"$CACHE/install.lock"
  if ! flock -n 9; then
    log "another install is running (lock $CACHE/install.lock); waiting for it"
    flock 9
  fi
  log "cache dir: $CACHE"
  for c in "${SELECTED[@]}"; do
    # shellcheck disable=SC2207
    packages+=($("${c}_packages"))
  done
  mapfile -t packages < <(printf '%s\n' "${packages[@]}" | awk '!seen[$0]++')
  install_apt "${packages[@]}"
  for c in "${SELECTED[@]}"; do "${c}_install"; done
  log "install done in $(elapsed "$t0") s"
  cmd_check "$@"
}

# check [COMPONENT...]: exit 0 when what `install` provides is present.
cmd_check() {
  local ok=1 c note notes=""
  select_components "$@"
  for c in "${SELECTED[@]}"; do
    note=$("${c}_check") || ok=0
    [ -z "$note" ] || notes+="${notes:+, }$note"
  done
  if [ "$ok" = 1 ]; then
    log "check: everything present${notes:+ ($notes)}"
  else
    log "check: incomplete; run scripts/live-env.sh install"
    return 1
  fi
}

# stop <dir>: everything started for <dir>, the last component first.
cmd_stop() {
  [ $# -ge 1 ] || die "usage: $0 stop <dir>"
  [ -d "$1" ] || { log "nothing to stop: $1 does not exist"; return 0; }
  local dir pids i c names=()
  dir=$(cd "$1" && pwd)
  for (( i = ${#COMPONENTS[@]} - 1; i >= 0; i-- )); do
    c=${COMPONENTS[i]//-/_}
    # A teardown that fails must not leave the processes running.
    if declare -F "${c}_teardown" >/dev/null; then
      "${c}_teardown" "$dir" || log "stop: the $c teardown failed; stopping the processes anyway"
    fi
    # shellcheck disable=SC2207
    names+=($("${c}_processes"))
  done
  pids=$(stop_pids "$dir" "${names[@]}")
  log "stopped ${pids:-nothing} for $dir"
}
