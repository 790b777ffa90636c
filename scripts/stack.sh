#!/usr/bin/env bash
# The local stack in one command: a three-node Apache Kafka 4.4.0 cluster on
# 127.0.0.1:19091-19093, a test OpenID Connect provider on http://127.0.0.1:19400 (and a
# second issuer on 19401; harness/idp, oidc-provider) and kafka-oidc-proxy with its default
# config (config/proxy.toml) in front of them: the platform's organization on 9092, and two
# tenants in namespaces of their own on 9300 and 9400. Then prints how to connect.
#
#   scripts/stack.sh up      # build, start everything, print the connection details
#   scripts/stack.sh down    # stop the proxy, the cluster and the provider
#   scripts/stack.sh status
#   scripts/stack.sh tool TOOL ARGS...   # a Kafka tool (harness/kafka/cluster.sh tool) whose
#                                        # JVM may fetch tokens from the local provider
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../harness/lib.sh
source harness/lib.sh
run_dir=$KOP_WORK/stack
pid_file=$run_dir/proxy.pid
log_file=$run_dir/proxy.log
token_url=http://127.0.0.1:19400/token
globex_token_url=http://127.0.0.1:19401/token
java_config=$run_dir/client.properties
globex_config=$run_dir/globex.properties
keys_file=$run_dir/store-keys
rdkafka_config=$run_dir/librdkafka.properties

# Java client settings for a provider's kafka-producer client: the built-in OIDC login with
# the client-credentials grant at token endpoint $1.
java_client_config() {
  cat <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=OAUTHBEARER
sasl.login.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler
sasl.oauthbearer.token.endpoint.url=$1
sasl.oauthbearer.client.credentials.client.id=kafka-producer
sasl.oauthbearer.client.credentials.client.secret=kafka-producer-secret
sasl.oauthbearer.scope=kafka
sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;
EOF
}

# Client settings for the local provider's kafka-producer client (client-credentials grant):
# the Java client's built-in OIDC login, and librdkafka's; and the Java client's for globex's
# provider (the stack's second issuer).
write_client_configs() {
  java_client_config "$token_url" >"$java_config"
  java_client_config "$globex_token_url" >"$globex_config"
  cat >"$rdkafka_config" <<EOF
bootstrap.servers=127.0.0.1:9092
security.protocol=SASL_PLAINTEXT
sasl.mechanism=OAUTHBEARER
sasl.oauthbearer.method=oidc
sasl.oauthbearer.token.endpoint.url=$token_url
sasl.oauthbearer.client.id=kafka-producer
sasl.oauthbearer.client.secret=kafka-producer-secret
EOF
}

proxy_running() {
  [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

up() {
  mkdir -p "$run_dir"
  cargo build --release --quiet
  harness/kafka/cluster.sh fetch
  harness/idp/idp.sh start
  harness/kafka/cluster.sh start
  write_client_configs
  if proxy_running; then
    echo "proxy already running (pid $(cat "$pid_file"))"
  else
    target/release/kafka-oidc-proxy check-config --config config/proxy.toml
    # The key that seals client secrets in the stack's store, made once and kept.
    [[ -s $keys_file ]] || target/release/kafka-oidc-proxy gen-store-key --id stack >"$keys_file"
    KAFKA_OIDC_PROXY_STORE_KEYS=$(cat "$keys_file") \
      setsid target/release/kafka-oidc-proxy run --config config/proxy.toml >"$log_file" 2>&1 </dev/null &
    echo $! >"$pid_file"
    kop_wait_port 127.0.0.1 9092 30 || { cat "$log_file"; exit 1; }
    kop_wait_port 127.0.0.1 8080 30 || { cat "$log_file"; exit 1; }
  fi
  cat <<MSG

kafka-oidc-proxy is running in front of a three-node Kafka cluster, with a test OpenID Connect
provider whose client "kafka-producer" (secret "kafka-producer-secret") gets tokens for it.

  bootstrap.servers = 127.0.0.1:9092        (brokers 1-3 are served on 127.0.0.1:9101-9103)
  security.protocol = SASL_PLAINTEXT, sasl.mechanism = OAUTHBEARER
  token endpoint    = $token_url   (client-credentials grant)
  client settings   = $java_config   (Java client)
                      $rdkafka_config   (librdkafka)

Try it with the Kafka tools the stack installed:
  scripts/stack.sh tool producer-perf --topic demo --num-records 1000 --record-size 100 \\
      --throughput -1 --command-config $java_config \\
      --command-property bootstrap.servers=127.0.0.1:9092
  scripts/stack.sh tool console-consumer --bootstrap-server 127.0.0.1:9092 \\
      --command-config $java_config --topic demo --from-beginning --max-messages 10

Two tenants share the cluster, each in a namespace of its own (config/proxy.toml, "Virtual
clusters"): acme on 127.0.0.1:9300 (the same provider and client settings), globex on
127.0.0.1:9400 (its own provider: $globex_config). Each sees only its own topics, groups and
transactional ids:
  scripts/stack.sh tool producer-perf --topic orders --num-records 10 --record-size 100 \\
      --throughput -1 --command-config $java_config \\
      --command-property bootstrap.servers=127.0.0.1:9300
  scripts/stack.sh tool topics --bootstrap-server 127.0.0.1:9400 \\
      --command-config $globex_config --list          # no "orders": acme's is acme.orders

Management API: http://127.0.0.1:8080 (token "local-admin-token", or single sign-on with a
token of the provider's client "platform-admin"; README, "Management API"),
storing what it registers in data/kafka-oidc-proxy.db (SQLite), client secrets sealed with the
key in $keys_file.

127.0.0.1:9192 is the same cluster without authentication (listener "insecure-local", for
benchmarks). Proxy log: $log_file     Stop everything: scripts/stack.sh down
MSG
}

down() {
  if proxy_running; then
    kill -TERM "$(cat "$pid_file")"
    for _ in $(seq 1 40); do proxy_running || break; sleep 0.5; done
  fi
  rm -f "$pid_file"
  harness/kafka/cluster.sh stop
  harness/idp/idp.sh stop
}

case ${1:-up} in
  up) up ;;
  down) down ;;
  tool)
    shift
    # Since Kafka 4.0 a Java client fetches only OAuth URLs listed here (CVE-2025-27817).
    KOP_TOOL_JAVA_OPTS="${KOP_TOOL_JAVA_OPTS:--Xmx512m} -Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=$token_url,$globex_token_url" \
      exec harness/kafka/cluster.sh tool "$@"
    ;;
  status)
    harness/kafka/cluster.sh status
    if proxy_running; then echo "proxy: running pid $(cat "$pid_file")"; else echo "proxy: stopped"; fi
    ;;
  *) echo "usage: scripts/stack.sh up|down|status|tool TOOL ARGS..." >&2; exit 2 ;;
esac
