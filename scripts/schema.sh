#!/usr/bin/env bash
# Generates src/kafka/schema/generated.rs from Kafka's message definitions, the JSON files in
# the kafka-clients jar of the release kafka-protocol is generated from (fetched with Maven).
#   scripts/schema.sh           write the file
#   scripts/schema.sh --check   fail when the checked-in file differs from what they give
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# kafka-protocol 0.18 is generated from Kafka 4.1.0 (its README); the walk must match its decoder.
KAFKA_CLIENTS_VERSION=4.1.0
work=${KOP_WORK:-target/harness}/schema
target=src/kafka/schema/generated.rs
mkdir -p "$work"
jar=$work/kafka-clients-$KAFKA_CLIENTS_VERSION.jar
if [[ ! -f $jar ]]; then
  # shellcheck disable=SC2086  # KOP_MVN_ARGS is a list of words on purpose
  mvn -B -q ${KOP_MVN_ARGS:-} dependency:copy \
    -Dartifact="org.apache.kafka:kafka-clients:$KAFKA_CLIENTS_VERSION" \
    -DoutputDirectory="$work" </dev/null >"$work/mvn.log" 2>&1 \
    || { cat "$work/mvn.log" >&2; echo "maven could not fetch kafka-clients" >&2; exit 1; }
fi
rm -rf "$work/json"
mkdir -p "$work/json"
unzip -q -o -j "$jar" 'common/message/*.json' -d "$work/json"
cargo run --quiet --example schema_gen -- "$work/json" "$work/generated.rs"
if [[ ${1:-} == --check ]]; then
  if ! diff -u "$target" "$work/generated.rs"; then
    echo "$target is not what Kafka $KAFKA_CLIENTS_VERSION's definitions give: run scripts/schema.sh" >&2
    exit 1
  fi
  echo "$target is current"
else
  cp "$work/generated.rs" "$target"
  echo "wrote $target"
fi
