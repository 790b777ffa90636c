#!/usr/bin/env bash
# Heap allocations per login: the cached storm of benches/storm.rs (one token the proxy has
# already verified, so no signature check) through the binary under heaptrack, once with
# 200 logins and once with 2,000; the difference of the allocation counts over 1,800 is what a
# login costs, without the proxy's start-up.
#
# Needs heaptrack, the test provider and a Kafka cluster (scripts/test.sh starts them;
# KOP_KEEP_CLUSTER=1 keeps them):
#
#   eval "$(harness/kafka/cluster.sh env)"; eval "$(harness/idp/idp.sh env)"
#   scripts/alloc-per-login.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v heaptrack >/dev/null || { echo "heaptrack is not installed (apt install heaptrack)" >&2; exit 2; }
: "${KOP_KAFKA_BOOTSTRAP:?set it (see the top of this script)}" "${KOP_IDP_ISSUER:?set it (see the top of this script)}"
out=$(mktemp -d)
trap 'pkill -TERM -f "kafka-oidc-proxy run --config .*/storm-" 2>/dev/null || true; rm -rf "$out"' EXIT

# Allocation calls of the proxy through one storm of $1 logins.
allocations() {
  local n=$1 log=$out/storm-$1.txt
  KOP_BENCH_WRAPPER="heaptrack -o $out/heap-$n" \
    cargo bench --quiet --bench storm -- --only cached --connections "$n" >"$log" 2>&1 &
  local bench=$!
  for _ in $(seq 1 300); do
    grep -q '^cached' "$log" && break
    kill -0 "$bench" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 1
  done
  grep -q '^cached' "$log" || { cat "$log" >&2; exit 1; }
  # Under heaptrack the proxy outlives the bench's handle on it: ended here, so heaptrack
  # writes its record out.
  pkill -TERM -f "kafka-oidc-proxy run --config .*/storm-" || true
  wait "$bench" || true
  for _ in $(seq 1 60); do
    pgrep -f heaptrack_interpret >/dev/null || break
    sleep 1
  done
  heaptrack_print "$out/heap-$n.zst" 2>/dev/null |
    sed -n 's/^calls to allocation functions: \([0-9]*\).*/\1/p'
}

few=$(allocations 200)
many=$(allocations 2000)
echo "allocation calls: $few with 200 logins, $many with 2000"
awk -v a="$few" -v b="$many" 'BEGIN { printf "allocations per login: %.1f\n", (b - a) / 1800 }'
