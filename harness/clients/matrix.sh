#!/usr/bin/env bash
# Runs every scenario of every client (harness/clients/run.sh) against one bootstrap address and
# prints one summary line per run plus a closing 'N passed, N failed' line; exit 0 only if all
# passed. For checking the clients themselves against the cluster, or a proxy by hand.
#
#   harness/clients/matrix.sh --bootstrap HOST:PORT [run.sh options, e.g. --security-protocol SSL
#                             --ca-file PEM --messages N]
# Environment: KOP_MATRIX_CLIENTS (default "confluent kafka-python kafkajs java"),
#   KOP_MATRIX_SCENARIOS (default: all of each client), KOP_MATRIX_LOG_DIR (default
#   $KOP_WORK/clients-matrix: each run's stdout/stderr).
set -uo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
RUN=$KOP_REPO_ROOT/harness/clients/run.sh
log_dir=${KOP_MATRIX_LOG_DIR:-$KOP_WORK/clients-matrix}
mkdir -p "$log_dir"

common_scenarios="basic group acks0 idempotent transactions brokers"
passed=0 failed=0
for client in ${KOP_MATRIX_CLIENTS:-confluent kafka-python kafkajs java}; do
  scenarios=$common_scenarios
  [[ $client == java ]] && scenarios="$scenarios continuous"
  for scenario in ${KOP_MATRIX_SCENARIOS:-$scenarios}; do
    out=$log_dir/$client-$scenario
    start=${EPOCHREALTIME/./}
    if [[ $scenario == continuous ]]; then
      # produce-continuous then consume-verify on the same topic (short, no fault injected).
      topic=kop-matrix-continuous-$RANDOM$RANDOM
      "$RUN" java produce-continuous --topic "$topic" --duration-s 5 --acked-file "$out.acked" "$@" \
        >"$out.out" 2>"$out.err" &&
        "$RUN" java consume-verify --topic "$topic" --acked-file "$out.acked" "$@" >>"$out.out" 2>>"$out.err"
    else
      "$RUN" "$client" "$scenario" "$@" >"$out.out" 2>"$out.err"
    fi
    rc=$?
    ms=$(((${EPOCHREALTIME/./} - start) / 1000))
    secs=$((ms / 1000)).$(printf '%03d' $((ms % 1000)) | cut -c1)
    if ((rc == 0)); then
      passed=$((passed + 1))
      printf 'PASS %-12s %-13s %6ss\n' "$client" "$scenario" "$secs"
    else
      failed=$((failed + 1))
      printf 'FAIL %-12s %-13s %6ss rc=%s %s\n' "$client" "$scenario" "$secs" "$rc" "$(tail -n1 "$out.err")"
    fi
  done
done
echo "clients matrix: $passed passed, $failed failed"
((failed == 0))
