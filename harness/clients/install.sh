#!/usr/bin/env bash
# Installs the four real Kafka client libraries used by harness/clients/run.sh into $KOP_WORK
# (default <repo>/target/harness), idempotently: a step is redone only when its inputs changed.
#
#   $KOP_WORK/venv          Python venv: confluent-kafka + kafka-python (python/requirements.txt)
#   $KOP_WORK/node          kafkajs via `npm ci` from node/package.json + package-lock.json
#   $KOP_WORK/java/build    the Scenarios jar (Maven, java/pom.xml: kafka-clients 4.4.0)
#   $KOP_WORK/java/lib      its runtime dependencies
#   $KOP_WORK/browser       playwright-core and axe-core (../browser), for tests/console.rs
#
# Needs only the toolchains (python3 with venv, node + npm, java 17 + mvn) and the registries.
# Usage: harness/clients/install.sh [--force]
set -euo pipefail
# shellcheck disable=SC2034 # read by kop_log (lib.sh)
KOP_LOG_TAG=clients
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
HERE=$KOP_REPO_ROOT/harness/clients
FORCE=${1:-}

kop_need python3 node npm mvn sha256sum
JAVA=$(kop_java)

# up_to_date NAME FILE...: true if the recorded hash of the inputs matches (and no --force).
stamp_dir=$KOP_WORK/stamps
mkdir -p "$stamp_dir"
inputs_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }
up_to_date() {
  local name=$1; shift
  [[ $FORCE != --force && -f $stamp_dir/$name && $(cat "$stamp_dir/$name") == "$(inputs_hash "$@")" ]]
}
mark_done() {
  local name=$1; shift
  inputs_hash "$@" >"$stamp_dir/$name"
}

# --- Python: one venv for confluent-kafka and kafka-python -----------------------------------
py_inputs=("$HERE/python/requirements.txt")
if up_to_date python "${py_inputs[@]}" && [[ -x $KOP_WORK/venv/bin/python ]]; then
  kop_log "python venv up to date"
else
  kop_log "installing python clients into $KOP_WORK/venv"
  rm -rf "$KOP_WORK/venv"
  python3 -m venv "$KOP_WORK/venv"
  "$KOP_WORK/venv/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/python/requirements.txt"
  "$KOP_WORK/venv/bin/python" -c 'import confluent_kafka, kafka; print("confluent-kafka", confluent_kafka.__version__, "librdkafka", confluent_kafka.libversion()[0], "kafka-python", kafka.__version__)' >&2
  mark_done python "${py_inputs[@]}"
fi

# --- Node: kafkajs from the committed lockfile ------------------------------------------------
node_inputs=("$HERE/node/package.json" "$HERE/node/package-lock.json")
if up_to_date node "${node_inputs[@]}" && [[ -d $KOP_WORK/node/node_modules/kafkajs ]]; then
  kop_log "node modules up to date"
else
  kop_log "installing node clients into $KOP_WORK/node (npm ci)"
  rm -rf "$KOP_WORK/node"
  mkdir -p "$KOP_WORK/node"
  cp "${node_inputs[@]}" "$KOP_WORK/node/"
  (cd "$KOP_WORK/node" && npm ci --no-audit --no-fund --loglevel=error >&2)
  mark_done node "${node_inputs[@]}"
fi

# --- Browser: playwright-core and axe-core for the console test (Debian's chromium runs it) --
browser_inputs=("$HERE/../browser/package.json" "$HERE/../browser/package-lock.json")
if up_to_date browser "${browser_inputs[@]}" && [[ -d $KOP_WORK/browser/node_modules/playwright-core ]]; then
  kop_log "browser modules up to date"
else
  kop_log "installing browser modules into $KOP_WORK/browser (npm ci)"
  rm -rf "$KOP_WORK/browser"
  mkdir -p "$KOP_WORK/browser"
  cp "${browser_inputs[@]}" "$KOP_WORK/browser/"
  (cd "$KOP_WORK/browser" && npm ci --no-audit --no-fund --loglevel=error >&2)
  mark_done browser "${browser_inputs[@]}"
fi

# --- Java: Scenarios jar + runtime classpath --------------------------------------------------
mapfile -t java_inputs < <(find "$HERE/java/pom.xml" "$HERE/java/src" -type f | LC_ALL=C sort)
if up_to_date java "${java_inputs[@]}" && [[ -f $KOP_WORK/java/build/kop-client-scenarios.jar ]]; then
  kop_log "java scenarios up to date"
else
  kop_log "building java scenarios into $KOP_WORK/java"
  rm -rf "$KOP_WORK/java"
  JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$JAVA")")")} \
    mvn -B -q -Dstyle.color=never -f "$HERE/java/pom.xml" -Dkop.build.dir="$KOP_WORK/java/build" -DskipTests \
      package dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KOP_WORK/java/lib" 2>&1 |
    sed $'s/\e\\[0m//g' >&2 # Debian's Maven prints stray colour resets even in batch mode
  mark_done java "${java_inputs[@]}"
fi
kop_log "clients installed in $KOP_WORK"
