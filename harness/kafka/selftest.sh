#!/usr/bin/env bash
# Smoke test of harness/kafka/cluster.sh against a real cluster: start, topics, produce and
# consume, SSL and SASL listeners, stop/start of one node, stop. Prints a closing line
# "selftest: N passed, N failed" and exits non-zero on any failure.
#
# Usage: harness/kafka/selftest.sh        (stops the cluster at the end)
#        KOP_SELFTEST_KEEP=1 harness/kafka/selftest.sh   (leaves it running)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
C=$HERE/cluster.sh
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
# shellcheck disable=SC2034  # read by kop_log
KOP_LOG_TAG=selftest

passed=0
failed=0
OUT=$KOP_WORK/selftest
mkdir -p "$OUT"

# check NAME CMD...: run CMD, count the result; output goes to $OUT/NAME.log.
check() {
  local name=$1
  shift
  if "$@" >"$OUT/$name.log" 2>&1; then
    passed=$((passed + 1))
    kop_log "ok   $name"
  else
    failed=$((failed + 1))
    kop_log "FAIL $name (log: $OUT/$name.log)"
    tail -n 15 "$OUT/$name.log" >&2 || true
  fi
}

finish() {
  if [[ ${KOP_SELFTEST_KEEP:-} != 1 ]]; then "$C" stop || true; fi
  echo "selftest: $passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}
trap finish EXIT

"$C" start
eval "$("$C" env)"
TOPIC=selftest-$$-$RANDOM

brokers_are() { # brokers_are "1 2 3": the admin client sees exactly these broker ids
  local have
  have=$("$C" tool api-versions --bootstrap-server "$KOP_KAFKA_BOOTSTRAP" \
    | sed -nE 's/^[0-9.]+:[0-9]+ \(id: ([0-9]+) rack.*/\1/p' | sort -n | tr '\n' ' ')
  echo "brokers: $have"
  [[ $have == "$1 " ]]
}

create_topic() {
  "$C" tool topics --bootstrap-server "$KOP_KAFKA_BOOTSTRAP" --create --topic "$TOPIC" \
    --partitions 6 --replication-factor 3
  "$C" tool topics --bootstrap-server "$KOP_KAFKA_BOOTSTRAP" --describe --topic "$TOPIC" \
    | tee "$OUT/describe.txt"
  grep -q 'PartitionCount: 6.*ReplicationFactor: 3' "$OUT/describe.txt"
}

produce_perf() { # produce_perf N: N records with acks=all must all be sent
  "$C" tool producer-perf --topic "$TOPIC" --num-records "$1" --record-size 100 \
    --throughput -1 --command-property bootstrap.servers="$KOP_KAFKA_BOOTSTRAP" acks=all \
    | tee "$OUT/perf.txt"
  grep -q "^$1 records sent" "$OUT/perf.txt"
}

consume_perf() {
  "$C" tool consumer-perf --bootstrap-server "$KOP_KAFKA_BOOTSTRAP" --topic "$TOPIC" \
    --num-records "$1" --timeout 30000 | tee "$OUT/cperf.txt"
  # CSV line: ..., data.consumed.in.nMsg (5th field), ...
  awk -F', *' -v n="$1" 'NR == 2 && $5 >= n { ok = 1 } END { exit !ok }' "$OUT/cperf.txt"
}

console_roundtrip() {
  local t=$TOPIC-console
  printf 'k1:v1\nk2:v2\nk3:v3\n' | "$C" tool console-producer --bootstrap-server "$KOP_KAFKA_BOOTSTRAP" \
    --topic "$t" --reader-property parse.key=true --reader-property key.separator=:
  "$C" tool console-consumer --bootstrap-server "$KOP_KAFKA_BOOTSTRAP" --topic "$t" \
    --from-beginning --max-messages 3 --group "selftest-$$" --timeout-ms 30000 \
    --formatter-property print.key=true | sort | tee "$OUT/console.txt"
  [[ $(tr '\t' ':' <"$OUT/console.txt") == $'k1:v1\nk2:v2\nk3:v3' ]]
}

tls_handshake() { # every SSL port: chain and 127.0.0.1 / localhost verify against ca.pem
  local p
  for p in 19291 19292 19293; do
    openssl s_client -connect "127.0.0.1:$p" -CAfile "$KOP_TLS_DIR/ca.pem" -verify_return_error \
      -verify_ip 127.0.0.1 </dev/null | grep -q 'Verify return code: 0 (ok)'
    openssl s_client -connect "127.0.0.1:$p" -CAfile "$KOP_TLS_DIR/ca.pem" -verify_return_error \
      -verify_hostname localhost </dev/null | grep -q 'Verify return code: 0 (ok)'
  done
  openssl verify -CAfile "$KOP_TLS_DIR/ca.pem" "$KOP_TLS_DIR/proxy.pem"
  openssl pkey -in "$KOP_TLS_DIR/proxy.key" -noout
}

list_with() { # list_with BOOTSTRAP CONFIG: a Java admin call over that listener sees the topic
  "$C" tool topics --bootstrap-server "$1" --command-config "$KOP_KAFKA_CLIENT_CONFIGS/$2" \
    --list | tee "$OUT/list.txt"
  grep -qx "$TOPIC" "$OUT/list.txt"
}

sasl_wrong_password_fails() {
  sed 's/password="[^"]*"/password="wrong"/' "$KOP_KAFKA_CLIENT_CONFIGS/sasl-plain.properties" \
    >"$OUT/bad.properties"
  ! timeout 60 "$C" tool topics --bootstrap-server "$KOP_KAFKA_SASL_BOOTSTRAP" \
    --command-config "$OUT/bad.properties" --list
}

isr_full() { # all partitions of the topic back to 3 in-sync replicas (wait up to 60 s)
  local _
  for _ in $(seq 30); do
    "$C" tool topics --bootstrap-server "$KOP_KAFKA_BOOTSTRAP" --describe --topic "$TOPIC" \
      --under-replicated-partitions >"$OUT/urp.txt"
    [[ ! -s $OUT/urp.txt ]] && return 0
    sleep 2
  done
  cat "$OUT/urp.txt"
  return 1
}

quick_noop_start() {
  local t0=$SECONDS
  "$C" start
  ((SECONDS - t0 <= 5))
}

check status-all-up "$C" status
check brokers-1-2-3 brokers_are "1 2 3"
check create-topic-6x3 create_topic
check producer-perf produce_perf 10000
check consumer-perf consume_perf 10000
check console-roundtrip console_roundtrip
check tls-openssl tls_handshake
check ssl-java-client list_with "$KOP_KAFKA_SSL_BOOTSTRAP" ssl.properties
check sasl-plain list_with "$KOP_KAFKA_SASL_BOOTSTRAP" sasl-plain.properties
check sasl-scram-sha-256 list_with "$KOP_KAFKA_SASL_BOOTSTRAP" sasl-scram-sha-256.properties
check sasl-scram-sha-512 list_with "$KOP_KAFKA_SASL_BOOTSTRAP" sasl-scram-sha-512.properties
check sasl-wrong-password sasl_wrong_password_fails
check stop-node-2 "$C" stop-node 2
check status-reports-down bash -c "! '$C' status"
check brokers-1-3 brokers_are "1 3"
check produce-with-node-down produce_perf 2000
check start-node-2 "$C" start-node 2
check brokers-back brokers_are "1 2 3"
check isr-recovered isr_full
check start-is-noop quick_noop_start
if [[ ${KOP_SELFTEST_KEEP:-} != 1 ]]; then
  check stop "$C" stop
  # status finds node JVMs by their command line too, so this also catches orphans.
  check no-process-left bash -c "[[ \$('$C' status | grep -c ': stopped\$') == 3 ]]"
fi
