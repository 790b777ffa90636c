#!/usr/bin/env bash
# Produce and consume throughput through the proxy versus direct to the brokers, measured side
# by side in one run with Kafka's own perf tools (kafka-producer-perf-test and
# kafka-consumer-perf-test from kafka-tools 4.4.0), 1 KiB records, acks=1 and acks=all.
# Runs alternate direct/proxy so that drift on a shared machine hits both alike, and the
# median of each is reported with the ratio proxy/direct.
#
#   scripts/stack.sh up                    # cluster + release proxy with config/proxy.toml
# Two proxy sides: the listener without authentication (127.0.0.1:9192), the cost of the data
# plane alone, and the OAUTHBEARER listener (127.0.0.1:9092) with config/proxy.toml's ACLs, so
# every request is authenticated once per connection and authorized (ratio "auth"); and the
# virtual cluster of the stack's tenant acme (127.0.0.1:9300): OAUTHBEARER and ACLs, in the
# namespace "acme.", so that every request and response is rewritten (ratio "spaced").
#   scripts/bench-throughput.sh [REPS] [RECORDS]     # defaults: 3 reps, 200000 records
#   KOP_BENCH_CASES="consume" scripts/bench-throughput.sh 7     # only some cases
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
reps=${1:-3}
records=${2:-200000}
eval "$(harness/kafka/cluster.sh env)"
direct=$KOP_KAFKA_BOOTSTRAP
proxy=127.0.0.1:9192 # config/proxy.toml's listener without authentication
auth=127.0.0.1:9092  # its OAUTHBEARER listener, with ACLs
spaced=127.0.0.1:9300 # acme's virtual cluster: OAUTHBEARER, ACLs and the namespace acme.
auth_config=target/harness/stack/client.properties # written by scripts/stack.sh up
[[ -f $auth_config ]] || { echo "no $auth_config: run scripts/stack.sh up first" >&2; exit 2; }
tool=harness/kafka/cluster.sh
authtool=scripts/stack.sh # the same tools, allowed to fetch tokens from the stack's provider
topic=bench-$$
for t in "$topic" "acme.$topic"; do # acme's clients name it $topic
  $tool tool topics --bootstrap-server "$direct" --create --topic "$t" --partitions 6 --replication-factor 3 >/dev/null
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# runner/config BOOTSTRAP: the tool runner and client options for that side.
runner() { if [[ $1 == "$auth" || $1 == "$spaced" ]]; then echo "$authtool"; else echo "$tool"; fi; }
config() { if [[ $1 == "$auth" || $1 == "$spaced" ]]; then echo "--command-config $auth_config"; fi; }

produce() { # BOOTSTRAP ACKS -> MB/s
  # shellcheck disable=SC2046 # config's words are separate options
  $(runner "$1") tool producer-perf --topic "$topic" --num-records "$records" --record-size 1024 --throughput -1 \
    $(config "$1") --command-property bootstrap.servers="$1" acks="$2" linger.ms=5 batch.size=65536 2>/dev/null |
    tail -1 | sed -E 's/.*\(([0-9.]+) MB\/sec\).*/\1/'
}

consume() { # BOOTSTRAP -> MB/s (reads the whole topic with a fresh group)
  # shellcheck disable=SC2046
  $(runner "$1") tool consumer-perf --bootstrap-server "$1" --topic "$topic" --num-records "$records" \
    $(config "$1") --group "bench-$RANDOM$RANDOM" --timeout 60000 2>/dev/null | tail -1 | awk -F', *' '{print $4}'
}

cases=${KOP_BENCH_CASES:-produce-1 produce-all consume}
declare -A results
if [[ $cases == consume ]]; then # fill the topic once, not measured
  produce "$direct" 1 >/dev/null
  produce "$spaced" 1 >/dev/null
fi
for acks in 1 all; do
  [[ " $cases " == *" produce-$acks "* ]] || continue
  for _ in $(seq "$reps"); do
    results[produce-$acks-direct]+="$(produce "$direct" "$acks") "
    results[produce-$acks-proxy]+="$(produce "$proxy" "$acks") "
    results[produce-$acks-auth]+="$(produce "$auth" "$acks") "
    results[produce-$acks-spaced]+="$(produce "$spaced" "$acks") "
  done
done
for _ in $(seq "$reps"); do
  [[ " $cases " == *" consume "* ]] || break
  results[consume-direct]+="$(consume "$direct") "
  results[consume-proxy]+="$(consume "$proxy") "
  results[consume-auth]+="$(consume "$auth") "
  results[consume-spaced]+="$(consume "$spaced") "
done
for t in "$topic" "acme.$topic"; do
  $tool tool topics --bootstrap-server "$direct" --delete --topic "$t" >/dev/null
done

printf '%-14s %9s %9s %9s %9s %7s %7s %7s   (MB/s, median of %s runs of %s x 1 KiB records)\n' \
  case direct proxy auth spaced ratio ratio-a ratio-n "$reps" "$records"
ratio() { awk -v x="$1" -v d="$2" 'BEGIN { print x / d }'; }
for case in $cases; do
  d=$(tr ' ' '\n' <<<"${results[$case-direct]}" | grep . | median)
  p=$(tr ' ' '\n' <<<"${results[$case-proxy]}" | grep . | median)
  a=$(tr ' ' '\n' <<<"${results[$case-auth]}" | grep . | median)
  n=$(tr ' ' '\n' <<<"${results[$case-spaced]}" | grep . | median)
  printf '%-14s %9s %9s %9s %9s %7.3f %7.3f %7.3f   direct: %s proxy: %s auth: %s spaced: %s\n' \
    "$case" "$d" "$p" "$a" "$n" "$(ratio "$p" "$d")" "$(ratio "$a" "$d")" "$(ratio "$n" "$d")" \
    "${results[$case-direct]}" "${results[$case-proxy]}" "${results[$case-auth]}" "${results[$case-spaced]}"
done
