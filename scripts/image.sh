#!/usr/bin/env bash
# Builds the proxy's container image from the Dockerfile with buildah, where no registry can be
# reached and no container engine runs: the Dockerfile's two base images are made here instead
# of pulled, and the build has no network.
#   - runtime base: Debian 12 (bookworm) from Debian's packages by debootstrap (minbase);
#   - builder base: that, plus gcc and the Rust toolchain this machine builds with (rustc and
#     cargo only), CARGO_HOME=/usr/local/cargo, offline.
# The builder stage reads crates from this machine's cargo registry cache, mounted read-write at
# /usr/local/cargo/registry (fill it with `cargo fetch --locked` first; scripts/test.sh does).
# Then the image is checked: it runs as uid 10001, has its health check, and the binary in it
# validates the compose stack's configuration (deploy/compose/proxy.toml).
#
#   scripts/image.sh                 # image localhost/kafka-oidc-proxy:latest
#   scripts/image.sh serve           # with the local stack up (scripts/stack.sh up): the image's
#                                    # proxy, run by buildah, serves a real client
# Needs root, buildah and debootstrap (apt-get install buildah debootstrap).
#
# No container engine runs the image here: podman 4.3 (Debian 12) loads it, but crun cannot
# start it in this sandbox (`setrlimit RLIMIT_NPROC: Operation not permitted`, with or without
# --ulimit host). `serve` therefore runs the image's file system and binary with buildah
# (chroot isolation, the host's network), as its user, with a configuration mounted as Compose
# mounts it, in front of the local stack's cluster and provider, and has a Kafka client produce
# and consume through it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../harness/lib.sh
source harness/lib.sh
# shellcheck disable=SC2034 # read by kop_log
KOP_LOG_TAG=image
kop_need buildah debootstrap cargo rustc
work=$KOP_WORK/image
mkdir -p "$work"
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
image=localhost/kafka-oidc-proxy:latest

has_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

serve() {
  local config=$work/serve.toml topic=image-serve-$$ consumed uid
  has_image "$image" || kop_die "no $image: run scripts/image.sh first"
  [[ -f $KOP_WORK/stack/client.properties ]] || kop_die "the local stack is not up: scripts/stack.sh up"
  # The local stack's cluster and provider, on ports of its own; the stack's client
  # (group producers) may do anything.
  cat >"$config" <<EOF
[upstream]
bootstrap_servers = ["127.0.0.1:19091", "127.0.0.1:19092", "127.0.0.1:19093"]

[[listeners]]
name = "oauth"
bind_address = "127.0.0.1"
advertised_host = "127.0.0.1"
bootstrap_port = 9492
broker_port_base = 9500
authentication = "oauthbearer"

[identity]
allow_http_loopback = true

[[identity.providers]]
organization = "local"
identifier = "local-idp"
issuer = "http://127.0.0.1:19400"
audience = "kafka"
scope = "kafka"

[authorization.super_users]
local = ["Group:producers"]
EOF
  serve_ctr=$(buildah from "$image")
  buildah copy --chown 10001:10001 "$serve_ctr" "$config" /etc/kafka-oidc-proxy/proxy.toml >/dev/null
  buildah run --user 10001:10001 "$serve_ctr" -- kafka-oidc-proxy run --config /etc/kafka-oidc-proxy/proxy.toml \
    >"$work/serve.log" 2>&1 &
  serve_pid=$!
  trap cleanup_serve EXIT
  kop_wait_port 127.0.0.1 9492 60 "$serve_pid" || { cat "$work/serve.log" >&2; kop_die "the image's proxy did not listen"; }
  scripts/stack.sh tool producer-perf --topic "$topic" --num-records 500 --record-size 100 --throughput -1 \
    --command-config "$KOP_WORK/stack/client.properties" --command-property bootstrap.servers=127.0.0.1:9492 | tail -1
  consumed=$(scripts/stack.sh tool console-consumer --bootstrap-server 127.0.0.1:9492 \
    --command-config "$KOP_WORK/stack/client.properties" --topic "$topic" --from-beginning \
    --max-messages 500 --timeout-ms 60000 2>/dev/null | wc -l)
  [[ $consumed == 500 ]] || { tail -20 "$work/serve.log" >&2; kop_die "consumed $consumed of 500 records through the image's proxy"; }
  grep -q 'authenticated organization=local' "$work/serve.log" || kop_die "the image's proxy logged no authentication"
  uid=$(awk '/^Uid:/ {print $2}' "/proc/$(pgrep -f "^$proxy_command" | head -1)/status")
  [[ $uid == 10001 ]] || kop_die "the image's proxy ran as uid $uid, not 10001"
  echo "image $image: its proxy, running as uid $uid, served 500 records produced and consumed with OAUTHBEARER"
}

# The proxy as the image runs it: its command line, which buildah's own do not start with.
proxy_command='/usr/local/bin/kafka-oidc-proxy run --config /etc/kafka-oidc-proxy/proxy.toml'
cleanup_serve() {
  pkill -f "^$proxy_command" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
  buildah rm "$serve_ctr" >/dev/null 2>&1 || true
}
if [[ ${1:-} == serve ]]; then
  serve
  exit 0
fi
suite=bookworm
runtime_base=localhost/kop-debian:$suite
rust_version=$(rustc --version | awk '{print $2}')
builder_base=localhost/kop-rust:$rust_version


# A Debian root file system from Debian's packages, as an image.
if ! has_image "$runtime_base"; then
  rootfs=$work/rootfs-$suite
  if [[ ! -f $rootfs/.complete ]]; then
    rm -rf "$rootfs"
    kop_log "debootstrap $suite (minbase) into $rootfs"
    debootstrap --variant=minbase "$suite" "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
      { tail -20 "$work/debootstrap.log" >&2; kop_die "debootstrap failed (log: $work/debootstrap.log)"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    touch "$rootfs/.complete"
  fi
  tar -C "$rootfs" --exclude=./.complete -cf "$work/rootfs-$suite.tar" .
  ctr=$(buildah from scratch)
  buildah add "$ctr" "$work/rootfs-$suite.tar" / >/dev/null
  buildah config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  buildah commit --rm "$ctr" "$runtime_base" >/dev/null
  rm -f "$work/rootfs-$suite.tar"
  kop_log "made $runtime_base"
fi

# The builder base: gcc from Debian's packages (its .debs fetched on this machine, installed
# without a network), and this machine's Rust toolchain.
if ! has_image "$builder_base"; then
  debs=$work/debs-$suite
  rootfs=$work/rootfs-$suite
  mkdir -p "$debs"
  if [[ ! -f $debs/.complete ]]; then
    kop_log "fetching gcc and libc6-dev for $suite"
    debootstrap --variant=minbase --include=gcc,libc6-dev --download-only "$suite" "$work/dl-$suite" \
      http://deb.debian.org/debian >"$work/debootstrap-dl.log" 2>&1 ||
      { tail -20 "$work/debootstrap-dl.log" >&2; kop_die "fetching gcc failed"; }
    cp "$work/dl-$suite"/var/cache/apt/archives/*.deb "$debs/"
    rm -rf "$work/dl-$suite"
    touch "$debs/.complete"
  fi
  sysroot=$(rustc --print sysroot)
  toolchain=$work/toolchain-$rust_version
  rm -rf "$toolchain" && mkdir -p "$toolchain/bin" "$toolchain/lib/rustlib/x86_64-unknown-linux-gnu"
  cp "$sysroot/bin/rustc" "$sysroot/bin/cargo" "$toolchain/bin/"
  cp -a "$sysroot"/lib/lib*.so* "$toolchain/lib/"
  cp -a "$sysroot/lib/rustlib/x86_64-unknown-linux-gnu/lib" "$sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin" \
    "$toolchain/lib/rustlib/x86_64-unknown-linux-gnu/" 2>/dev/null || true
  cp -a "$sysroot"/lib/rustlib/{components,rust-installer-version} "$toolchain/lib/rustlib/" 2>/dev/null || true
  ctr=$(buildah from "$runtime_base")
  buildah copy "$ctr" "$debs" /tmp/debs >/dev/null
  # shellcheck disable=SC2016 # expanded in the container
  buildah run --network none "$ctr" -- sh -c 'cd /tmp/debs && missing= &&
    for f in *.deb; do
      dpkg-query -W -f "\${Status}" "${f%%_*}" 2>/dev/null | grep -q "ok installed" || missing="$missing $f"
    done && dpkg -i $missing >/dev/null && rm -rf /tmp/debs && gcc --version | head -1'
  buildah copy "$ctr" "$toolchain" /usr/local/rust >/dev/null
  buildah config --env PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env CARGO_HOME=/usr/local/cargo --env CARGO_NET_OFFLINE=true "$ctr"
  buildah run --network none "$ctr" -- sh -c 'mkdir -p /usr/local/cargo/registry && rustc --version && cargo --version'
  buildah commit --rm "$ctr" "$builder_base" >/dev/null
  rm -rf "$toolchain"
  kop_log "made $builder_base"
fi

registry=${CARGO_HOME:-$HOME/.cargo}/registry
cargo fetch --locked --quiet
kop_log "building $image from the Dockerfile (no network)"
started=$SECONDS
buildah bud --network none --format docker --layers=false \
  --build-arg RUST_IMAGE="$builder_base" --build-arg RUNTIME_IMAGE="$runtime_base" \
  --volume "$registry:/usr/local/cargo/registry" -t "$image" . >"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log" >&2; kop_die "image build failed (log: $work/build.log)"; }
kop_log "built $image in $((SECONDS - started)) s"

# What the image says about itself, and the binary in it checking the compose configuration.
inspect=$(buildah inspect --type image "$image")
user=$(jq -r '.Docker.config.User' <<<"$inspect")
health=$(jq -r '.Docker.config.Healthcheck.Test | join(" ")' <<<"$inspect")
[[ $user == 10001:10001 ]] || kop_die "the image runs as '$user', not 10001:10001"
[[ $health == *"kafka-oidc-proxy probe"* ]] || kop_die "the image has no health check ($health)"
ctr=$(buildah from "$image")
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah copy "$ctr" deploy/compose/proxy.toml /etc/kafka-oidc-proxy/proxy.toml >/dev/null
buildah run --network none --user 10001:10001 "$ctr" -- id -u
buildah run --network none --user 10001:10001 --env KOP_STORE_URL=postgres://kop:x@postgres:5432/kop "$ctr" -- \
  kafka-oidc-proxy check-config --config /etc/kafka-oidc-proxy/proxy.toml
size=$(buildah images --format '{{.Size}}' "$image" | head -1)
echo "image $image: user $user, health check '$health', size $size"
