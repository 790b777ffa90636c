#!/usr/bin/env bash
# The local stack in one command: a three-node Apache Kafka 4.4.0 cluster on
# 127.0.0.1:19091-19093 and kafka-oidc-proxy with its default config (config/proxy.toml) in
# front of it, then prints how to connect.
#
#   scripts/stack.sh up      # build, start everything, print the connection details
#   scripts/stack.sh down    # stop the proxy and the cluster
#   scripts/stack.sh status
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../harness/lib.sh
source harness/lib.sh
run_dir=$KOP_WORK/stack
pid_file=$run_dir/proxy.pid
log_file=$run_dir/proxy.log

proxy_running() {
  [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

up() {
  mkdir -p "$run_dir"
  cargo build --release --quiet
  harness/kafka/cluster.sh fetch
  harness/kafka/cluster.sh start
  if proxy_running; then
    echo "proxy already running (pid $(cat "$pid_file"))"
  else
    target/release/kafka-oidc-proxy check-config --config config/proxy.toml
    setsid target/release/kafka-oidc-proxy run --config config/proxy.toml >"$log_file" 2>&1 </dev/null &
    echo $! >"$pid_file"
    kop_wait_port 127.0.0.1 9092 30 || { cat "$log_file"; exit 1; }
  fi
  cat <<MSG

kafka-oidc-proxy is running in front of a three-node Kafka cluster.

  bootstrap.servers = 127.0.0.1:9092        (brokers 1-3 are served on 127.0.0.1:9101-9103)
  security.protocol = PLAINTEXT              (authentication = "none" in config/proxy.toml)

Try it with the Kafka tools the stack installed:
  harness/kafka/cluster.sh tool producer-perf --topic demo --num-records 1000 --record-size 100 \\
      --throughput -1 --command-property bootstrap.servers=127.0.0.1:9092
  harness/kafka/cluster.sh tool console-consumer --bootstrap-server 127.0.0.1:9092 \\
      --topic demo --from-beginning --max-messages 10

Proxy log: $log_file     Stop everything: scripts/stack.sh down
MSG
}

down() {
  if proxy_running; then
    kill -TERM "$(cat "$pid_file")"
    for _ in $(seq 1 40); do proxy_running || break; sleep 0.5; done
  fi
  rm -f "$pid_file"
  harness/kafka/cluster.sh stop
}

case ${1:-up} in
  up) up ;;
  down) down ;;
  status)
    harness/kafka/cluster.sh status
    if proxy_running; then echo "proxy: running pid $(cat "$pid_file")"; else echo "proxy: stopped"; fi
    ;;
  *) echo "usage: scripts/stack.sh up|down|status" >&2; exit 2 ;;
esac
