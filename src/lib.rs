//! kafka-oidc-proxy: a Kafka protocol proxy that authenticates clients with their identity
//! provider's tokens, authorizes every request and forwards it to the real brokers.

pub mod authz;
pub mod cli;
pub mod clip;
pub mod config;
pub mod field_errors;
pub mod identity;
pub mod kafka;
pub mod log_format;
pub mod management;
pub mod metrics;
pub mod proxy;
pub mod sasl;
pub mod secret;
pub mod snapshot;
pub mod store;
pub mod tls;
