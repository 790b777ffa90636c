#!/usr/bin/env bash
# Test OpenID Connect providers (npm oidc-provider 9.13.3, harness/idp/server.mjs) on loopback:
#   main    http://127.0.0.1:19400   second  http://127.0.0.1:19401 (own keys, kafka-producer only)
# Clients, token contents and the admin hooks are described at the top of server.mjs.
#
# Usage: harness/idp/idp.sh COMMAND
#   install              `npm ci` into $KOP_WORK/idp (no-op when package*.json are unchanged)
#   start                install, start in the background, wait until both discovery documents
#                        answer; no-op if already healthy
#   stop                 stop it (SIGTERM, SIGKILL after 10 s)
#   status               one line; exit 0 only if running and both issuers answer
#   env                  print `export` lines for tests (eval "$(harness/idp/idp.sh env)")
#   token CLIENT [main|second]   print an access token (client-credentials grant, secret
#                        CLIENT-secret, client_secret_basic)
#   admin main|second METHOD PATH [JSON]   call a test hook (see server.mjs), e.g.
#                        admin main POST '/admin/rotate?drop=1'
#                        admin main POST '/admin/jwks?status=503'
#                        admin second POST /admin/sign '{"alg":"ES256","claims":{"exp":null}}'
#
# Files in $KOP_WORK/idp: node_modules, server.mjs (copied at each start), idp.pid, idp.log
#   (previous run: idp.log.1).
# Environment: KOP_WORK (default <repo>/target/harness), KOP_IDP_START_TIMEOUT (s, 30),
#   KOP_IDP_ADMIN_TOKEN (default kop-idp-admin).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
IDP_SH=$HERE/$(basename "${BASH_SOURCE[0]}")
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
# shellcheck disable=SC2034  # read by kop_log
KOP_LOG_TAG=idp

HOST=127.0.0.1
MAIN_PORT=19400
SECOND_PORT=19401
IDP_DIR=$KOP_WORK/idp
PID_FILE=$IDP_DIR/idp.pid
LOG_FILE=$IDP_DIR/idp.log
START_TIMEOUT=${KOP_IDP_START_TIMEOUT:-30}
ADMIN_TOKEN=${KOP_IDP_ADMIN_TOKEN:-kop-idp-admin}
export KOP_IDP_ADMIN_TOKEN=$ADMIN_TOKEN

issuer_url() {
  case ${1:-main} in
    main) echo "http://$HOST:$MAIN_PORT" ;;
    second) echo "http://$HOST:$SECOND_PORT" ;;
    *) kop_die "issuer must be main or second (got '$1')" ;;
  esac
}

# Serialise install/start/stop between concurrent callers (e.g. parallel test binaries).
take_lock() {
  mkdir -p "$IDP_DIR"
  exec 9>"$IDP_DIR/.lock"
  flock -w 120 9 || kop_die "could not lock $IDP_DIR/.lock"
}

cmd_install() {
  local stamp
  stamp=$(cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [[ -f $IDP_DIR/.installed && $(<"$IDP_DIR/.installed") == "$stamp" && -d $IDP_DIR/node_modules/oidc-provider ]]; then
    return 0
  fi
  kop_need node npm
  kop_log "installing oidc-provider into $IDP_DIR (npm ci)"
  rm -rf "$IDP_DIR/node_modules" "$IDP_DIR/.installed"
  cp "$HERE/package.json" "$HERE/package-lock.json" "$IDP_DIR/"
  (cd "$IDP_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$stamp" >"$IDP_DIR/.installed"
}

# is_idp PID: true if PID is a live node running $IDP_DIR/server.mjs (not a recycled pid).
is_idp() {
  [[ $1 =~ ^[0-9]+$ && $(cat "/proc/$1/comm" 2>/dev/null) == node ]] \
    && grep -aqF -- "$IDP_DIR/server.mjs" "/proc/$1/cmdline" 2>/dev/null
}

# idp_pid: pid of our server, or return 1. Falls back to a /proc scan when the pid file is gone.
idp_pid() {
  local pid f
  if [[ -f $PID_FILE ]] && pid=$(<"$PID_FILE") && is_idp "$pid"; then
    echo "$pid"
    return 0
  fi
  while read -r f; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    if is_idp "$pid"; then
      echo "$pid"
      return 0
    fi
  done < <(grep -alF -- "$IDP_DIR/server.mjs" /proc/[0-9]*/cmdline 2>/dev/null)
  return 1
}

discovery_ok() {
  curl -fsS --max-time 2 -o /dev/null "$(issuer_url "$1")/.well-known/openid-configuration"
}

healthy() { idp_pid >/dev/null && discovery_ok main && discovery_ok second; }

cmd_start() {
  local pid port started=$SECONDS t0
  kop_need node curl
  take_lock
  cmd_install
  if healthy; then
    kop_log "already running (pid $(idp_pid))"
    return 0
  fi
  if pid=$(idp_pid); then
    kop_log "pid $pid is running but not answering; restarting it"
    stop_idp
  fi
  for port in $MAIN_PORT $SECOND_PORT; do
    if kop_port_open $HOST "$port"; then
      kop_die "port $port is taken by another process ($(kop_port_owner "$port")); stop it first"
    fi
  done
  cp "$HERE/server.mjs" "$IDP_DIR/server.mjs"
  # Keep the previous run's log for post-mortems, start a fresh one.
  [[ -f $LOG_FILE ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  t0=$(date +%s%N)
  rm -f "$PID_FILE"
  (
    # The server must not inherit the caller's other descriptors: the lock (fd 9) would stay
    # held, and a CI runner's or test harness's pipe would never see EOF.
    for fd in /proc/"$BASHPID"/fd/*; do
      fd=${fd##*/}
      if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    # setsid: own session, so a Ctrl-C or a killed process group of the caller does not take it
    # down; `stop` is the way to end it. -w keeps $! alive as long as node even if setsid has to
    # fork. The server writes its own pid to $PID_FILE.
    export KOP_IDP_PORT=$MAIN_PORT KOP_IDP2_PORT=$SECOND_PORT KOP_IDP_PID_FILE=$PID_FILE
    exec setsid -w node "$IDP_DIR/server.mjs" </dev/null >>"$LOG_FILE" 2>&1
  ) &
  pid=$!
  until discovery_ok main 2>/dev/null && discovery_ok second 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$LOG_FILE" >&2
      kop_die "idp exited during startup (log: $LOG_FILE)"
    fi
    if ((SECONDS - started >= START_TIMEOUT)); then
      tail -n 20 "$LOG_FILE" >&2
      stop_idp
      kop_die "idp did not answer within ${START_TIMEOUT}s (log: $LOG_FILE)"
    fi
    sleep 0.1
  done
  kop_log "started pid $(idp_pid) in $(( ($(date +%s%N) - t0) / 1000000 )) ms: $(issuer_url main) $(issuer_url second)"
}

stop_idp() {
  local pid deadline
  pid=$(idp_pid) || { rm -f "$PID_FILE"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  # is_idp, not kill -0: an exited server that nobody reaped yet (zombie) counts as stopped.
  while is_idp "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  if is_idp "$pid"; then
    kop_log "pid $pid did not stop within 10s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  kop_log "stopped pid $pid"
}

cmd_stop() {
  take_lock
  stop_idp
}

cmd_status() {
  local pid
  if ! pid=$(idp_pid); then
    echo "idp: stopped"
    return 1
  fi
  if discovery_ok main 2>/dev/null && discovery_ok second 2>/dev/null; then
    echo "idp: running pid $pid, $(issuer_url main) and $(issuer_url second) answer"
  else
    echo "idp: running pid $pid, not answering (starting?)"
    return 1
  fi
}

cmd_env() {
  local main second kv
  main=$(issuer_url main)
  second=$(issuer_url second)
  for kv in \
    "KOP_IDP_ISSUER=$main" \
    "KOP_IDP_DISCOVERY_URL=$main/.well-known/openid-configuration" \
    "KOP_IDP_JWKS_URL=$main/jwks" \
    "KOP_IDP_TOKEN_URL=$main/token" \
    "KOP_IDP2_ISSUER=$second" \
    "KOP_IDP2_DISCOVERY_URL=$second/.well-known/openid-configuration" \
    "KOP_IDP2_JWKS_URL=$second/jwks" \
    "KOP_IDP2_TOKEN_URL=$second/token" \
    "KOP_IDP_AUDIENCE=kafka" \
    "KOP_IDP_SCOPE=kafka" \
    "KOP_IDP_CLIENTS=kafka-producer,kafka-consumer,kafka-es256,kafka-eddsa,kafka-ps256,kafka-short,kafka-wrong-aud,kafka-no-scope,kafka-admin,kafka-proxy" \
    "KOP_IDP2_CLIENTS=kafka-producer" \
    "KOP_IDP_SECRET_SUFFIX=-secret" \
    "KOP_IDP_ADMIN_HEADER=X-Kop-Idp-Admin" \
    "KOP_IDP_ADMIN_TOKEN=$ADMIN_TOKEN" \
    "KOP_IDP_SERVER=$IDP_DIR/server.mjs" \
    "KOP_IDP_SH=$IDP_SH"; do
    # Plain values stay readable; anything unusual (spaces in KOP_WORK...) gets quoted.
    if [[ ${kv#*=} =~ ^[A-Za-z0-9_./:,@+-]*$ ]]; then
      printf 'export %s\n' "$kv"
    else
      printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
    fi
  done
}

cmd_token() {
  [[ $# -ge 1 ]] || kop_die "usage: $IDP_SH token CLIENT_ID [main|second]"
  local body
  body=$(curl -sS --max-time 10 -u "$1:$1-secret" -d grant_type=client_credentials \
    "$(issuer_url "${2:-main}")/token") || kop_die "token request failed"
  node -e 'const t = JSON.parse(process.argv[1]).access_token; if (!t) process.exit(1); console.log(t)' \
    "$body" 2>/dev/null || kop_die "no access token: $body"
}

cmd_admin() {
  [[ $# -ge 3 ]] || kop_die "usage: $IDP_SH admin main|second METHOD PATH [JSON]"
  local args=(-sS --max-time 10 -X "$2" -H "X-Kop-Idp-Admin: $ADMIN_TOKEN")
  [[ $# -ge 4 ]] && args+=(-H 'content-type: application/json' --data "$4")
  curl "${args[@]}" "$(issuer_url "$1")$3"
  echo
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;/shellcheck/d;s/^# \{0,1\}//;p}' "$IDP_SH" >&2
  exit 2
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    install) take_lock; cmd_install ;;
    start)   cmd_start ;;
    stop)    cmd_stop ;;
    status)  cmd_status ;;
    env)     cmd_env ;;
    token)   cmd_token "$@" ;;
    admin)   cmd_admin "$@" ;;
    -h|--help|help|"") usage ;;
    *) kop_log "unknown command '$cmd'"; usage ;;
  esac
}

main "$@"
