# kafka-oidc-proxy as a container image: a Rust builder stage, then a small Debian runtime that
# runs the proxy as an unprivileged user with its configuration file mounted.
#
#   docker build -t kafka-oidc-proxy .
#   docker run -v ./proxy.toml:/etc/kafka-oidc-proxy/proxy.toml:ro -p 9092:9092 -p 9101-9103:9101-9103 \
#     -p 8080:8080 -e KAFKA_OIDC_PROXY_STORE_KEYS=... kafka-oidc-proxy
#
# Secrets can stay out of the configuration file: see README, "Container image". The base images
# are build arguments so that the same file builds from local bases where no registry is
# reachable (scripts/image.sh).
ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
# What is copied is what .dockerignore leaves: the crate's sources, and, when scripts/image.sh
# builds without a network, its vendored dependencies (vendor/, .cargo/config.toml).
COPY . .
RUN cargo build --release --locked --bin kafka-oidc-proxy \
 && install -m 0755 target/release/kafka-oidc-proxy /usr/local/bin/kafka-oidc-proxy

FROM ${RUNTIME_IMAGE}
RUN groupadd --system --gid 10001 kop \
 && useradd --system --uid 10001 --gid kop --home-dir /var/lib/kafka-oidc-proxy \
      --shell /usr/sbin/nologin kop \
 && mkdir -p /etc/kafka-oidc-proxy /var/lib/kafka-oidc-proxy \
 && chown kop:kop /var/lib/kafka-oidc-proxy
COPY --from=builder /usr/local/bin/kafka-oidc-proxy /usr/local/bin/kafka-oidc-proxy
USER 10001:10001
# The SQLite store (store.data_dir = "/var/lib/kafka-oidc-proxy"), when no PostgreSQL URL is set.
WORKDIR /var/lib/kafka-oidc-proxy
VOLUME /var/lib/kafka-oidc-proxy
EXPOSE 9092 8080 9464
# The management listener's /healthz; KAFKA_OIDC_PROXY_HEALTH_URL points it elsewhere.
ENV KAFKA_OIDC_PROXY_HEALTH_URL=http://127.0.0.1:8080/healthz
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/kafka-oidc-proxy", "probe"]
ENTRYPOINT ["/usr/local/bin/kafka-oidc-proxy"]
CMD ["run", "--config", "/etc/kafka-oidc-proxy/proxy.toml"]
