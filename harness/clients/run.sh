#!/usr/bin/env bash
# Runs one scenario with one real Kafka client library (installed by harness/clients/install.sh).
#
#   harness/clients/run.sh CLIENT SCENARIO --bootstrap HOST:PORT[,...] [options]
#
# CLIENT:   confluent | kafka-python | kafkajs | java
# SCENARIO: basic group acks0 idempotent transactions admin brokers auth-fail reauth (every client)
#           authz-produce authz-consume authz-admin authz-txn                     (every client)
#           produce-continuous consume-verify                                     (java only)
#           produce-stats                                                         (confluent only)
# Options (all clients): --topic T (default: unique) --group G (default: unique) --messages N
#   (10000) --partitions P (6) --replication-factor R (3)
#   --security-protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL --ca-file PEM
#   --timeout S (120, reauth: duration + 90; hard deadline) --keep-topic (keeps topic and group)
# OAUTHBEARER (SASL_* protocols): --sasl-mechanism OAUTHBEARER (the default and only one)
#   --oauth-token-url URL --oauth-client-id ID --oauth-client-secret SECRET [--oauth-scope S];
#   each library fetches tokens by the client-credentials grant in its own documented way
#   (java: run.sh adds -Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=URL).
# auth-fail: passes only if the client reports an authentication failure; "error_text" in the
#   JSON; --expect-error REGEX must match it if given.
# reauth: --duration-s S (30) --rate MSG_PER_S (20) --min-reauth N (0): producer + consumer for
#   S seconds; every acknowledged message consumed, no authentication error, >= N re-authentications.
# java and confluent: --group-protocol classic|consumer (consumer = KIP-848; default classic)
# java only: --rate (1000 for produce-continuous), --acked-file F
# authz-* (report what the client sees, "ok" even when refused): --topic T (repeatable) or
#   --topics A,B; authz-produce: one record per topic ("produce" {topic: "ok"|error},
#   "delivered_offsets"); authz-consume: --topics --group [--duration-s 10] ("consume",
#   "records", "commit"); authz-admin: list_topics, then [--create A,B] [--delete A,B]
#   [--describe-group G] ("list_topics", "create"/"delete" {topic: result}, "describe_group");
#   java only: [--ops T] one of each administrative operation on topic T (one partition) and on
#   the cluster ("ops" {operation: result}, see Scenarios.java);
#   authz-txn: --topic T --transactional-id X ("txn", "step": init|begin|send|commit|done).
#   A refusal is the library's own name for the error, its text in "error_texts": java the
#   exception's simple class name (TopicAuthorizationException), confluent librdkafka's error
#   name (TOPIC_AUTHORIZATION_FAILED), kafka-python the exception class
#   (TopicAuthorizationFailedError), kafkajs the error's type (TOPIC_AUTHORIZATION_FAILED), or its
#   name when it has none: kafkajs turns a refused FindCoordinator (group or transactional id)
#   into KafkaJSGroupCoordinatorNotFound and its scenario lists the dropped error types in
#   "coordinator_errors"; its transaction() does init and begin in one call, so its "step" is
#   never "begin". Each operation is bounded to ~15 s by the library's own timeouts, and each
#   wait for one to about 20 s.
#
# Prints one JSON line on stdout ({"ok":true,...}); exit 0 only if every check passed,
# 1 failed check or error (reason on stderr), 2 bad usage, 3 hard timeout.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
HERE=$KOP_REPO_ROOT/harness/clients

if (($# < 2)); then
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
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
    # Since Kafka 4.0 the client fetches only OAuth URLs listed in this property (CVE-2025-27817).
    props=()
    prev=
    for arg in "$@"; do
      case $arg in
        --oauth-token-url=*) props=("-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=${arg#*=}") ;;
        *) [[ $prev == --oauth-token-url ]] && props=("-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=$arg") ;;
      esac
      prev=$arg
    done
    # shellcheck disable=SC2086 # KOP_JAVA_OPTS is a list of JVM options
    exec "$(kop_java)" ${KOP_JAVA_OPTS:--Xmx512m} ${props[@]+"${props[@]}"} -cp "$jar:$KOP_WORK/java/lib/*" kop.harness.Scenarios "$@"
    ;;
  *)
    echo "run.sh: unknown client '$client' (confluent, kafka-python, kafkajs, java)" >&2
    exit 2
    ;;
esac
