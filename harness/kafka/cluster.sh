#!/usr/bin/env bash
# Three-node Apache Kafka 4.4.0 KRaft cluster on loopback, from Maven Central jars.
#
# Usage: harness/kafka/cluster.sh COMMAND
#   fetch            jars into $KOP_WORK/kafka/lib via Maven (no-op when already complete)
#   start            fetch, make TLS files, format and start all nodes, wait until the
#                    cluster has 3 brokers registered; no-op if already healthy, starts
#                    only the missing nodes if some are down
#   stop             stop all nodes (SIGTERM, SIGKILL after $KOP_KAFKA_STOP_TIMEOUT s); keeps data
#   status           one line per node; exit 0 only if all three are up
#   stop-node N      stop one node (fault tests); its data is kept
#   start-node N     restart one stopped node on its data; waits until it has rejoined
#   tool CLASS ARGS  run a Java main class on the broker classpath, or an alias:
#                    topics producer-perf consumer-perf console-producer console-consumer
#                    consumer-groups configs api-versions metadata-quorum storage
#   env              print `export` lines for tests (eval "$(harness/kafka/cluster.sh env)")
#   clean            stop and delete node data and cluster id (keeps jars and TLS files)
#
# Layout (fixed; every node is a combined broker+controller, all on 127.0.0.1):
#   node id N in 1,2,3
#   PLAINTEXT        19090+N  (19091..19093)  inter-broker listener
#   CONTROLLER       19190+N  (19191..19193)  static quorum: controller.quorum.voters
#   SSL              19290+N  (19291..19293)  server-auth TLS only, broker cert signed by
#                                             $KOP_WORK/tls/ca.pem, SAN IP:127.0.0.1, DNS:localhost
#   SASL_PLAINTEXT   19390+N  (19391..19393)  PLAIN, SCRAM-SHA-256, SCRAM-SHA-512;
#                                             user `proxy`, password `proxy-secret`
#   OAUTH            19490+N  (19491..19493)  optional: SASL_PLAINTEXT with OAUTHBEARER only,
#                                             tokens validated by Kafka's own
#                                             OAuthBearerValidatorCallbackHandler against the
#                                             IdP's JWKS (jwks_uri from its discovery), expected
#                                             audience and issuer; session lifetime = token
#                                             lifetime, so clients re-authenticate (KIP-368).
#                    Enabled only if KOP_KAFKA_OAUTH=1 and the IdP's discovery answers when
#                    `start` starts the first node (else skipped, and logged); the choice is kept
#                    in $KOP_WORK/kafka/oauth.properties, so `start-node` restarts a node with the
#                    same listeners. Switching it on or off needs `stop` then `start`.
#   No authorizer. Data, server.properties, server.log (stdout+stderr) and kafka.pid
#   live in $KOP_WORK/kafka/node-N. Heap -Xmx512m -Xms256m per node.
#
# KOP_KAFKA_INSTANCE=dedicated: a second, independent one-node cluster (node id 1, replication
#   factor 1) with every port above shifted by 500 (PLAINTEXT 19591, CONTROLLER 19691, SSL 19791,
#   SASL_PLAINTEXT 19891), its data in $KOP_WORK/kafka-dedicated, the same jars and TLS files;
#   `env` prints KOP_KAFKA_DEDICATED_BOOTSTRAP. The tests use it as a second upstream cluster.
#
# KOP_KAFKA_INSTANCE=wide: a four-node cluster for benches of many partitions (ports shifted by
#   1000: PLAINTEXT 20091..20094), its data in $KOP_WORK/kafka-wide; `env` prints
#   KOP_KAFKA_WIDE_BOOTSTRAP. A broker keeps a descriptor open for each partition's log, and
#   where the descriptor limit cannot be raised above 20,000 (unprivileged containers), the
#   10,000 topics x 6 partitions of `cargo bench --bench metadata` fit on four brokers, not three.
#
# TLS files ($KOP_WORK/tls): ca.pem ca.key (test CA), broker.p12 (broker keystore),
#   truststore.p12 (CA, for Java clients), proxy.pem proxy.key (server cert + PKCS#8 key for
#   127.0.0.1/localhost, for the proxy's client-facing TLS). Store password: kop-test-pass.
# Client configs for --command-config / --producer.config ($KOP_WORK/kafka/clients):
#   ssl.properties sasl-plain.properties sasl-scram-sha-256.properties sasl-scram-sha-512.properties
#
# Environment: KOP_WORK (default <repo>/target/harness), KOP_KAFKA_START_TIMEOUT (s, 180),
#   KOP_KAFKA_STOP_TIMEOUT (s, 30), KOP_KAFKA_JAVA_OPTS (extra broker JVM options),
#   KOP_TOOL_JAVA_OPTS (tool JVM options, default -Xmx512m), KOP_MVN_ARGS (extra mvn args),
#   KOP_KAFKA_OAUTH (1: add the OAUTH listener), KOP_KAFKA_OAUTH_ISSUER (the IdP's issuer,
#   default http://127.0.0.1:19400, harness/idp's main issuer), KOP_KAFKA_OAUTH_AUDIENCE (kafka).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HARNESS_KAFKA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
CLUSTER_SH=$HARNESS_KAFKA_DIR/$(basename "${BASH_SOURCE[0]}")
# shellcheck source=../lib.sh
. "$HARNESS_KAFKA_DIR/../lib.sh"
# shellcheck disable=SC2034  # read by kop_log
KOP_LOG_TAG=kafka

KAFKA_VERSION=4.4.0
HOST=127.0.0.1
INSTANCE=${KOP_KAFKA_INSTANCE:-main}
case $INSTANCE in
  main)
    NODES=(1 2 3) PORT_SHIFT=0 REPLICATION=3 MIN_ISR=2
    KAFKA_DIR=$KOP_WORK/kafka
    ;;
  dedicated)
    NODES=(1) PORT_SHIFT=500 REPLICATION=1 MIN_ISR=1
    KAFKA_DIR=$KOP_WORK/kafka-dedicated
    # shellcheck disable=SC2034  # read by kop_log
    KOP_LOG_TAG=kafka-dedicated
    ;;
  wide)
    NODES=(1 2 3 4) PORT_SHIFT=1000 REPLICATION=3 MIN_ISR=2
    KAFKA_DIR=$KOP_WORK/kafka-wide
    # shellcheck disable=SC2034  # read by kop_log
    KOP_LOG_TAG=kafka-wide
    ;;
  *) kop_die "KOP_KAFKA_INSTANCE must be main, dedicated or wide (got '$INSTANCE')" ;;
esac
LIB_DIR=$KOP_WORK/kafka/lib
CLIENTS_DIR=$KAFKA_DIR/clients
TLS_DIR=$KOP_WORK/tls
TLS_PASS=kop-test-pass
SASL_USER=proxy
SASL_PASS=proxy-secret
OAUTH_CONF=$KAFKA_DIR/oauth.properties
START_TIMEOUT=${KOP_KAFKA_START_TIMEOUT:-180}
STOP_TIMEOUT=${KOP_KAFKA_STOP_TIMEOUT:-30}

plain_port()      { echo $((19090 + PORT_SHIFT + $1)); }
controller_port() { echo $((19190 + PORT_SHIFT + $1)); }
ssl_port()        { echo $((19290 + PORT_SHIFT + $1)); }
sasl_port()       { echo $((19390 + PORT_SHIFT + $1)); }
oauth_port()      { echo $((19490 + PORT_SHIFT + $1)); }
node_dir()        { echo "$KAFKA_DIR/node-$1"; }

# bootstrap PORT_FN: "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3"
bootstrap() {
  local fn=$1 n out=()
  for n in "${NODES[@]}"; do out+=("$HOST:$("$fn" "$n")"); done
  (IFS=,; echo "${out[*]}")
}

check_node_arg() {
  local n
  for n in "${NODES[@]}"; do [[ ${1:-} == "$n" ]] && return 0; done
  kop_die "node id must be one of ${NODES[*]} (got '${1:-}')"
}

# Serialise fetch/start/stop between concurrent callers (e.g. parallel test binaries).
take_lock() {
  mkdir -p "$KAFKA_DIR"
  exec 9>"$KAFKA_DIR/.lock"
  flock -w 600 9 || kop_die "could not lock $KAFKA_DIR/.lock"
}

# ---------------------------------------------------------------------------- fetch

cmd_fetch() {
  local pom=$HARNESS_KAFKA_DIR/pom.xml stamp tmp
  stamp=$(sha256sum "$pom" | cut -d' ' -f1)
  # The stamp is written last, so a half-finished download is never taken as complete,
  # and a changed pom triggers a new download.
  if [[ -f $LIB_DIR/.complete && $(<"$LIB_DIR/.complete") == "$stamp" ]]; then
    return 0
  fi
  if [[ -d $LIB_DIR ]] && any_node_running; then
    kop_die "pom.xml changed while nodes are running; run '$CLUSTER_SH stop' first"
  fi
  kop_need mvn
  kop_log "fetching Kafka $KAFKA_VERSION jars with Maven into $LIB_DIR"
  tmp=$KAFKA_DIR/lib.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # Output goes to a file and is shown only on failure (Debian's mvn -q still prints
  # colour escapes).
  # shellcheck disable=SC2086  # KOP_MVN_ARGS is a list of words on purpose
  if ! mvn -B -q -f "$pom" ${KOP_MVN_ARGS:-} dependency:copy-dependencies \
      -DoutputDirectory="$tmp" -DincludeScope=runtime </dev/null >"$KAFKA_DIR/mvn.log" 2>&1; then
    cat "$KAFKA_DIR/mvn.log" >&2
    rm -rf "$tmp"
    kop_die "maven could not fetch the Kafka jars (output above, also in $KAFKA_DIR/mvn.log)"
  fi
  [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar && -f $tmp/kafka-tools-$KAFKA_VERSION.jar ]] \
    || kop_die "maven finished but kafka jars are missing in $tmp"
  echo "$stamp" >"$tmp/.complete"
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR"
  kop_log "$(find "$LIB_DIR" -name '*.jar' | wc -l) jars in $LIB_DIR"
}

# ---------------------------------------------------------------------------- TLS

keytool_bin() {
  local java
  java=$(readlink -f "$(kop_java)")
  if [[ -x ${java%/*}/keytool ]]; then echo "${java%/*}/keytool"; else command -v keytool; fi
}

# sign_leaf DIR NAME CN: key (PKCS#8, unencrypted) + cert signed by the CA, for 127.0.0.1/localhost.
sign_leaf() {
  local d=$1 name=$2 cn=$3
  openssl req -new -newkey rsa:2048 -nodes -keyout "$d/$name.key" -out "$d/$name.csr" \
    -subj "/CN=$cn" 2>/dev/null
  # webpki (rustls) insists on SAN, CA:FALSE and a serverAuth EKU on leaf certs.
  cat >"$d/$name.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 \
    -extfile "$d/$name.ext" -out "$d/$name.pem" 2>/dev/null
  rm -f "$d/$name.csr" "$d/$name.ext"
}

ensure_tls() {
  [[ -f $TLS_DIR/.complete ]] && return 0
  kop_need openssl
  local tmp=$TLS_DIR.tmp.$$ keytool
  keytool=$(keytool_bin)
  kop_log "generating test CA and certificates in $TLS_DIR"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/ca.key" -out "$tmp/ca.pem" \
    -days 3650 -sha256 -subj "/CN=kafka-oidc-proxy test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  sign_leaf "$tmp" broker localhost
  sign_leaf "$tmp" proxy localhost
  # Broker keystore: key + cert + CA chain. Java 17 reads OpenSSL 3's AES/PBKDF2 PKCS#12.
  openssl pkcs12 -export -name broker -in "$tmp/broker.pem" -inkey "$tmp/broker.key" \
    -certfile "$tmp/ca.pem" -out "$tmp/broker.p12" -passout "pass:$TLS_PASS"
  "$keytool" -importcert -noprompt -alias ca -file "$tmp/ca.pem" \
    -keystore "$tmp/truststore.p12" -storetype PKCS12 -storepass "$TLS_PASS" >/dev/null 2>&1
  chmod 600 "$tmp"/*.key
  date -u +%FT%TZ >"$tmp/.complete"
  rm -rf "$TLS_DIR"
  mv "$tmp" "$TLS_DIR"
}

# ---------------------------------------------------------------------------- config files

write_log4j_configs() {
  # Brokers log INFO to stdout (redirected to node-N/server.log); tools only warnings, to stderr.
  cat >"$KAFKA_DIR/log4j2-broker.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
EOF
  cat >"$KAFKA_DIR/log4j2-tools.properties" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = ERR
EOF
}

write_client_configs() {
  mkdir -p "$CLIENTS_DIR"
  cat >"$CLIENTS_DIR/ssl.properties" <<EOF
security.protocol=SSL
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
EOF
  local mech file module
  for mech in PLAIN SCRAM-SHA-256 SCRAM-SHA-512; do
    if [[ $mech == PLAIN ]]; then
      module=org.apache.kafka.common.security.plain.PlainLoginModule
    else
      module=org.apache.kafka.common.security.scram.ScramLoginModule
    fi
    file=$CLIENTS_DIR/sasl-$(tr '[:upper:]' '[:lower:]' <<<"$mech").properties
    cat >"$file" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=$mech
sasl.jaas.config=$module required username="$SASL_USER" password="$SASL_PASS";
EOF
  done
}

# ---------------------------------------------------------------------------- OAUTH listener

# oauth_prop KEY: a value from $OAUTH_CONF (empty if absent).
oauth_prop() {
  [[ -f $OAUTH_CONF ]] && sed -n "s/^$1=//p" "$OAUTH_CONF" | head -n1
}

oauth_enabled() { [[ -n $(oauth_prop jwks_url) ]]; }

# decide_oauth: called when no node runs, i.e. before the cluster (re)starts from scratch.
# Writes $OAUTH_CONF if the OAUTH listener is wanted and the IdP answers, removes it otherwise.
decide_oauth() {
  rm -f "$OAUTH_CONF"
  if [[ ${KOP_KAFKA_OAUTH:-0} != 1 ]]; then
    return 0
  fi
  local issuer=${KOP_KAFKA_OAUTH_ISSUER:-http://127.0.0.1:19400} doc jwks iss
  issuer=${issuer%/}
  if ! command -v curl >/dev/null 2>&1; then
    kop_log "KOP_KAFKA_OAUTH=1 but curl is missing: starting without the OAUTH listener"
    return 0
  fi
  if ! doc=$(curl -fsS --max-time 5 "$issuer/.well-known/openid-configuration" 2>&1); then
    kop_log "KOP_KAFKA_OAUTH=1 but the IdP's discovery $issuer/.well-known/openid-configuration does not answer ($doc): starting without the OAUTH listener"
    return 0
  fi
  doc=$(tr -d '\n' <<<"$doc")
  jwks=$(sed -n 's/.*"jwks_uri"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$doc")
  iss=$(sed -n 's/.*"issuer"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$doc")
  if [[ -z $jwks || -z $iss ]]; then
    kop_log "KOP_KAFKA_OAUTH=1 but the IdP's discovery document has no jwks_uri/issuer: starting without the OAUTH listener"
    return 0
  fi
  cat >"$OAUTH_CONF" <<EOF
# Written by harness/kafka/cluster.sh start: the OAUTH listener's settings (from the IdP's discovery).
jwks_url=$jwks
issuer=$iss
audience=${KOP_KAFKA_OAUTH_AUDIENCE:-kafka}
EOF
  kop_log "OAUTH listener enabled on $(bootstrap oauth_port) (JWKS $jwks, issuer $iss, audience ${KOP_KAFKA_OAUTH_AUDIENCE:-kafka})"
}

# The OAUTH listener's part of server.properties (nothing when it is off).
oauth_node_config() {
  oauth_enabled || return 0
  cat <<EOF

# OAUTH listener: OAUTHBEARER bearer JWTs from the IdP, checked by Kafka's own validator
# (signature against the JWKS, exp/nbf, aud, iss, sub). connections.max.reauth.ms makes the
# session lifetime the token's remaining lifetime (capped at 1 h), so clients must
# re-authenticate (KIP-368) before their token expires.
listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.oauth.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;
listener.name.oauth.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler
listener.name.oauth.oauthbearer.connections.max.reauth.ms=3600000
sasl.oauthbearer.jwks.endpoint.url=$(oauth_prop jwks_url)
sasl.oauthbearer.expected.audience=$(oauth_prop audience)
sasl.oauthbearer.expected.issuer=$(oauth_prop issuer)
EOF
}

write_node_config() {
  local n=$1 dir voters listeners advertised map
  dir=$(node_dir "$n")
  voters=$(for m in "${NODES[@]}"; do printf '%s@%s:%s,' "$m" "$HOST" "$(controller_port "$m")"; done)
  voters=${voters%,}
  listeners="PLAINTEXT://$HOST:$(plain_port "$n"),CONTROLLER://$HOST:$(controller_port "$n"),SSL://$HOST:$(ssl_port "$n"),SASL_PLAINTEXT://$HOST:$(sasl_port "$n")"
  advertised="PLAINTEXT://$HOST:$(plain_port "$n"),SSL://$HOST:$(ssl_port "$n"),SASL_PLAINTEXT://$HOST:$(sasl_port "$n")"
  map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT
  if oauth_enabled; then
    listeners+=",OAUTH://$HOST:$(oauth_port "$n")"
    advertised+=",OAUTH://$HOST:$(oauth_port "$n")"
    map+=,OAUTH:SASL_PLAINTEXT
  fi
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<EOF
# Generated by harness/kafka/cluster.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listeners=$listeners
advertised.listeners=$advertised
listener.security.protocol.map=$map
log.dirs=$dir/data

# SSL listener: server-auth only.
listener.name.ssl.ssl.keystore.type=PKCS12
listener.name.ssl.ssl.keystore.location=$TLS_DIR/broker.p12
listener.name.ssl.ssl.keystore.password=$TLS_PASS
listener.name.ssl.ssl.key.password=$TLS_PASS
listener.name.ssl.ssl.client.auth=none

# SASL_PLAINTEXT listener: PLAIN with a static user; SCRAM users come from the metadata
# log (added by 'kafka-storage format --add-scram').
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$SASL_USER" password="$SASL_PASS" user_$SASL_USER="$SASL_PASS";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;

# Durability settings that make multi-broker behaviour testable.
offsets.topic.replication.factor=$REPLICATION
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=$REPLICATION
transaction.state.log.min.isr=$MIN_ISR
transaction.state.log.num.partitions=12
default.replication.factor=$REPLICATION
min.insync.replicas=$MIN_ISR
num.partitions=6
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0

# Small footprint, quick start (2-core machines, three JVMs).
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=4
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
log.segment.bytes=67108864
log.retention.hours=24
EOF
  oauth_node_config >>"$dir/server.properties"
}

# ---------------------------------------------------------------------------- processes

# pid_alive PID: running and not a zombie (a node started by this very shell and then
# killed stays a zombie until reaped, and kill -0 still succeeds on it).
pid_alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ $state != Z ]]
}

# Every node JVM carries -Dkop.node.dir=<node dir>/ so it can be told apart from any
# other process (pid reuse) and found even when its pid file is gone (e.g. target/ wiped).
node_marker() { echo "-Dkop.node.dir=$(node_dir "$1")/"; }

# node_pid N: print the pid of node N's JVM, or return 1.
node_pid() {
  local n=$1 marker pidf pid f
  marker=$(node_marker "$n")
  pidf=$(node_dir "$n")/kafka.pid
  if [[ -f $pidf ]]; then
    pid=$(<"$pidf")
    if [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid" \
        && grep -aqF -- "$marker" "/proc/$pid/cmdline" 2>/dev/null; then
      echo "$pid"
      return 0
    fi
  fi
  # Fallback: scan /proc. The grep process itself matches too, so keep only java.
  while read -r f; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == java ]] && pid_alive "$pid"; then
      echo "$pid" >"$pidf" 2>/dev/null || true
      echo "$pid"
      return 0
    fi
  done < <(grep -alF -- "$marker" /proc/[0-9]*/cmdline 2>/dev/null)
  return 1
}

any_node_running() {
  local n
  for n in "${NODES[@]}"; do node_pid "$n" >/dev/null && return 0; done
  return 1
}

node_ports() {
  echo "$(plain_port "$1") $(controller_port "$1") $(ssl_port "$1") $(sasl_port "$1")"
  if oauth_enabled; then oauth_port "$1"; fi
}

# Refuse to start a node whose ports are taken by some other process (e.g. a cluster of
# another checkout with a different KOP_WORK), rather than fail obscurely in the broker log.
check_ports_free() {
  local n=$1 p
  for p in $(node_ports "$n"); do
    if kop_port_open "$HOST" "$p"; then
      kop_die "port $p (node $n) is in use by another process ($(kop_port_owner "$p")); stop it first"
    fi
  done
}

ensure_cluster_id() {
  local f=$KAFKA_DIR/cluster.id id
  if [[ ! -s $f ]]; then
    # Kafka's cluster id: 16 random bytes, URL-safe base64 without padding. Avoid a leading
    # '-', which command-line parsers would take for an option (Kafka's own tool does the same).
    id=-
    while [[ $id == -* ]]; do
      id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    done
    echo "$id" >"$f"
  fi
  cat "$f"
}

# format_node N CLUSTER_ID: format the node's log dir once; later starts reuse the data.
format_node() {
  local n=$1 cid=$2 dir meta have
  dir=$(node_dir "$n")
  meta=$dir/data/meta.properties
  if [[ -f $meta ]]; then
    have=$(sed -n 's/^cluster\.id=//p' "$meta")
    [[ $have == "$cid" ]] || kop_die "node $n data has cluster id $have, expected $cid; run '$CLUSTER_SH clean'"
    return 0
  fi
  # SCRAM credentials go into the bootstrap metadata, so they exist from the first start.
  if ! "$(kop_java)" -Xmx256m -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2-tools.properties" \
      -cp "$LIB_DIR/*" kafka.tools.StorageTool format \
      --config "$dir/server.properties" --cluster-id "$cid" \
      --add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASS]" \
      --add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASS]" \
      >"$dir/format.log" 2>&1; then
    cat "$dir/format.log" >&2
    return 1
  fi
}

launch_node() {
  local n=$1 dir java pid
  dir=$(node_dir "$n")
  java=$(kop_java)
  # Keep the previous run's log for post-mortems, start a fresh one (the readiness
  # check greps it).
  [[ -f $dir/server.log ]] && mv -f "$dir/server.log" "$dir/server.log.1"
  local opts=(
    -Xmx512m -Xms256m
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2-broker.properties"
    "$(node_marker "$n")"
  )
  # Since Kafka 4.0 the broker fetches only OAuth URLs listed here (CVE-2025-27817).
  if oauth_enabled; then
    opts+=("-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=$(oauth_prop jwks_url)")
  fi
  # shellcheck disable=SC2206  # extra options are a list of words on purpose
  opts+=(${KOP_KAFKA_JAVA_OPTS:-})
  (
    # The broker must not inherit the caller's other descriptors: the harness lock (fd 9)
    # would stay held, and a CI runner's or test harness's pipe would never see EOF.
    for fd in /proc/"$BASHPID"/fd/*; do
      fd=${fd##*/}
      if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    cd "$dir"
    # A broker keeps a descriptor open for every partition's log: Kafka's operations guide
    # asks for 100,000 or more. Raised where the caller may (root), else up to its hard limit.
    ulimit -n 262144 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    # setsid: own session, so a Ctrl-C or a killed process group of the caller does not
    # take the brokers down half-way; `stop` is the way to end them.
    exec setsid "$java" "${opts[@]}" -cp "$LIB_DIR/*" kafka.Kafka "$dir/server.properties" \
      </dev/null >>"$dir/server.log" 2>&1
  ) &
  pid=$!
  echo "$pid" >"$dir/kafka.pid"
  # Until the subshell has exec'd the JVM its command line lacks the node's marker, and
  # node_pid would take the node for dead: on a loaded machine that takes a while.
  local until=$((SECONDS + 30))
  while pid_alive "$pid" && ((SECONDS < until)) \
      && ! grep -aqF -- "$(node_marker "$n")" "/proc/$pid/cmdline" 2>/dev/null; do
    sleep 0.05
  done
  kop_log "node $n started (pid $pid, log $dir/server.log)"
}

# stop_nodes N...: SIGTERM (controlled shutdown), SIGKILL after STOP_TIMEOUT.
stop_nodes() {
  local n pid pids=() deadline grace=$STOP_TIMEOUT running=0
  for n in "${NODES[@]}"; do node_pid "$n" >/dev/null && running=$((running + 1)); done
  # A lone node of a three-node quorum cannot finish a controlled shutdown (no controller
  # quorum: it waits forever), so do not make the caller wait long for it.
  if ((running == 1 && ${#NODES[@]} > 1 && grace > 5)); then grace=5; fi
  for n in "$@"; do
    if pid=$(node_pid "$n"); then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      kop_log "stopping node $n (pid $pid)"
    fi
  done
  deadline=$((SECONDS + grace))
  for pid in ${pids[@]+"${pids[@]}"}; do
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    if pid_alive "$pid"; then
      kop_log "pid $pid did not stop within ${grace}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      while pid_alive "$pid"; do sleep 0.1; done
    fi
  done
  for n in "$@"; do rm -f "$(node_dir "$n")/kafka.pid"; done
}

# ---------------------------------------------------------------------------- readiness

# The broker logs this once it is registered with the controller and unfenced
# (BrokerServer waits for unfencing before it declares itself started).
started_in_log() {
  grep -qF "Transition from STARTING to STARTED" "$(node_dir "$1")/server.log" 2>/dev/null
}

# Ids of the brokers that the cluster metadata reports as alive (via the admin client).
registered_brokers() {
  run_tool org.apache.kafka.tools.BrokerApiVersionsCommand \
    --bootstrap-server "$(bootstrap plain_port)" 2>/dev/null \
    | sed -nE 's/^[0-9.]+:[0-9]+ \(id: ([0-9]+) rack.*/\1/p' | sort -u
}

# wait_ready N...: wait until each listed node is up and all are registered brokers.
wait_ready() {
  local deadline=$((SECONDS + START_TIMEOUT)) n pid pending want have
  pending=("$@")
  while ((${#pending[@]})); do
    local still=()
    for n in "${pending[@]}"; do
      if ! pid=$(node_pid "$n"); then
        kop_log "node $n exited during startup; last lines of $(node_dir "$n")/server.log:"
        tail -n 40 "$(node_dir "$n")/server.log" >&2 || true
        return 1
      fi
      if started_in_log "$n" && kop_port_open "$HOST" "$(plain_port "$n")"; then
        kop_log "node $n is up"
      else
        still+=("$n")
      fi
    done
    pending=(${still[@]+"${still[@]}"})
    if ((${#pending[@]})); then
      if ((SECONDS >= deadline)); then
        kop_log "timed out after ${START_TIMEOUT}s waiting for node(s) ${pending[*]}"
        for n in "${pending[@]}"; do tail -n 20 "$(node_dir "$n")/server.log" >&2 || true; done
        return 1
      fi
      sleep 0.5
    fi
  done
  # Confirm through the admin client that the cluster metadata lists the nodes.
  want=$(printf '%s\n' "$@" | sort -u)
  while :; do
    have=$(registered_brokers || true)
    if [[ -z $(comm -23 <(echo "$want") <(echo "$have")) ]]; then
      kop_log "registered brokers: $(echo "$have" | tr '\n' ' ')"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      kop_log "timed out: registered brokers are [$(echo "$have" | tr '\n' ' ')], want [$(echo "$want" | tr '\n' ' ')]"
      return 1
    fi
    sleep 1
  done
}

# ---------------------------------------------------------------------------- commands

# start_nodes N...: common part of `start` and `start-node`.
start_nodes() {
  local n cid fail=0 to_start=() pids=()
  cmd_fetch
  ensure_tls
  write_log4j_configs
  write_client_configs
  for n in "$@"; do
    node_pid "$n" >/dev/null || to_start+=("$n")
  done
  # The OAUTH listener is decided when the cluster starts from scratch; a node restarted while
  # others run gets the listeners they have.
  if ! any_node_running; then
    decide_oauth
  elif [[ ${KOP_KAFKA_OAUTH:-0} == 1 ]] && ! oauth_enabled; then
    kop_log "KOP_KAFKA_OAUTH=1 but the running cluster has no OAUTH listener; run '$CLUSTER_SH stop' first"
  fi
  if ((${#to_start[@]} == 0)); then
    # Cheap health check so that a repeated `start` costs nothing; a cluster left
    # half-started (e.g. an earlier `start` was interrupted) is waited for instead.
    local healthy=1
    for n in "$@"; do
      started_in_log "$n" && kop_port_open "$HOST" "$(plain_port "$n")" || healthy=0
    done
    if ((healthy)); then
      kop_log "node(s) $* already running"
      return 0
    fi
    kop_log "node(s) $* running but not ready yet; waiting"
    wait_ready "$@" || exit 1
    return 0
  fi
  for n in "${to_start[@]}"; do check_ports_free "$n"; done
  cid=$(ensure_cluster_id)
  # Format in parallel: each format is a JVM start (~1-2 s).
  kop_log "preparing node(s) ${to_start[*]} (cluster id $cid)"
  for n in "${to_start[@]}"; do
    write_node_config "$n"
    format_node "$n" "$cid" &
    pids+=($!)
  done
  for n in "${pids[@]}"; do wait "$n" || fail=1; done
  ((fail == 0)) || kop_die "formatting failed"
  for n in "${to_start[@]}"; do launch_node "$n"; done
  # A node never comes up alone: the quorum needs 2 of 3 controllers, so wait for all
  # requested nodes together.
  if ! wait_ready "$@"; then
    kop_log "start failed; stopping the node(s) started now: ${to_start[*]}"
    stop_nodes "${to_start[@]}"
    exit 1
  fi
}

cmd_start() {
  take_lock
  local t0=$SECONDS
  start_nodes "${NODES[@]}"
  kop_log "cluster ready in $((SECONDS - t0))s: $(bootstrap plain_port)"
}

cmd_start_node() {
  check_node_arg "${1:-}"
  take_lock
  start_nodes "$1"
}

cmd_stop() {
  take_lock
  stop_nodes "${NODES[@]}"
  kop_log "cluster stopped"
}

cmd_stop_node() {
  check_node_arg "${1:-}"
  take_lock
  stop_nodes "$1"
}

cmd_clean() {
  take_lock
  stop_nodes "${NODES[@]}"
  local n
  for n in "${NODES[@]}"; do rm -rf "$(node_dir "$n")"; done
  rm -f "$KAFKA_DIR/cluster.id" "$OAUTH_CONF"
  kop_log "node data removed (jars in $LIB_DIR and TLS files in $TLS_DIR kept)"
}

cmd_status() {
  local n pid ok=0
  for n in "${NODES[@]}"; do
    if pid=$(node_pid "$n"); then
      if kop_port_open "$HOST" "$(plain_port "$n")"; then
        echo "node $n: running pid $pid, $HOST:$(plain_port "$n") open"
      else
        echo "node $n: running pid $pid, $HOST:$(plain_port "$n") not accepting (starting?)"
        ok=1
      fi
    else
      echo "node $n: stopped"
      ok=1
    fi
  done
  return $ok
}

# Short names for the usual tools; anything with a dot is taken as a class name.
tool_class() {
  case $1 in
    topics)           echo org.apache.kafka.tools.TopicCommand ;;
    producer-perf)    echo org.apache.kafka.tools.ProducerPerformance ;;
    consumer-perf)    echo org.apache.kafka.tools.ConsumerPerformance ;;
    console-producer) echo org.apache.kafka.tools.ConsoleProducer ;;
    console-consumer) echo org.apache.kafka.tools.consumer.ConsoleConsumer ;;
    consumer-groups)  echo org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    configs)          echo org.apache.kafka.tools.ConfigCommand ;;
    api-versions)     echo org.apache.kafka.tools.BrokerApiVersionsCommand ;;
    metadata-quorum)  echo org.apache.kafka.tools.MetadataQuorumCommand ;;
    storage)          echo kafka.tools.StorageTool ;;
    *.*)              echo "$1" ;;
    *) kop_die "unknown tool '$1' (give a class name or one of: topics producer-perf consumer-perf console-producer console-consumer consumer-groups configs api-versions metadata-quorum storage)" ;;
  esac
}

run_tool() {
  local class=$1
  shift
  # shellcheck disable=SC2206  # a list of JVM options on purpose
  local opts=(${KOP_TOOL_JAVA_OPTS:--Xmx512m})
  "$(kop_java)" "${opts[@]}" -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2-tools.properties" \
    -cp "$LIB_DIR/*" "$class" "$@"
}

cmd_tool() {
  [[ $# -ge 1 ]] || kop_die "usage: $CLUSTER_SH tool CLASS|ALIAS [ARGS...]"
  local class
  class=$(tool_class "$1")
  shift
  if [[ ! -f $LIB_DIR/.complete || ! -f $KAFKA_DIR/log4j2-tools.properties ]]; then
    take_lock
    cmd_fetch
    write_log4j_configs
    exec 9>&-
  fi
  run_tool "$class" "$@"
}

cmd_env() {
  if [[ $INSTANCE == dedicated ]]; then
    printf 'export KOP_KAFKA_DEDICATED_BOOTSTRAP=%s\n' "$(bootstrap plain_port)"
    return 0
  fi
  if [[ $INSTANCE == wide ]]; then
    printf 'export KOP_KAFKA_WIDE_BOOTSTRAP=%s\n' "$(bootstrap plain_port)"
    return 0
  fi
  local kv oauth_env=()
  if oauth_enabled; then
    oauth_env=("KOP_KAFKA_OAUTH_BOOTSTRAP=$(bootstrap oauth_port)"
      "KOP_KAFKA_OAUTH_JWKS_URL=$(oauth_prop jwks_url)"
      "KOP_KAFKA_OAUTH_ISSUER=$(oauth_prop issuer)"
      "KOP_KAFKA_OAUTH_AUDIENCE=$(oauth_prop audience)")
  fi
  for kv in \
    "KOP_WORK=$KOP_WORK" \
    "KOP_KAFKA_BOOTSTRAP=$(bootstrap plain_port)" \
    "KOP_KAFKA_SSL_BOOTSTRAP=$(bootstrap ssl_port)" \
    "KOP_KAFKA_SASL_BOOTSTRAP=$(bootstrap sasl_port)" \
    "KOP_KAFKA_SASL_USER=$SASL_USER" \
    "KOP_KAFKA_SASL_PASSWORD=$SASL_PASS" \
    "KOP_TLS_DIR=$TLS_DIR" \
    "KOP_KAFKA_LIB=$LIB_DIR" \
    "KOP_KAFKA_CLIENT_CONFIGS=$CLIENTS_DIR" \
    "KOP_KAFKA_CLUSTER_SH=$CLUSTER_SH" \
    ${oauth_env[@]+"${oauth_env[@]}"}; do
    # Plain values stay readable; anything unusual (spaces in KOP_WORK...) gets quoted.
    if [[ ${kv#*=} =~ ^[A-Za-z0-9_./:,@+-]*$ ]]; then
      printf 'export %s\n' "$kv"
    else
      printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
    fi
  done
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;/shellcheck/d;s/^# \{0,1\}//;p}' "$CLUSTER_SH" >&2
  exit 2
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    fetch)      take_lock; cmd_fetch; kop_log "jars ready in $LIB_DIR" ;;
    start)      cmd_start ;;
    stop)       cmd_stop ;;
    status)     cmd_status ;;
    stop-node)  cmd_stop_node "$@" ;;
    start-node) cmd_start_node "$@" ;;
    tool)       cmd_tool "$@" ;;
    env)        cmd_env ;;
    clean)      cmd_clean ;;
    -h|--help|help|"") usage ;;
    *) kop_log "unknown command '$cmd'"; usage ;;
  esac
}

main "$@"
