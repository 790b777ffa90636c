#!/usr/bin/env bash
# Tests the management API against its own OpenAPI document with schemathesis (PyPI): starts
# the proxy binary with a management API on 127.0.0.1:18480 and a fresh SQLite store, runs
# `st run` with harness/schemathesis/schemathesis.toml, and stops it. Exit code: schemathesis's.
#
#   scripts/api-check.sh [st run options...]      e.g. scripts/api-check.sh --max-examples 200
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../harness/lib.sh
. harness/lib.sh
KOP_LOG_TAG=api-check

venv=$KOP_WORK/schemathesis
if [[ ! -x $venv/bin/st ]]; then
  kop_log "installing schemathesis into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==4.32.5"
fi
cargo build --quiet --bin kafka-oidc-proxy
run=$KOP_WORK/api-check
rm -rf "$run"
mkdir -p "$run"
token=api-check-token
port=18480
cat >"$run/proxy.toml" <<TOML
[upstream]
bootstrap_servers = ["127.0.0.1:9"]
[[listeners]]
name = "plain"
bind_address = "127.0.0.1"
advertised_host = "127.0.0.1"
bootstrap_port = 0
broker_port_base = 0
authentication = "none"
[management]
listen = "127.0.0.1:$port"
[[management.tokens]]
name = "api-check"
sha256 = "$(printf %s "$token" | target/debug/kafka-oidc-proxy hash-token)"
organization = "*"
[store]
data_dir = "$run/data"
secret_keys_file = "$run/store-keys"
TOML
target/debug/kafka-oidc-proxy gen-store-key --id api-check >"$run/store-keys"
target/debug/kafka-oidc-proxy run --config "$run/proxy.toml" >"$run/proxy.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
kop_wait_port 127.0.0.1 "$port" 30 "$pid" || { cat "$run/proxy.log"; exit 1; }
"$venv/bin/st" --config-file harness/schemathesis/schemathesis.toml run \
  "http://127.0.0.1:$port/openapi.json" -H "Authorization: Bearer $token" \
  --max-examples 25 --seed 1 --no-color "$@"
