# shellcheck shell=bash
# Common helpers for the harness scripts (harness/*/…sh). Source it, do not run it.
#
# Sets (and exports):
#   KOP_REPO_ROOT  absolute path of the repository (found from this file's location,
#                  so it works from any cwd and in a fresh CI clone without git)
#   KOP_WORK       absolute scratch folder for all harness state; default
#                  $KOP_REPO_ROOT/target/harness (target/ is git-ignored)

KOP_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
export KOP_REPO_ROOT

KOP_WORK=${KOP_WORK:-$KOP_REPO_ROOT/target/harness}
# A relative KOP_WORK would break once a script or a child cd's elsewhere.
case $KOP_WORK in
  /*) ;;
  *) KOP_WORK=$(pwd -P)/$KOP_WORK ;;
esac
export KOP_WORK

# Log to stderr so that stdout stays clean for output meant for eval (e.g. `cluster.sh env`).
kop_log() {
  printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "${KOP_LOG_TAG:-harness}" "$*" >&2
}

kop_die() {
  kop_log "ERROR: $*"
  exit 1
}

# kop_need CMD... : fail early with a clear message instead of a confusing error later.
kop_need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || kop_die "required command not found: $c"
  done
}

# kop_java: path of the java binary to use ($JAVA_HOME wins, else PATH).
kop_java() {
  if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
    printf '%s\n' "$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    command -v java
  else
    kop_die "java not found (set JAVA_HOME or put java on PATH)"
  fi
}

# kop_port_open HOST PORT: true if something accepts TCP connections there.
# Uses bash's /dev/tcp, so no nc/ss is needed; `timeout` guards against a hang.
kop_port_open() {
  # shellcheck disable=SC2016  # $1/$2 are expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" >/dev/null 2>&1
}

# kop_wait_port HOST PORT TIMEOUT_S [PID]: wait until the port accepts connections.
# With PID, give up as soon as that process dies (no point waiting for a crashed server).
kop_wait_port() {
  local host=$1 port=$2 timeout_s=$3 pid=${4:-}
  local deadline=$((SECONDS + timeout_s))
  until kop_port_open "$host" "$port"; do
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      kop_log "process $pid exited before $host:$port opened"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      kop_log "timed out after ${timeout_s}s waiting for $host:$port"
      return 1
    fi
    sleep 0.2
  done
}

# kop_port_owner PORT: best-effort description of who listens on PORT (for error messages).
kop_port_owner() {
  if command -v ss >/dev/null 2>&1; then
    ss -ltnpH "sport = :$1" 2>/dev/null | awk '{print $NF}' | head -n1
  fi
}
