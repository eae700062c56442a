# shellcheck shell=bash
# Processes of one instance (a state dir, $DIR): free ports, start detached with a
# pid file in $DIR/pids, wait until ready, stop, and a watchdog that stops them
# when the owner (a test process) exits. Sourced by scripts/live-env.sh.

# Prints N distinct free TCP ports on 127.0.0.1 (checked by binding them), drawn
# at random below the kernel's ephemeral range, away from the ports the kernel
# hands out for outgoing connections.
free_ports() {
  python3 - "$1" <<'EOF'
import fcntl, os, random, socket, sys, tempfile, time
n = int(sys.argv[1]); socks = []; ports = []
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except OSError:
    low = 32768
# A port is free here only until its user binds it, seconds later: tests start in
# parallel, so ports handed out in the last minutes are remembered (under a lock)
# and not handed out again.
ledger = os.path.join(tempfile.gettempdir(), "kspan-live-ports")
with open(ledger, "a+") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.seek(0)
    now = time.time()
    recent = {}
    for line in f:
        try:
            port, at = line.split()
            if now - float(at) < 300:
                recent[int(port)] = float(at)
        except ValueError:
            pass
    rng = random.SystemRandom()
    while len(ports) < n:
        p = rng.randrange(10000, max(low, 10001))
        if p in ports or p in recent: continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            s.close(); continue
        socks.append(s); ports.append(p)
    for p in ports:
        recent[p] = now
    f.seek(0); f.truncate()
    f.writelines(f"{p} {at}\n" for p, at in recent.items())
# Closed before they are printed: the reader goes on as soon as it has the line,
# while this process may still be exiting.
for s in socks: s.close()
print(" ".join(map(str, ports)), flush=True)
EOF
}

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

# owner_arg DIR [--owner-pid PID]: prints PID, or nothing without the option.
owner_arg() {
  if [ "${2:-}" = "--owner-pid" ]; then echo "${3:?--owner-pid needs a pid}"; fi
}

# wait_for SECONDS DESCRIPTION PIDFILE-OR-EMPTY COMMAND...
wait_for() {
  local secs=$1 what=$2 pid=$3; shift 3
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      die "$what: process $pid exited; see its log"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then die "timed out after ${secs}s waiting for $what"; fi
    sleep 0.2
  done
}

# wait_for_port SECONDS DESCRIPTION PID PORT: until 127.0.0.1:PORT accepts connections.
wait_for_port() {
  wait_for "$1" "$2" "$3" python3 -c "import socket; socket.create_connection(('127.0.0.1', $4), 1)"
}

# spawn NAME LOGFILE CMD...: starts CMD detached in its own session, records its pid.
spawn() {
  local name=$1 logf=$2; shift 2
  setsid "$@" </dev/null >"$logf" 2>&1 &
  local pid=$!
  echo "$pid" >"$DIR/pids/$name"
  printf '%s' "$pid"
}

# running NAME: the process of $DIR/pids/NAME is alive.
running() {
  [ -f "$DIR/pids/$1" ] && kill -0 "$(cat "$DIR/pids/$1")" 2>/dev/null
}

# ---------------------------------------------------------------- watchdog ----

# A component's stop command is `stop-<name>` and its watchdog's pid file
# `<name>-watchdog`; the control plane's are `stop` and `watchdog`.
watchdog_pidfile() {
  local name=${1#stop}
  name=${name#-}
  printf '%s' "${name:+$name-}watchdog"
}

# watch_owner OWNER STOP-COMMAND LOGFILE: when OWNER (a pid) exits, a watchdog runs
# `live-env.sh STOP-COMMAND $DIR` (a test process killed before it stopped what it
# started). Prints the watchdog's pid; nothing without an OWNER.
watch_owner() {
  local owner=$1 stop=$2 logf=$3
  [ -n "$owner" ] || return 0
  spawn "$(watchdog_pidfile "$stop")" "$logf" bash "$SELF" _watchdog "$stop" "$owner" "$DIR"
}

# _watchdog STOP-COMMAND OWNER DIR
cmd_watchdog() {
  local stop=$1 owner=$2 dir=$3
  while kill -0 "$owner" 2>/dev/null && [ -d "$dir/pids" ]; do sleep 1; done
  rm -f "$dir/pids/$(watchdog_pidfile "$stop")"
  [ ! -d "$dir" ] || main "$stop" "$dir"
}

# -------------------------------------------------------------------- stop ----

stop_pidfile() {
  local f=$1 pid name
  pid=$(cat "$f" 2>/dev/null || true)
  name=$(basename "$f")
  rm -f "$f"
  [ -n "$pid" ] || return 0
  # Only signal a process that is still the one we started (a pid may be reused):
  # its command line contains the pid file's name (`receiver-watchdog` and
  # `tls-proxy-watchdog`, `jaeger-watchdog`, `collector-watchdog`, `node-watchdog` run `... _watchdog ...`).
  local pat=${name#receiver-}
  pat=${pat#tls-proxy-}
  pat=${pat#jaeger-}
  pat=${pat#collector-}
  pat=${pat#node-}
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pat"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    printf '%s ' "$pid"
  fi
}

# True while PID exists and is not a zombie (an exited process whose parent, here
# often a minimal init, has not reaped it yet still answers kill -0).
is_running() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$state" != Z ]
}

wait_gone() {
  local pid deadline=$(( $(date +%s) + ${KSPAN_STOP_TIMEOUT:-8} ))
  for pid in "$@"; do
    while is_running "$pid"; do
      if [ "$(date +%s)" -ge "$deadline" ]; then kill -KILL "$pid" 2>/dev/null || true; break; fi
      sleep 0.1
    done
  done
}

# stop_pids DIR NAME...: SIGTERM to the processes of DIR's pid files NAME... at once
# (each shuts down gracefully in 1-3 s), SIGKILL what is left after the deadline.
# Prints the pids signalled.
stop_pids() {
  local dir=$1 name pids=""; shift
  for name in "$@"; do
    [ -f "$dir/pids/$name" ] || continue
    pids+=$(stop_pidfile "$dir/pids/$name")
  done
  # shellcheck disable=SC2086
  wait_gone $pids
  printf '%s' "$pids"
}

# stop_service WHAT STOP-COMMAND PROCESS DIR: stops one component's PROCESS of DIR
# and its watchdog.
stop_service() {
  local what=$1 stop=$2 process=$3 dir=$4 pids
  [ -d "$dir" ] || { log "no $what to stop: $dir does not exist"; return 0; }
  dir=$(cd "$dir" && pwd)
  [ -f "$dir/pids/$(watchdog_pidfile "$stop")" ] && stop_pidfile "$dir/pids/$(watchdog_pidfile "$stop")" >/dev/null
  [ -f "$dir/pids/$process" ] || { log "no $what running for $dir"; return 0; }
  pids=$(stop_pids "$dir" "$process")
  log "stopped $what ${pids:-}"
}
