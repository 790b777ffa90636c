#!/usr/bin/env bash
# What one login costs the proxy, counted rather than timed: the cached storm of
# benches/storm.rs (one token the proxy has already verified, so no signature check) through
# the binary under a profiler, once with 200 logins and once with 2,000. The difference of
# the two counts over 1,800 is what a login costs, without the proxy's start-up. Counts do not
# move with the machine's load, so a change of a few percent shows where CPU times cannot.
#
#   scripts/per-login.sh allocations    heap allocation calls (heaptrack)
#   scripts/per-login.sh instructions   user-space instructions (valgrind's callgrind), and
#                                       the functions that take most of them per login
#
# A second argument, RS256, ES256 or EdDSA, counts logins with new tokens of that algorithm
# instead (each token verified once): what verifying a token adds to a login.
#
# Under callgrind, aws-lc picks its SHA-256 code without the CPU's SHA extensions (its AVX
# code), so the verified-token cache's key counts several times what it costs on the machine.
#
# Needs heaptrack or valgrind, the test provider and a Kafka cluster (scripts/test.sh starts
# them; KOP_KEEP_CLUSTER=1 keeps them):
#
#   eval "$(harness/kafka/cluster.sh env)"; eval "$(harness/idp/idp.sh env)"
#   scripts/per-login.sh allocations
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
what=${1:-}
case "$what" in
  allocations) tool=heaptrack ;;
  instructions) tool=valgrind ;;
  *) echo "usage: $0 allocations|instructions [cached|RS256|ES256|EdDSA]" >&2; exit 2 ;;
esac
kind=${2:-cached}
case "$kind" in
  cached|RS256|ES256|EdDSA) ;;
  *) echo "unknown kind of token: $kind (cached, RS256, ES256 or EdDSA)" >&2; exit 2 ;;
esac
command -v "$tool" >/dev/null || { echo "$tool is not installed (apt install $tool)" >&2; exit 2; }
: "${KOP_KAFKA_BOOTSTRAP:?set it (see the top of this script)}" "${KOP_IDP_ISSUER:?set it (see the top of this script)}"
out=$(mktemp -d)
trap 'pkill -TERM -f "kafka-oidc-proxy run --config .*/storm-" 2>/dev/null || true; rm -rf "$out"' EXIT

# The profiler's command line for a storm of $1 logins. Both leave the proxy running when
# the bench lets go of it (heaptrack runs it as its child, setsid -f detaches valgrind), so
# that it is ended here and the profiler writes its record out.
wrapper() {
  case "$what" in
    allocations) echo "heaptrack -o $out/profile-$1" ;;
    instructions) echo "setsid -f valgrind --tool=callgrind --callgrind-out-file=$out/profile-$1" ;;
  esac
}

# Runs a storm of $1 logins under the profiler; its record is $out/profile-$1*.
profile() {
  local n=$1 log=$out/storm-$1.txt
  KOP_BENCH_WRAPPER="$(wrapper "$n")" \
    cargo bench --quiet --bench storm -- --only "$kind" --connections "$n" >"$log" 2>&1 &
  local bench=$!
  for _ in $(seq 1 300); do
    grep -q "^$kind " "$log" && break
    kill -0 "$bench" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 1
  done
  grep -q "^$kind " "$log" || { cat "$log" >&2; exit 1; }
  pkill -TERM -f "kafka-oidc-proxy run --config .*/storm-" || true
  wait "$bench" || true
  for _ in $(seq 1 60); do
    pgrep -f "heaptrack_interpret|valgrind.*$out" >/dev/null || break
    sleep 1
  done
}

# The record's total count.
total() {
  case "$what" in
    allocations)
      heaptrack_print "$out/profile-$1.zst" 2>/dev/null |
        sed -n 's/^calls to allocation functions: \([0-9]*\).*/\1/p' ;;
    instructions)
      callgrind_annotate "$out/profile-$1" 2>/dev/null |
        sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d , ;;
  esac
}

profile 200
profile 2000
few=$(total 200)
many=$(total 2000)
echo "$what: $few with 200 logins, $many with 2000"
awk -v a="$few" -v b="$many" -v w="$what" 'BEGIN { printf "%s per login: %.1f\n", w, (b - a) / 1800 }'

if [ "$what" = instructions ]; then
  # Each function's instructions per login, its callees included (callgrind_annotate
  # --inclusive), from the difference of the two records.
  for n in 200 2000; do
    callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$out/profile-$n" >"$out/functions-$n.txt" 2>/dev/null
  done
  echo "most instructions per login, callees included:"
  python3 - "$out/functions-200.txt" "$out/functions-2000.txt" <<'EOF'
import re, sys

def functions(path):
    counts = {}
    for line in open(path):
        m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(\S.*?)(?: \(\d[\d,]*x\))?(?: \[.*\])?$", line)
        if m and "PROGRAM TOTALS" not in line:
            name = m.group(2).split(":", 1)[-1]
            counts.setdefault(name, int(m.group(1).replace(",", "")))
    return counts

few, many = functions(sys.argv[1]), functions(sys.argv[2])
rows = sorted(((many.get(f, 0) - few.get(f, 0)) / 1800, f) for f in few.keys() | many.keys())
for per_login, name in reversed(rows[-40:]):
    print(f"{per_login:10.0f}  {name[:140]}")
EOF
fi
