#!/usr/bin/env bash
# Runs every test of kafka-oidc-proxy against real parts: installs (first run only) Apache Kafka
# 4.4.0, the OpenID providers (oidc-provider, and Keycloak 26.7.3) and the real client libraries
# from the package registries, starts the providers, PostgreSQL (the management store's second
# backend), the three-node cluster and a second, one-node cluster (a second upstream of virtual
# clusters) on 127.0.0.1, runs `cargo test`, and stops them again.
#
#   scripts/test.sh [cargo test arguments...]     e.g. scripts/test.sh --test clients
#
# KOP_KEEP_CLUSTER=1 leaves the cluster and the provider running for faster reruns.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

harness/kafka/cluster.sh fetch
harness/clients/install.sh
# Keycloak (tests/keycloak.rs) takes the better part of a minute to start: it starts meanwhile.
harness/keycloak/keycloak.sh fetch
harness/keycloak/keycloak.sh start >"${KOP_WORK:-target/harness}/keycloak-start.log" 2>&1 &
keycloak_start=$!
harness/idp/idp.sh start
harness/postgres/pg.sh start
# The OAUTH listener (OAUTHBEARER validated by Kafka itself against the provider) is what the
# proxy's own upstream OAUTHBEARER login is tested against; it needs the provider up first.
KOP_KAFKA_OAUTH=1 harness/kafka/cluster.sh start
KOP_KAFKA_INSTANCE=dedicated harness/kafka/cluster.sh start
if [[ ${KOP_KEEP_CLUSTER:-0} != 1 ]]; then
  trap 'harness/kafka/cluster.sh stop; KOP_KAFKA_INSTANCE=dedicated harness/kafka/cluster.sh stop; harness/idp/idp.sh stop; harness/postgres/pg.sh stop; harness/keycloak/keycloak.sh stop' EXIT
fi
wait "$keycloak_start" || { cat "${KOP_WORK:-target/harness}/keycloak-start.log" >&2; exit 1; }
eval "$(harness/kafka/cluster.sh env)"
eval "$(KOP_KAFKA_INSTANCE=dedicated harness/kafka/cluster.sh env)"
eval "$(harness/idp/idp.sh env)"
eval "$(harness/postgres/pg.sh env)"
eval "$(harness/keycloak/keycloak.sh env)"

# Client programs are heavy on a small machine: two tests at a time.
if (($#)); then
  cargo test "$@" -- --test-threads=2
else
  cargo test --lib --bins --tests -- --test-threads=2
  cargo test --benches # each criterion bench once, as a smoke test
fi
