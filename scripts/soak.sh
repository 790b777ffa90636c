#!/usr/bin/env bash
# A soak run of the local stack (a benchmark, not a CI test): real clients produce and consume
# through the proxy with 20 s tokens for DURATION seconds (default 1800), so every connection
# re-authenticates in band (KIP-368) all along, while around them
#   - ACL bindings are created and deleted through the management API every 3 s;
#   - brokers 2 and 3 are each stopped for 30 s, once;
#   - the identity provider rotates its keys twice (new keys first, then old keys dropped)
#     and is stopped for 60 s; it comes back with new keys only.
# Clients: a Java producer (kafka-clients 4.4.0, idempotent, acks=all) and a librdkafka producer
# and consumer group (confluent-kafka), both with the provider's client "kafka-short".
# Afterwards a Java consumer reads both topics from the beginning: every acknowledged record
# must be there exactly once. Reports RSS and file descriptors of the proxy over time, the
# throughput, errors by kind (client side and proxy log), and draws the plot in
# target/harness/soak/soak.svg.
#
#   scripts/soak.sh [DURATION_S]        # starts the stack (scripts/stack.sh up) if needed
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../harness/lib.sh
source harness/lib.sh
duration=${1:-1800}
rate=${KOP_SOAK_RATE:-200} # records per second, per producer
out=$KOP_WORK/soak
rm -rf "$out" && mkdir -p "$out"
harness/clients/install.sh >/dev/null
scripts/stack.sh up >/dev/null
eval "$(harness/idp/idp.sh env)"
pid=$(cat "$KOP_WORK/stack/proxy.pid")
proxy_log=$KOP_WORK/stack/proxy.log
log_start=$(($(wc -l <"$proxy_log") + 1))
bootstrap=127.0.0.1:9092
api=http://127.0.0.1:8080/organizations/local/acls/
auth=(-H "Authorization: Bearer local-admin-token")
oauth=(--security-protocol SASL_PLAINTEXT --oauth-token-url "$KOP_IDP_TOKEN_URL"
  --oauth-client-id kafka-short --oauth-client-secret kafka-short-secret --oauth-scope kafka)
run_id=$$
java_topic=soak-java-$run_id
rdkafka_topic=soak-rdkafka-$run_id
event() { printf '%s\t%s\n' "$(date +%s.%N)" "$*" >>"$out/events.tsv"; kop_log "soak: $*"; }
children=()
cleanup() { for c in "${children[@]}"; do kill "$c" 2>/dev/null || true; done; }
trap cleanup EXIT

# The proxy's resident memory, descriptors and threads, and the Java producer's acknowledged
# count, every 5 s.
printf 't\trss_kib\tfds\tthreads\tjava_acked\n' >"$out/proxy.tsv"
(
  while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    threads=$(awk '/^Threads/ {print $2}' "/proc/$pid/status")
    fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
    acked=0 && [[ -f $out/java.acked ]] && acked=$(wc -l <"$out/java.acked")
    printf '%s\t%s\t%s\t%s\t%s\n' "$(date +%s)" "$rss" "$fds" "$threads" "$acked" >>"$out/proxy.tsv"
    sleep 5
  done
) &
children+=($!)

event "clients start"
harness/clients/run.sh java produce-continuous --bootstrap "$bootstrap" "${oauth[@]}" \
  --topic "$java_topic" --duration-s "$duration" --rate "$rate" --acked-file "$out/java.acked" \
  --keep-topic --timeout $((duration + 300)) >"$out/java-producer.json" 2>"$out/java-producer.log" &
java_producer=$!
"$KOP_WORK/venv/bin/python" harness/soak/confluent_soak.py --bootstrap "$bootstrap" \
  --topic "$rdkafka_topic" --group "soak-$run_id" --token-url "$KOP_IDP_TOKEN_URL" \
  --client-id kafka-short --client-secret kafka-short-secret --rate "$rate" \
  --duration-s "$duration" --acked-file "$out/rdkafka.acked" --timeline "$out/rdkafka.jsonl" \
  >"$out/rdkafka.json" 2>"$out/rdkafka.log" &
rdkafka=$!
children+=("$java_producer" "$rdkafka")

# ACL churn: every 3 s one binding is created and the one before it deleted (organization
# "local", principals no client has), plus a DENY for the clients' group on a topic they do
# not use; each change rebuilds the proxy's decisions while the clients run.
(
  n=0 previous=
  while :; do
    n=$((n + 1))
    body=$(printf '[{"principal":"Group:soak-%d","resource_type":"TOPIC","resource_name":"soak-other-%d","operation":"READ","permission":"ALLOW"},{"principal":"Group:producers","resource_type":"TOPIC","resource_name":"soak-denied-%d","operation":"WRITE","permission":"DENY"}]' "$n" "$n" "$n")
    if created=$(curl -sS --max-time 10 -X POST "$api" "${auth[@]}" -H 'Content-Type: application/json' -d "$body" -w '\n%{http_code}'); then
      code=$(tail -1 <<<"$created")
      printf '%s\tcreate\t%s\n' "$(date +%s)" "$code" >>"$out/acl.tsv"
      ids=$(head -1 <<<"$created" | grep -o '"id":"[^"]*"' | cut -d'"' -f4 || true)
    else
      printf '%s\tcreate\tcurl-failed\n' "$(date +%s)" >>"$out/acl.tsv"
      ids=
    fi
    for id in $previous; do
      code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X DELETE "$api$id/" "${auth[@]}" || echo curl-failed)
      printf '%s\tdelete\t%s\n' "$(date +%s)" "$code" >>"$out/acl.tsv"
    done
    previous=$ids
    sleep 3
  done
) &
children+=($!)

at() { # FRACTION: sleep until that fraction of the run
  local until
  until=$(awk -v s="$start" -v d="$duration" -v f="$1" 'BEGIN { printf "%d", s + d * f }')
  while (($(date +%s) < until)); do sleep 1; done
}
start=$(date +%s)
at 0.15; event "broker 2 stopped"; harness/kafka/cluster.sh stop-node 2 >/dev/null
sleep 30; event "broker 2 started"; harness/kafka/cluster.sh start-node 2 >/dev/null
at 0.30; event "keys rotated"; harness/idp/idp.sh admin main POST /admin/rotate >/dev/null
at 0.45; event "provider stopped"; harness/idp/idp.sh stop >/dev/null
sleep 60; event "provider started (new keys)"; harness/idp/idp.sh start >/dev/null
at 0.65; event "broker 3 stopped"; harness/kafka/cluster.sh stop-node 3 >/dev/null
sleep 30; event "broker 3 started"; harness/kafka/cluster.sh start-node 3 >/dev/null
at 0.80; event "keys rotated, old keys dropped"; harness/idp/idp.sh admin main POST '/admin/rotate?drop=1' >/dev/null

status=0
wait "$java_producer" || { echo "java producer failed: $(tail -3 "$out/java-producer.log")" >&2; status=1; }
wait "$rdkafka" || { echo "librdkafka client failed: $(tail -3 "$out/rdkafka.log")" >&2; status=1; }
event "clients done"
sleep 6
cleanup
children=()

# Every acknowledged record exactly once in the log, read back by a Java consumer.
for side in java rdkafka; do
  topic=$java_topic && [[ $side == rdkafka ]] && topic=$rdkafka_topic
  harness/clients/run.sh java consume-verify --bootstrap "$bootstrap" "${oauth[@]}" \
    --topic "$topic" --acked-file "$out/$side.acked" --timeout 600 >"$out/verify-$side.json" \
    2>"$out/verify-$side.log" || status=1
done

tail -n +"$log_start" "$proxy_log" >"$out/proxy.log"
"$KOP_WORK/venv/bin/python" harness/soak/report.py "$out" "$duration" "$rate" || status=1
exit $status
