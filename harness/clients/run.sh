#!/usr/bin/env bash
# Runs one scenario with one real Kafka client library (installed by harness/clients/install.sh).
#
#   harness/clients/run.sh CLIENT SCENARIO --bootstrap HOST:PORT[,...] [options]
#
# CLIENT:   confluent | kafka-python | kafkajs | java
# SCENARIO: basic group acks0 idempotent transactions brokers           (every client)
#           produce-continuous consume-verify                           (java only)
# Options (all clients): --topic T (default: unique) --group G (default: unique) --messages N
#   (10000) --partitions P (6) --replication-factor R (3) --security-protocol PLAINTEXT|SSL
#   --ca-file PEM --timeout S (120, hard deadline) --keep-topic (keeps the topic and the group)
# java and confluent: --group-protocol classic|consumer (consumer = KIP-848; default classic)
# java only: --duration-s S (30), --rate MSG_PER_S (1000), --acked-file F
#
# Prints one JSON line on stdout ({"ok":true,...}); exit 0 only if every check passed,
# 1 failed check or error (reason on stderr), 2 bad usage, 3 hard timeout.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
HERE=$KOP_REPO_ROOT/harness/clients

if (($# < 2)); then
  sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
fi
client=$1
shift

not_installed() {
  echo "run.sh: $client is not installed in $KOP_WORK; run harness/clients/install.sh first" >&2
  exit 2
}

case $client in
  confluent | kafka-python)
    [[ -x $KOP_WORK/venv/bin/python ]] || not_installed
    script=$HERE/python/${client/-/_}_scenarios.py
    exec "$KOP_WORK/venv/bin/python" "$script" "$@"
    ;;
  kafkajs)
    [[ -d $KOP_WORK/node/node_modules/kafkajs ]] || not_installed
    NODE_PATH=$KOP_WORK/node/node_modules exec node "$HERE/node/scenarios.js" "$@"
    ;;
  java)
    jar=$KOP_WORK/java/build/kop-client-scenarios.jar
    [[ -f $jar ]] || not_installed
    # shellcheck disable=SC2086 # KOP_JAVA_OPTS is a list of JVM options
    exec "$(kop_java)" ${KOP_JAVA_OPTS:--Xmx512m} -cp "$jar:$KOP_WORK/java/lib/*" kop.harness.Scenarios "$@"
    ;;
  *)
    echo "run.sh: unknown client '$client' (confluent, kafka-python, kafkajs, java)" >&2
    exit 2
    ;;
esac
