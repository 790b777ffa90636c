#!/usr/bin/env bash
# A real Keycloak (org.keycloak:keycloak-quarkus-dist 26.7.3 from Maven Central, run natively in
# dev mode) on loopback, with the realm deploy/keycloak/realm-kop.json imported: the same file
# docker-compose.yml imports. Issuer http://127.0.0.1:19480/realms/kop (KC_HOSTNAME is set, so
# `iss` does not follow the request's host name).
#
# Usage: harness/keycloak/keycloak.sh COMMAND
#   fetch                download and unpack the distribution into $KOP_WORK/keycloak (once)
#   start                fetch, start in the background with a fresh import of the realm (new
#                        keys each time), wait until the realm answers; no-op if already healthy
#   stop                 stop it (SIGTERM, SIGKILL after 20 s)
#   status               one line; exit 0 only if the realm answers
#   env                  print `export` lines for tests (eval "$(harness/keycloak/keycloak.sh env)")
#   token CLIENT         an access token of a client-credentials client (secret CLIENT-secret)
#   user-token USER      an access token of a user of the realm (password USER-password) for the
#                        management API's single sign-on (client kop-management)
#   admin METHOD PATH [JSON]   call the admin REST API (/admin/realms/kop + PATH) as the
#                        bootstrap administrator, e.g. admin GET /keys
#
# Keycloak 26 needs Java >= 21: the newest JDK under /usr/lib/jvm with a major version >= 21 is
# used (KOP_KEYCLOAK_JAVA_HOME overrides). Files in $KOP_WORK/keycloak: the distribution,
# keycloak.pid, keycloak.log. Environment: KOP_WORK, KOP_KEYCLOAK_START_TIMEOUT (s, 300).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
# shellcheck disable=SC2034  # read by kop_log
KOP_LOG_TAG=keycloak

VERSION=26.7.3
HOST=127.0.0.1
PORT=19480
MANAGEMENT_PORT=19481
REALM=kop
REALM_FILE=$KOP_REPO_ROOT/deploy/keycloak/realm-kop.json
KC_WORK=$KOP_WORK/keycloak
DIST=$KC_WORK/keycloak-$VERSION
PID_FILE=$KC_WORK/keycloak.pid
LOG_FILE=$KC_WORK/keycloak.log
START_TIMEOUT=${KOP_KEYCLOAK_START_TIMEOUT:-300}
ADMIN_USER=admin
ADMIN_PASSWORD=admin-password
BASE=http://$HOST:$PORT
ISSUER=$BASE/realms/$REALM

take_lock() {
  mkdir -p "$KC_WORK"
  exec 9>"$KC_WORK/.lock"
  flock -w 300 9 || kop_die "could not lock $KC_WORK/.lock"
}

# The newest JDK with a major version >= 21, by version rather than by path.
java_home() {
  if [[ -n ${KOP_KEYCLOAK_JAVA_HOME:-} ]]; then
    echo "$KOP_KEYCLOAK_JAVA_HOME"
    return
  fi
  local best="" best_major=0 dir major
  for dir in /usr/lib/jvm/*/; do
    [[ -x $dir/bin/java ]] || continue
    major=$("$dir/bin/java" -XshowSettings:properties -version 2>&1 |
      awk -F' = ' '/java.specification.version/ {print $2}')
    [[ $major =~ ^[0-9]+$ ]] || continue
    if ((major >= 21 && major > best_major)); then best=${dir%/} best_major=$major; fi
  done
  [[ -n $best ]] || kop_die "Keycloak $VERSION needs Java >= 21; none found under /usr/lib/jvm"
  echo "$best"
}

cmd_fetch() {
  [[ -x $DIST/bin/kc.sh ]] && return 0
  kop_need mvn tar
  kop_log "fetching org.keycloak:keycloak-quarkus-dist:$VERSION from Maven Central"
  mvn -q dependency:copy -Dartifact="org.keycloak:keycloak-quarkus-dist:$VERSION:tar.gz" \
    -DoutputDirectory="$KC_WORK" >&2
  tar -xzf "$KC_WORK/keycloak-quarkus-dist-$VERSION.tar.gz" -C "$KC_WORK"
  rm -f "$KC_WORK/keycloak-quarkus-dist-$VERSION.tar.gz"
  [[ -x $DIST/bin/kc.sh ]] || kop_die "no $DIST/bin/kc.sh after unpacking"
}

realm_ok() {
  curl -fsS --max-time 2 -o /dev/null "$ISSUER/.well-known/openid-configuration"
}

keycloak_pid() {
  local pid
  [[ -f $PID_FILE ]] && pid=$(<"$PID_FILE") && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

cmd_start() {
  take_lock
  cmd_fetch
  if keycloak_pid >/dev/null && realm_ok; then
    kop_log "already running (pid $(keycloak_pid))"
    return 0
  fi
  stop_keycloak
  kop_port_open $HOST $PORT && kop_die "port $PORT is taken ($(kop_port_owner $PORT))"
  # A fresh import each start: the realm file is the only source of truth, and keys are new.
  rm -rf "$DIST/data/h2" "$DIST/data/import"
  mkdir -p "$DIST/data/import"
  cp "$REALM_FILE" "$DIST/data/import/"
  local jh started=$SECONDS
  jh=$(java_home)
  kop_log "starting Keycloak $VERSION with $jh"
  [[ -f $LOG_FILE ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  (
    for fd in /proc/"$BASHPID"/fd/*; do
      fd=${fd##*/}
      if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    export JAVA_HOME=$jh PATH=$jh/bin:$PATH
    export KC_BOOTSTRAP_ADMIN_USERNAME=$ADMIN_USER KC_BOOTSTRAP_ADMIN_PASSWORD=$ADMIN_PASSWORD
    exec setsid "$DIST/bin/kc.sh" start-dev --http-host=$HOST --http-port=$PORT \
      --http-management-port=$MANAGEMENT_PORT --hostname="$BASE" --health-enabled=true \
      --import-realm </dev/null >>"$LOG_FILE" 2>&1
  ) &
  echo $! >"$PID_FILE"
  until realm_ok 2>/dev/null; do
    if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
      tail -n 30 "$LOG_FILE" >&2
      kop_die "Keycloak exited during startup (log: $LOG_FILE)"
    fi
    if ((SECONDS - started >= START_TIMEOUT)); then
      tail -n 30 "$LOG_FILE" >&2
      stop_keycloak
      kop_die "Keycloak did not answer within ${START_TIMEOUT}s (log: $LOG_FILE)"
    fi
    sleep 1
  done
  kop_log "realm $REALM ready in $((SECONDS - started)) s: $ISSUER"
}

stop_keycloak() {
  local pid deadline
  pid=$(keycloak_pid) || { rm -f "$PID_FILE"; return 0; }
  # kc.sh execs java in the same process; the session holds any helper it forked.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
  kop_log "stopped pid $pid"
}

cmd_status() {
  if keycloak_pid >/dev/null && realm_ok 2>/dev/null; then
    echo "keycloak: running pid $(keycloak_pid), $ISSUER answers"
  else
    echo "keycloak: not answering"
    return 1
  fi
}

cmd_env() {
  cat <<EOF
export KOP_KEYCLOAK_ISSUER=$ISSUER
export KOP_KEYCLOAK_TOKEN_URL=$ISSUER/protocol/openid-connect/token
export KOP_KEYCLOAK_JWKS_URL=$ISSUER/protocol/openid-connect/certs
export KOP_KEYCLOAK_AUTHORIZE_URL=$ISSUER/protocol/openid-connect/auth
export KOP_KEYCLOAK_SH=$HERE/keycloak.sh
EOF
}

token_field() {
  node -e 'const t = JSON.parse(process.argv[1]).access_token; if (!t) process.exit(1); console.log(t)' "$1" \
    2>/dev/null || kop_die "no access token: $1"
}

cmd_token() {
  [[ $# -ge 1 ]] || kop_die "usage: keycloak.sh token CLIENT_ID"
  token_field "$(curl -sS --max-time 10 -u "$1:$1-secret" -d grant_type=client_credentials \
    "$ISSUER/protocol/openid-connect/token")"
}

cmd_user_token() {
  [[ $# -ge 1 ]] || kop_die "usage: keycloak.sh user-token USER"
  token_field "$(curl -sS --max-time 10 -u kop-management:kop-management-secret \
    -d grant_type=password -d "username=$1" -d "password=$1-password" \
    "$ISSUER/protocol/openid-connect/token")"
}

cmd_admin() {
  [[ $# -ge 2 ]] || kop_die "usage: keycloak.sh admin METHOD PATH [JSON]"
  local admin
  admin=$(token_field "$(curl -sS --max-time 10 -d grant_type=password -d client_id=admin-cli \
    -d "username=$ADMIN_USER" -d "password=$ADMIN_PASSWORD" \
    "$BASE/realms/master/protocol/openid-connect/token")")
  local args=(-sS --fail-with-body --max-time 20 -X "$1" -H "Authorization: Bearer $admin")
  [[ $# -ge 3 ]] && args+=(-H 'content-type: application/json' --data "$3")
  curl "${args[@]}" "$BASE/admin/realms/$REALM$2"
  echo
}

case ${1:-} in
  fetch) take_lock; cmd_fetch ;;
  start) cmd_start ;;
  stop) take_lock; stop_keycloak ;;
  status) cmd_status ;;
  env) cmd_env ;;
  token) shift; cmd_token "$@" ;;
  user-token) shift; cmd_user_token "$@" ;;
  admin) shift; cmd_admin "$@" ;;
  *) sed -n '2,/^# shellcheck source-path/{/^# shellcheck/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
