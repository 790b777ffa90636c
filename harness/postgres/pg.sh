#!/usr/bin/env bash
# A PostgreSQL server on loopback for the management store's tests (Debian's postgresql
# package: `apt-get install postgresql`; .ci/run installs it).
#   127.0.0.1:19432, database kop, user kop, who may create databases (one per test); trust
#   on loopback: a test server only
#
# Usage: harness/postgres/pg.sh COMMAND
#   start    initdb on first use, start in the background, wait until it answers; no-op if
#            already running
#   stop     stop it (fast shutdown)
#   status   one line; exit 0 only if it answers
#   env      print `export KOP_PG_URL=...` for tests (eval "$(harness/postgres/pg.sh env)")
#   kill9    SIGKILL the server (crash tests), leaving its data as a crash would
#
# Files in $KOP_WORK/postgres: data/ (the cluster), postgres.log, the socket.
# Run as root, the server runs as the postgres user (PostgreSQL refuses root).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
# shellcheck disable=SC2034  # read by kop_log
KOP_LOG_TAG=postgres

HOST=127.0.0.1
PORT=19432
PG_DIR=$KOP_WORK/postgres
DATA=$PG_DIR/data
LOG_FILE=$PG_DIR/postgres.log
URL="postgres://kop@$HOST:$PORT/kop"

bin_dir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x $d/pg_ctl ]] && { echo "$d"; return 0; }
  done
  kop_die "PostgreSQL server binaries not found: apt-get install postgresql"
}

# as_owner CMD...: runs CMD as the data directory's owner (postgres when we are root).
as_owner() {
  if ((EUID == 0)); then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

answers() {
  local bin
  bin=$(bin_dir)
  "$bin/pg_isready" -q -h "$HOST" -p "$PORT" -d kop -U kop
}

cmd_start() {
  local bin
  bin=$(bin_dir)
  mkdir -p "$PG_DIR"
  if ((EUID == 0)); then chown postgres "$PG_DIR"; fi
  if answers; then
    kop_log "already running on $HOST:$PORT"
    return 0
  fi
  if [[ ! -f $DATA/PG_VERSION ]]; then
    kop_log "initdb into $DATA"
    as_owner "$bin/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    {
      echo "listen_addresses = '$HOST'"
      echo "port = $PORT"
      echo "unix_socket_directories = '$PG_DIR'"
      echo "fsync = on"
    } | as_owner tee -a "$DATA/postgresql.conf" >/dev/null
  fi
  if kop_port_open "$HOST" "$PORT"; then
    kop_die "port $PORT is taken by another process ($(kop_port_owner "$PORT")); stop it first"
  fi
  as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG_FILE" -w -t 60 start >/dev/null
  if ! "$bin/psql" -qtA -h "$HOST" -p "$PORT" -U postgres -d postgres \
    -c "SELECT 1 FROM pg_roles WHERE rolname = 'kop'" | grep -q 1; then
    "$bin/psql" -q -h "$HOST" -p "$PORT" -U postgres -d postgres -c "CREATE ROLE kop LOGIN CREATEDB" >/dev/null
    "$bin/psql" -q -h "$HOST" -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE kop OWNER kop" >/dev/null
  fi
  answers || kop_die "started but does not answer; see $LOG_FILE"
  kop_log "running on $HOST:$PORT ($URL)"
}

cmd_stop() {
  local bin
  bin=$(bin_dir)
  if [[ -f $DATA/postmaster.pid ]]; then
    as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
    kop_log "stopped"
  fi
}

cmd_kill9() {
  local pid
  [[ -f $DATA/postmaster.pid ]] || kop_die "not running"
  pid=$(head -1 "$DATA/postmaster.pid")
  kill -9 "$pid"
  kop_log "killed pid $pid"
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  kill9) cmd_kill9 ;;
  status)
    if answers; then echo "postgres: running on $HOST:$PORT"; else echo "postgres: not running"; exit 1; fi
    ;;
  env) echo "export KOP_PG_URL=$URL" ;;
  *)
    sed -n '2,/^# shellcheck source-path/{/^# shellcheck source-path/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
esac
