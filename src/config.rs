//! The configuration file (TOML). `config/proxy.toml` documents every field.
//!
//! Loading is two steps: serde (unknown fields and wrong types are errors with their location),
//! then [`Config::validate`], which reports every remaining problem at once, each naming its
//! field.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod clusters;
mod refs;

pub use clusters::{
    DEFAULT_UPSTREAM, Endpoint, SNI_BROKER_INFIX, Sni, VirtualCluster, check_namespace,
    is_dns_label,
};

pub use crate::field_errors::FieldErrors;
pub use crate::identity::PlainHttp;
use crate::identity::rules::check_url;
pub use crate::secret::Secret;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Kafka cluster behind the proxy: the upstream cluster named `default`.
    pub upstream: Option<Upstream>,
    /// Further upstream clusters, by name (`[upstreams.<name>]`).
    #[serde(default)]
    pub upstreams: BTreeMap<String, Upstream>,
    /// Where clients connect.
    pub listeners: Vec<Listener>,
    /// Virtual clusters: each belongs to one organization, runs on one upstream cluster and
    /// has ports of its own on one of the listeners. Only its organization's tokens
    /// authenticate there.
    #[serde(default)]
    pub clusters: Vec<VirtualCluster>,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// Client authentication: identity providers and session rules.
    #[serde(default)]
    pub identity: IdentityConfig,
    /// ACL bindings and super users, per organization.
    #[serde(default)]
    pub authorization: crate::authz::AuthorizationConfig,
    /// The management API (absent: no API and no store).
    pub management: Option<Management>,
    /// Where the management API keeps what it registers.
    #[serde(default)]
    pub store: StoreConfig,
    /// Prometheus metrics and the data plane's health on a listener of their own (absent:
    /// none; the management API serves `/metrics` too).
    pub metrics: Option<MetricsListener>,
}

/// The metrics listener: `/metrics`, `/healthz` and `/readyz` over plain HTTP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsListener {
    /// Address and port it listens on.
    pub listen: std::net::SocketAddr,
}

/// The management REST API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Management {
    /// Address and port it listens on (plain HTTP; put TLS in front, or keep it on loopback).
    pub listen: std::net::SocketAddr,
    /// API tokens, by their SHA-256.
    #[serde(default)]
    pub tokens: Vec<ApiToken>,
    /// Largest request body, in bytes; larger ones are refused with 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Single sign-on: access tokens of the platform's identity provider, for users in an
    /// admin group.
    pub sso: Option<Sso>,
    /// The web console under `/console/`, with login by single sign-on (needs `sso`).
    pub console: Option<Console>,
}

/// The web console: pages served under `/console/` by the management listener. Users log in
/// with the OpenID Connect authorization-code flow (PKCE) at the provider of
/// `[management.sso]`, whose access tokens and admin groups then decide what they manage, as
/// for the API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Console {
    /// Where users reach the console, e.g. `https://kafka.example.com/console`. The provider
    /// must allow `<url>/callback` as a redirect URI. Cookies are marked `Secure`.
    pub url: String,
    /// The console's client at the provider.
    pub client_id: String,
    /// Its secret (a confidential client); absent: a public client, with PKCE alone.
    pub client_secret: Option<Secret>,
    /// Where users log in; absent: discovered from the issuer.
    pub authorize_endpoint_uri: Option<String>,
    /// Where the console redeems a login's code; absent: discovered from the issuer.
    pub token_endpoint_uri: Option<String>,
    /// Where logging out also ends the session at the provider; absent: discovered, if the
    /// provider has one.
    pub end_session_endpoint_uri: Option<String>,
    /// Scopes asked for besides `openid` (e.g. the one that gives the access token the
    /// `[management.sso]` audience).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How long a console session lasts at most, in seconds; it ends sooner when its access
    /// token can no longer be refreshed.
    #[serde(default = "default_console_session")]
    pub session_secs: u64,
}

fn default_console_session() -> u64 {
    8 * 3600
}

/// Single sign-on for the management API. Tokens of this provider are verified exactly as
/// the data plane verifies clients' tokens (signature by its JWKS, issuer, audience, expiry,
/// scope); the groups claim then decides which organizations the caller manages. Give it an
/// audience of its own, so that a Kafka client's token is not also a management token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sso {
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// Its JWKS URL; absent means OIDC discovery from the issuer.
    pub jwks_endpoint_uri: Option<String>,
    /// A value the token's `aud` must contain.
    pub audience: String,
    /// A scope the token's `scope` must contain (empty: none required).
    #[serde(default)]
    pub scope: String,
    /// The claim holding the user's name, for the audit log.
    #[serde(default = "crate::identity::default_sub_claim")]
    pub sub_claim_name: String,
    /// The claim holding the user's groups.
    #[serde(default = "crate::identity::default_groups_claim")]
    pub groups_claim_name: String,
    /// Tolerance for `exp`, `nbf` and `iat` against the proxy's clock.
    #[serde(default = "crate::identity::default_clock_skew")]
    pub clock_skew_secs: u64,
    /// The groups whose members may use the API, each for one organization or all.
    pub admin_groups: Vec<AdminGroup>,
}

/// A group of the platform's provider and the organization its members manage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminGroup {
    /// The group name, as the groups claim carries it.
    pub group: String,
    /// The one organization its members may manage, or `*` for all.
    pub organization: String,
}

impl Sso {
    /// The provider the data plane's validator checks tokens against.
    pub fn provider_spec(&self) -> crate::identity::ProviderSpec {
        crate::identity::ProviderSpec {
            organization: "management".into(),
            identifier: "sso".into(),
            issuer: self.issuer.clone(),
            jwks_endpoint_uri: self.jwks_endpoint_uri.clone(),
            audience: self.audience.clone(),
            scope: self.scope.clone(),
            token_endpoint_uri: None,
            sub_claim_name: self.sub_claim_name.clone(),
            groups_claim_name: self.groups_claim_name.clone(),
            authorize_endpoint_uri: None,
            refresh_token: false,
            cfk_client_id: None,
            cfk_client_secret: None,
            clock_skew_secs: self.clock_skew_secs,
            jwks_refresh_secs: crate::identity::default_jwks_refresh(),
            jwks_min_refresh_secs: crate::identity::default_jwks_min_refresh(),
        }
    }
}

fn default_max_body() -> usize {
    64 * 1024
}

/// One API token: stored as the SHA-256 (hex) of the token, never the token itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// A name for logs.
    pub name: String,
    /// Lowercase hex SHA-256 of the token (`kafka-oidc-proxy hash-token` prints it).
    pub sha256: String,
    /// The one organization it may manage, or `*` for all (a platform administrator).
    pub organization: String,
}

/// The store of the management API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`; absent: an SQLite file in
    /// `data_dir`.
    pub url: Option<Secret>,
    /// Directory of the default SQLite file.
    pub data_dir: PathBuf,
    /// How often to look for changes made by other proxies sharing the store (on PostgreSQL
    /// they are also notified as they commit; the poll catches what a lost notification
    /// connection missed).
    pub poll_interval_ms: u64,
    /// A file of keys that seal client secrets in the store (AES-256-GCM): one
    /// `<id>:<base64 of 32 bytes>` per line, the first sealing, the others opening what older
    /// keys sealed. The `KAFKA_OIDC_PROXY_STORE_KEYS` environment variable, when set, is used
    /// instead. Without either, client secrets are refused.
    pub secret_keys_file: Option<PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: None,
            data_dir: PathBuf::from("data"),
            poll_interval_ms: 1000,
            secret_keys_file: None,
        }
    }
}

impl StoreConfig {
    /// The keys that seal client secrets: from `KAFKA_OIDC_PROXY_STORE_KEYS` when it is set,
    /// else from `secret_keys_file`; `None` without either. The error names where they came
    /// from.
    pub fn secret_keys(&self) -> Result<Option<crate::store::secrets::SecretKeys>, String> {
        use crate::store::secrets::{KEYS_ENV, SecretKeys};
        if let Ok(text) = std::env::var(KEYS_ENV)
            && !text.trim().is_empty()
        {
            return SecretKeys::parse(&text)
                .map(Some)
                .map_err(|e| format!("{KEYS_ENV}: {e}"));
        }
        let Some(path) = &self.secret_keys_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "store.secret_keys_file: cannot read {}: {e}",
                path.display()
            )
        })?;
        SecretKeys::parse(&text)
            .map(Some)
            .map_err(|e| format!("store.secret_keys_file: {}: {e}", path.display()))
    }

    /// The store's URL.
    pub fn url(&self) -> String {
        match &self.url {
            Some(u) => u.expose().to_owned(),
            None => format!("sqlite://{}/kafka-oidc-proxy.db", self.data_dir.display()),
        }
    }
}

/// Identity providers and the rules for authenticated sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// Allow `http://` provider URLs when the host is a loopback address (local stacks and
    /// tests). Anything else must be https, so that a provider cannot point the proxy at
    /// internal services over plain HTTP.
    pub allow_http_loopback: bool,
    /// Host names, besides loopback ones, whose provider URLs may be plain `http://`: a
    /// provider on the same private network, such as a Compose service (`["keycloak"]`).
    pub allow_http_hosts: Vec<String>,
    /// Upper bound of a session's lifetime, whatever the token's expiry.
    pub max_session_lifetime_secs: u64,
    /// A client that has not authenticated this long after connecting is disconnected.
    pub authentication_timeout_secs: u64,
    /// How long a connection whose authentication failed stays open, muted, after its final
    /// answer (Kafka's `connection.failed.authentication.delay.ms`): the client reads the
    /// answer before the close, and a client retrying bad credentials in a loop is slowed.
    pub failed_authentication_delay_ms: u64,
    /// Providers from this file (the management API adds stored ones).
    pub providers: Vec<crate::identity::ProviderSpec>,
    /// How long the sessions of a provider removed at run time may go on without
    /// re-authenticating (0: they end at once).
    pub removed_provider_grace_secs: u64,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            allow_http_loopback: false,
            allow_http_hosts: Vec::new(),
            removed_provider_grace_secs: 60,
            max_session_lifetime_secs: 3600,
            authentication_timeout_secs: 30,
            failed_authentication_delay_ms: 100,
            providers: Vec::new(),
        }
    }
}

/// The Kafka cluster behind the proxy and how the proxy itself connects to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// `host:port` of one or more brokers, tried in order.
    pub bootstrap_servers: Vec<String>,
    /// Time allowed to open (and authenticate) an upstream connection.
    #[serde(default = "defaults::connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// How often the proxy refreshes the broker list in the background.
    #[serde(default = "defaults::metadata_refresh_secs")]
    pub metadata_refresh_secs: u64,
    /// The client id of the proxy's own requests (metadata refresh, SASL handshake).
    #[serde(default = "defaults::client_id")]
    pub client_id: String,
    /// TLS to the brokers; absent means plaintext.
    pub tls: Option<UpstreamTls>,
    /// SASL as the proxy's own principal; absent means none.
    pub sasl: Option<UpstreamSasl>,
}

/// TLS to the brokers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTls {
    /// PEM file with the CA certificates that sign the brokers' certificates.
    pub ca_file: PathBuf,
    /// PEM client certificate chain, for brokers that require client authentication.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Name checked against the brokers' certificates instead of the host they advertise.
    pub server_name: Option<String>,
}

/// SASL mechanisms the proxy can use towards brokers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    /// RFC 4616, username and password in clear (use with TLS).
    #[serde(rename = "PLAIN")]
    Plain,
    /// RFC 5802/7677 with SHA-256.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// RFC 5802 with SHA-512.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    /// RFC 7628 with an access token the proxy obtains by the client-credentials grant.
    #[serde(rename = "OAUTHBEARER")]
    Oauthbearer,
}

impl SaslMechanism {
    /// The mechanism's name in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::Oauthbearer => "OAUTHBEARER",
        }
    }
}

/// SASL as the proxy's own principal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSasl {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// PLAIN/SCRAM: the proxy's user name on the brokers.
    pub username: Option<String>,
    /// PLAIN/SCRAM: its password; never logged.
    pub password: Option<Secret>,
    /// OAUTHBEARER: the token endpoint of the brokers' identity provider.
    pub token_endpoint_uri: Option<String>,
    /// OAUTHBEARER: the proxy's client id there.
    pub client_id: Option<String>,
    /// OAUTHBEARER: its client secret; never logged.
    pub client_secret: Option<Secret>,
    /// OAUTHBEARER: the scope to request, if the provider needs one.
    pub scope: Option<String>,
}

/// How clients on a listener authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Authentication {
    /// No authentication: every client is anonymous and every request is forwarded.
    /// Insecure; logged as such at startup. Useful as a no-auth baseline.
    None,
    /// SASL/OAUTHBEARER with a JWT from one of the `identity.providers`.
    Oauthbearer,
}

/// One client-facing listener: an address, its authentication and its TLS. With ports, it
/// serves a whole upstream cluster to every organization's tokens (a bootstrap port plus one
/// port per upstream broker); virtual clusters use it with ports of their own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// A name for logs, and for virtual clusters to name it.
    pub name: String,
    /// Local address to bind.
    pub bind_address: IpAddr,
    /// Host name or address clients are told to connect to.
    pub advertised_host: String,
    /// The bootstrap port clients start from (0: any free port, for tests). Absent: the
    /// listener serves only the virtual clusters that name it.
    pub bootstrap_port: Option<u16>,
    /// Broker node N is served on `broker_port_base + N` (0: any free port, for tests).
    /// Required with `bootstrap_port`.
    pub broker_port_base: Option<u16>,
    /// The upstream cluster its own ports serve (default: `default`, the `[upstream]`).
    pub upstream: Option<String>,
    /// Route by server name: every virtual cluster on this listener, and each of its brokers,
    /// is reached on `bootstrap_port` by a name under this domain (TLS SNI), and the listener
    /// serves nothing else.
    pub sni_domain: Option<String>,
    /// Client authentication; required so that running without it is a visible choice.
    pub authentication: Authentication,
    /// TLS for clients; absent means plaintext.
    pub tls: Option<ListenerTls>,
}

/// TLS for clients of a listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// PEM certificate chain presented to clients.
    pub cert_file: PathBuf,
    /// PEM private key of the certificate.
    pub key_file: PathBuf,
}

/// Resource limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Client connections open at once, over all listeners; more are refused.
    pub max_connections: usize,
    /// Connections that have not authenticated yet, over all listeners that authenticate;
    /// more are refused at accept.
    pub max_unauthenticated_connections: usize,
    /// Connections not authenticated yet from one source address; more are refused at
    /// accept, so that one peer's idle sockets cannot hold every slot.
    pub max_unauthenticated_per_address: usize,
    /// Bytes that the frames of all unauthenticated connections may hold together, beyond a
    /// small allowance per frame; a read that would exceed it waits.
    pub max_pre_auth_bytes_total: usize,
    /// The listen backlog of every listener socket (capped by the kernel's somaxconn).
    pub listen_backlog: u32,
    /// Largest frame accepted before a client has authenticated (Kafka's
    /// `sasl.server.max.receive.size`).
    pub max_frame_bytes_pre_auth: usize,
    /// Largest Produce frame accepted afterwards (Kafka's `socket.request.max.bytes`).
    pub max_frame_bytes: usize,
    /// Largest frame of any other API key accepted afterwards (and never more than
    /// `max_frame_bytes`). Only Produce carries data; every other request names resources,
    /// and the proxy decodes it to decide on them.
    pub max_request_bytes: usize,
    /// Most array entries (topics, partitions, groups, ids..., at every depth) one request may
    /// hold; a request with more is refused and its connection closed. Bounds the work and
    /// memory one request can cost whatever its size.
    pub max_request_entries: usize,
    /// Requests of one connection awaiting their response; reading pauses at the limit.
    pub max_in_flight_per_connection: usize,
    /// A connection with no request for this long and nothing in flight is closed.
    pub idle_timeout_secs: u64,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    pub shutdown_grace_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_unauthenticated_connections: 1_000,
            max_unauthenticated_per_address: 256,
            max_pre_auth_bytes_total: 64 * 1024 * 1024,
            listen_backlog: 1024,
            max_frame_bytes_pre_auth: 512 * 1024,
            max_frame_bytes: 100 * 1024 * 1024,
            max_request_bytes: 8 * 1024 * 1024,
            max_request_entries: 100_000,
            max_in_flight_per_connection: 256,
            idle_timeout_secs: 600,
            shutdown_grace_secs: 30,
        }
    }
}

mod defaults {
    pub(super) fn connect_timeout_ms() -> u64 {
        10_000
    }
    pub(super) fn metadata_refresh_secs() -> u64 {
        30
    }
    pub(super) fn client_id() -> String {
        "kafka-oidc-proxy".into()
    }
}

impl Upstream {
    /// Time allowed to open an upstream connection.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

impl Config {
    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, FieldErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            FieldErrors(vec![(
                path.display().to_string(),
                format!("cannot read: {e}"),
            )])
        })?;
        Self::parse(&text)
    }

    /// Parses and validates configuration text.
    /// Secret fields may name an environment variable or a file instead (see `refs`).
    pub fn parse(text: &str) -> Result<Self, FieldErrors> {
        let syntax = |e: toml::de::Error| {
            FieldErrors(vec![("config".into(), e.to_string().trim_end().to_owned())])
        };
        let mut table: toml::Table = toml::from_str(text).map_err(syntax)?;
        let mut errors = FieldErrors::default();
        let config: Config = if refs::resolve(&mut table, &mut errors) {
            if !errors.0.is_empty() {
                return Err(errors);
            }
            table.try_into().map_err(syntax)?
        } else {
            // Parsed from the text, so that errors point at its lines.
            toml::from_str(text).map_err(syntax)?
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks everything serde cannot, reporting all problems at once.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        self.validate_upstreams(&mut errors);
        if self.listeners.is_empty() {
            errors.push("listeners", "at least one listener is required");
        }
        for (i, l) in self.listeners.iter().enumerate() {
            l.validate(&format!("listeners[{i}]"), &mut errors);
            for (j, other) in self.listeners.iter().enumerate().skip(i + 1) {
                if l.name == other.name {
                    errors.push(
                        format!("listeners[{j}].name"),
                        format!("duplicate listener name {:?}", l.name),
                    );
                }
            }
        }
        self.validate_clusters(&mut errors);
        self.limits.validate(&mut errors);
        self.identity.validate(&mut errors);
        for (at, upstream) in self.upstream_fields() {
            let token_url = upstream
                .sasl
                .as_ref()
                .and_then(|s| s.token_endpoint_uri.as_ref());
            if let Some(Err(e)) = token_url.map(|u| check_url(u, &self.identity.plain_http())) {
                errors.push(format!("{at}.sasl.token_endpoint_uri"), e);
            }
        }
        let needs_providers = self
            .listeners
            .iter()
            .any(|l| l.authentication == Authentication::Oauthbearer);
        // With the management API, organizations register their providers there.
        if needs_providers && self.identity.providers.is_empty() && self.management.is_none() {
            errors.push(
                "identity.providers",
                "a listener uses oauthbearer but no identity provider is configured (and no \
                 [management] API registers any)",
            );
        }
        let organizations = self
            .identity
            .providers
            .iter()
            .map(|p| p.organization.as_str())
            .collect();
        for (field, message) in self.authorization.problems(&organizations) {
            errors.push(field, message);
        }
        if let Some(m) = &self.management {
            m.validate(&self.identity.plain_http(), &mut errors);
        }
        if self.store.poll_interval_ms == 0 {
            errors.push("store.poll_interval_ms", "must be greater than 0");
        }
        if self.store.secret_keys_file.is_some()
            && let Err(e) = self.store.secret_keys()
        {
            let (field, message) = e.split_once(": ").unwrap_or(("store.secret_keys_file", &e));
            errors.push(field, message);
        }
        if errors.0.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn check_file(field: &str, path: &Path, errors: &mut FieldErrors) {
    if !path.is_file() {
        errors.push(field, format!("file {} does not exist", path.display()));
    }
}

/// Whether `s` is `host:port` with a non-empty host and a valid non-zero port.
pub fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0),
        None => false,
    }
}

impl Upstream {
    fn validate(&self, at: &str, errors: &mut FieldErrors) {
        if self.bootstrap_servers.is_empty() {
            errors.push(
                format!("{at}.bootstrap_servers"),
                "at least one broker address is required",
            );
        }
        for (i, s) in self.bootstrap_servers.iter().enumerate() {
            if !is_host_port(s) {
                errors.push(
                    format!("{at}.bootstrap_servers[{i}]"),
                    format!("{s:?} is not host:port"),
                );
            }
        }
        if self.connect_timeout_ms == 0 {
            errors.push(format!("{at}.connect_timeout_ms"), "must be greater than 0");
        }
        if self.metadata_refresh_secs == 0 {
            errors.push(
                format!("{at}.metadata_refresh_secs"),
                "must be greater than 0",
            );
        }
        if let Some(tls) = &self.tls {
            check_file(&format!("{at}.tls.ca_file"), &tls.ca_file, errors);
            match (&tls.cert_file, &tls.key_file) {
                (Some(c), Some(k)) => {
                    check_file(&format!("{at}.tls.cert_file"), c, errors);
                    check_file(&format!("{at}.tls.key_file"), k, errors);
                }
                (Some(_), None) => errors.push(
                    format!("{at}.tls.key_file"),
                    "required when cert_file is set",
                ),
                (None, Some(_)) => errors.push(
                    format!("{at}.tls.cert_file"),
                    "required when key_file is set",
                ),
                (None, None) => {}
            }
        }
        if let Some(sasl) = &self.sasl {
            let oauth = sasl.mechanism == SaslMechanism::Oauthbearer;
            let present = |field: &'static str, value: bool| {
                let expected =
                    matches!(field, "token_endpoint_uri" | "client_id" | "client_secret") == oauth;
                (field, value, expected)
            };
            let fields = [
                present(
                    "username",
                    sasl.username.as_ref().is_some_and(|u| !u.is_empty()),
                ),
                present(
                    "password",
                    sasl.password
                        .as_ref()
                        .is_some_and(|p| !p.expose().is_empty()),
                ),
                present("token_endpoint_uri", sasl.token_endpoint_uri.is_some()),
                present(
                    "client_id",
                    sasl.client_id.as_ref().is_some_and(|c| !c.is_empty()),
                ),
                present(
                    "client_secret",
                    sasl.client_secret
                        .as_ref()
                        .is_some_and(|c| !c.expose().is_empty()),
                ),
            ];
            for (field, is_set, expected) in fields {
                if expected && !is_set {
                    errors.push(
                        format!("{at}.sasl.{field}"),
                        format!("required with mechanism {}", sasl.mechanism.name()),
                    );
                } else if !expected && is_set {
                    errors.push(
                        format!("{at}.sasl.{field}"),
                        format!("not used with mechanism {}", sasl.mechanism.name()),
                    );
                }
            }
            if sasl.scope.is_some() && !oauth {
                errors.push(
                    format!("{at}.sasl.scope"),
                    format!("not used with mechanism {}", sasl.mechanism.name()),
                );
            }
        }
    }
}

impl Listener {
    fn validate(&self, at: &str, errors: &mut FieldErrors) {
        if self.name.is_empty() {
            errors.push(format!("{at}.name"), "must not be empty");
        }
        if self.advertised_host.is_empty() || self.advertised_host.contains([':', ' ', '/']) {
            errors.push(
                format!("{at}.advertised_host"),
                format!(
                    "{:?} is not a host name or IPv4 address",
                    self.advertised_host
                ),
            );
        }
        // A listener routing by server name has its own rules (`config::clusters`).
        match (self.bootstrap_port, self.broker_port_base) {
            _ if self.sni_domain.is_some() => {}
            (Some(_), None) => errors.push(
                format!("{at}.broker_port_base"),
                "required with bootstrap_port",
            ),
            (None, Some(_)) => errors.push(
                format!("{at}.bootstrap_port"),
                "required with broker_port_base",
            ),
            (None, None) if self.upstream.is_some() => errors.push(
                format!("{at}.upstream"),
                "not used without bootstrap_port (a virtual cluster names its own upstream)",
            ),
            _ => {}
        }
        if let Some(tls) = &self.tls {
            check_file(&format!("{at}.tls.cert_file"), &tls.cert_file, errors);
            check_file(&format!("{at}.tls.key_file"), &tls.key_file, errors);
        }
    }
}

impl IdentityConfig {
    /// The plain-http allowance of provider URLs.
    pub fn plain_http(&self) -> PlainHttp {
        PlainHttp {
            loopback: self.allow_http_loopback,
            hosts: self.allow_http_hosts.clone(),
        }
    }
}

impl IdentityConfig {
    fn validate(&self, errors: &mut FieldErrors) {
        if self.max_session_lifetime_secs == 0 {
            errors.push(
                "identity.max_session_lifetime_secs",
                "must be greater than 0",
            );
        }
        if self.authentication_timeout_secs == 0 {
            errors.push(
                "identity.authentication_timeout_secs",
                "must be greater than 0",
            );
        }
        if self.failed_authentication_delay_ms
            >= self.authentication_timeout_secs.saturating_mul(1000)
        {
            errors.push(
                "identity.failed_authentication_delay_ms",
                "must be less than identity.authentication_timeout_secs",
            );
        }
        for (i, p) in self.providers.iter().enumerate() {
            let at = format!("identity.providers[{i}]");
            errors.nest(&at, p.problems(&self.plain_http()));
            for (j, other) in self.providers.iter().enumerate().take(i) {
                if other.organization == p.organization && other.identifier == p.identifier {
                    errors.push(
                        format!("{at}.identifier"),
                        format!(
                            "duplicate of identity.providers[{j}] in organization {:?}",
                            p.organization
                        ),
                    );
                }
                if other.organization == p.organization
                    && other.issuer == p.issuer
                    && other.audience == p.audience
                {
                    errors.push(
                        format!("{at}.issuer"),
                        format!(
                            "identity.providers[{j}] of the same organization has the same issuer and audience"
                        ),
                    );
                }
            }
        }
    }
}

impl Management {
    fn validate(&self, plain_http: &PlainHttp, errors: &mut FieldErrors) {
        for (i, t) in self.tokens.iter().enumerate() {
            let at = format!("management.tokens[{i}]");
            let hex = t.sha256.len() == 64
                && t.sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !hex {
                errors.push(
                    format!("{at}.sha256"),
                    "must be 64 lowercase hex digits (the SHA-256 of the token)",
                );
            }
            if t.organization.trim().is_empty() {
                errors.push(
                    format!("{at}.organization"),
                    "must name an organization, or be \"*\" for all",
                );
            }
            if self.tokens[..i].iter().any(|o| o.sha256 == t.sha256) {
                errors.push(format!("{at}.sha256"), "the same token is listed twice");
            }
        }
        if self.max_body_bytes == 0 {
            errors.push("management.max_body_bytes", "must be greater than 0");
        }
        if let Some(console) = &self.console {
            if self.sso.is_none() {
                errors.push(
                    "management.console",
                    "needs [management.sso]: the console logs users in at its provider",
                );
            }
            let urls = [
                ("url", Some(&console.url)),
                (
                    "authorize_endpoint_uri",
                    console.authorize_endpoint_uri.as_ref(),
                ),
                ("token_endpoint_uri", console.token_endpoint_uri.as_ref()),
                (
                    "end_session_endpoint_uri",
                    console.end_session_endpoint_uri.as_ref(),
                ),
            ];
            for (field, url) in urls {
                if let Some(Err(e)) = url.map(|u| crate::identity::check_url(u, plain_http)) {
                    errors.push(format!("management.console.{field}"), e);
                }
            }
            if console.client_id.trim().is_empty() {
                errors.push("management.console.client_id", "must not be empty");
            }
            if console.session_secs == 0 {
                errors.push("management.console.session_secs", "must be greater than 0");
            }
        }
        if let Some(sso) = &self.sso {
            errors.nest("management.sso", sso.provider_spec().problems(plain_http));
            if sso.admin_groups.is_empty() {
                errors.push(
                    "management.sso.admin_groups",
                    "must name at least one group (single sign-on grants nothing without one)",
                );
            }
            for (i, g) in sso.admin_groups.iter().enumerate() {
                let at = format!("management.sso.admin_groups[{i}]");
                if g.group.trim().is_empty() {
                    errors.push(format!("{at}.group"), "must not be empty");
                }
                if g.organization.trim().is_empty() {
                    errors.push(
                        format!("{at}.organization"),
                        "must name an organization, or be \"*\" for all",
                    );
                }
            }
        }
    }
}

impl Limits {
    fn validate(&self, errors: &mut FieldErrors) {
        let positive = [
            ("limits.max_connections", self.max_connections as u64),
            (
                "limits.max_unauthenticated_connections",
                self.max_unauthenticated_connections as u64,
            ),
            (
                "limits.max_unauthenticated_per_address",
                self.max_unauthenticated_per_address as u64,
            ),
            (
                "limits.max_pre_auth_bytes_total",
                self.max_pre_auth_bytes_total as u64,
            ),
            ("limits.listen_backlog", u64::from(self.listen_backlog)),
            (
                "limits.max_frame_bytes_pre_auth",
                self.max_frame_bytes_pre_auth as u64,
            ),
            ("limits.max_frame_bytes", self.max_frame_bytes as u64),
            ("limits.max_request_bytes", self.max_request_bytes as u64),
            (
                "limits.max_request_entries",
                self.max_request_entries as u64,
            ),
            (
                "limits.max_in_flight_per_connection",
                self.max_in_flight_per_connection as u64,
            ),
            ("limits.idle_timeout_secs", self.idle_timeout_secs),
        ];
        for (field, value) in positive {
            if value == 0 {
                errors.push(field, "must be greater than 0");
            }
        }
        if self.max_frame_bytes > i32::MAX as usize {
            errors.push(
                "limits.max_frame_bytes",
                format!("must be at most {}", i32::MAX),
            );
        }
        if self.max_frame_bytes_pre_auth > self.max_pre_auth_bytes_total {
            errors.push(
                "limits.max_frame_bytes_pre_auth",
                "must not exceed limits.max_pre_auth_bytes_total (such a frame could never be read)",
            );
        }
        if self.max_frame_bytes_pre_auth > self.max_frame_bytes {
            errors.push(
                "limits.max_frame_bytes_pre_auth",
                "must not exceed limits.max_frame_bytes",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [upstream]
        bootstrap_servers = ["127.0.0.1:9092"]
        [[listeners]]
        name = "plain"
        bind_address = "127.0.0.1"
        advertised_host = "localhost"
        bootstrap_port = 19000
        broker_port_base = 19100
        authentication = "none"
    "#;

    #[test]
    fn minimal_config_parses_with_defaults() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.limits.max_frame_bytes_pre_auth, 512 * 1024);
        assert_eq!(c.listeners[0].authentication, Authentication::None);
    }

    #[test]
    fn shipped_default_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/proxy.toml");
        Config::load(&path).unwrap();
    }

    #[test]
    fn unknown_field_is_named() {
        let err =
            Config::parse(&MINIMAL.replace("[upstream]", "[upstream]\nbootstrap = 1")).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `bootstrap`"),
            "{err}"
        );
    }

    #[test]
    fn authentication_must_be_explicit() {
        let err = Config::parse(&MINIMAL.replace("authentication = \"none\"", "")).unwrap_err();
        assert!(
            err.to_string().contains("missing field `authentication`"),
            "{err}"
        );
    }

    #[test]
    fn every_error_is_reported_with_its_field() {
        let text = MINIMAL
            .replace("[\"127.0.0.1:9092\"]", "[\"nope\", \"h:0\"]")
            .replace("bootstrap_port = 19000", "bootstrap_port = 19101")
            .replace("advertised_host = \"localhost\"", "advertised_host = \"\"")
            + "[limits]\nmax_in_flight_per_connection = 0\n[upstream.tls]\nca_file = \"/nonexistent.pem\"\n";
        let err = Config::parse(&text).unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "upstream.bootstrap_servers[0]",
                "upstream.bootstrap_servers[1]",
                "upstream.tls.ca_file",
                "listeners[0].advertised_host",
                "listeners[0].bootstrap_port",
                "limits.max_in_flight_per_connection",
            ],
            "{err}"
        );
    }

    #[test]
    fn the_failed_authentication_delay_stays_below_the_authentication_timeout() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(
            c.identity.failed_authentication_delay_ms, 100,
            "Kafka's default"
        );
        let text = format!(
            "{MINIMAL}[identity]\nauthentication_timeout_secs = 2\nfailed_authentication_delay_ms = 2000\n"
        );
        let err = Config::parse(&text).unwrap_err();
        assert_eq!(
            err.0,
            [(
                "identity.failed_authentication_delay_ms".to_string(),
                "must be less than identity.authentication_timeout_secs".to_string()
            )],
            "{err}"
        );
    }

    #[test]
    fn provider_urls_and_duplicates() {
        let provider = |issuer: &str, id: &str| {
            format!(
                "[[identity.providers]]\norganization = \"acme\"\nidentifier = \"{id}\"\nissuer = \"{issuer}\"\naudience = \"kafka\"\n"
            )
        };
        let listener_auth = MINIMAL.replace(
            "authentication = \"none\"",
            "authentication = \"oauthbearer\"",
        );
        let err = Config::parse(&listener_auth).unwrap_err();
        assert_eq!(err.0[0].0, "identity.providers", "{err}");
        let text = format!(
            "{listener_auth}\n{}{}{}",
            provider("http://127.0.0.1:8080", "local"),
            provider("http://idp.internal", "internal"),
            provider("http://127.0.0.1:8080", "local"),
        );
        let err = Config::parse(&text).unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "identity.providers[0].issuer",
                "identity.providers[1].issuer",
                "identity.providers[2].issuer",
                "identity.providers[2].identifier",
                "identity.providers[2].issuer",
            ],
            "{err}"
        );
        let allowed = format!(
            "{listener_auth}\n[identity]\nallow_http_loopback = true\n{}",
            provider("http://localhost:8080/realms/a", "local")
        );
        Config::parse(&allowed).unwrap();
        let none = PlainHttp::default();
        assert!(check_url("https://dev-47119201.okta.com/oauth2/default", &none).is_ok());
        let loopback = PlainHttp {
            loopback: true,
            hosts: Vec::new(),
        };
        assert!(check_url("not a url", &loopback).is_err());
        // A named host of a private network (a Compose service) may be plain http; nothing else.
        let keycloak = PlainHttp {
            loopback: false,
            hosts: vec!["keycloak".into()],
        };
        let certs = "http://keycloak:8080/realms/kop/protocol/openid-connect/certs";
        assert!(check_url(certs, &keycloak).is_ok());
        assert!(check_url("http://KeyCloak/x", &keycloak).is_ok());
        assert!(check_url(certs, &loopback).is_err());
        assert!(check_url("http://keycloak.evil.example/x", &keycloak).is_err());
        assert!(check_url("http://127.0.0.1/x", &keycloak).is_err());
        let hosts = format!(
            "{listener_auth}\n[identity]\nallow_http_hosts = [\"keycloak\"]\n{}",
            provider("http://keycloak:8080/realms/kop", "local")
        );
        Config::parse(&hosts).unwrap();
    }

    #[test]
    fn secrets_may_come_from_the_environment_or_files() {
        let dir = std::env::temp_dir().join(format!("kop-config-refs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hash = "bc32a9a66697ce5242e5517f4a801fa2a3dccf9960459f666fec8a166289401e";
        let hash_file = dir.join("token-sha256");
        std::fs::write(&hash_file, format!("{hash}\n")).unwrap();
        // Any variable every process has will do for the environment.
        let path = std::env::var("PATH").unwrap();
        let management = format!(
            "[management]\nlisten = \"127.0.0.1:0\"\n\
             [[management.tokens]]\nname = \"ops\"\norganization = \"*\"\nsha256 = {{ file = {:?} }}\n\
             [store]\nurl = {{ env = \"PATH\" }}\n",
            hash_file.display().to_string()
        );
        let config = Config::parse(&format!("{MINIMAL}\n{management}")).unwrap();
        let m = config.management.as_ref().unwrap();
        assert_eq!(
            m.tokens[0].sha256, hash,
            "read from the file, its line break removed"
        );
        assert_eq!(
            config.store.url.as_ref().map(Secret::expose),
            Some(path.as_str())
        );

        // Each missing source is named with its field.
        let broken = format!(
            "{MINIMAL}\n[management]\nlisten = \"127.0.0.1:0\"\n\
             [[management.tokens]]\nname = \"ops\"\norganization = \"*\"\nsha256 = {{ env = \"KOP_TEST_UNSET_VARIABLE\" }}\n\
             [store]\nurl = {{ file = \"/nonexistent/kop-store-url\" }}\n\
             [upstream.sasl]\nmechanism = \"PLAIN\"\nusername = \"u\"\npassword = {{ vault = \"x\" }}\n"
        );
        let err = Config::parse(&broken).unwrap_err().to_string();
        assert!(
            err.contains("store.url: cannot read /nonexistent/kop-store-url"),
            "{err}"
        );
        assert!(
            err.contains(
                "management.tokens[0].sha256: environment variable KOP_TEST_UNSET_VARIABLE is not set"
            ),
            "{err}"
        );
        assert!(
            err.contains("upstream.sasl.password: must be a string, { env"),
            "{err}"
        );
        // Other fields take no reference.
        let elsewhere = format!("{MINIMAL}\n[management]\nlisten = {{ env = \"PATH\" }}\n");
        assert!(Config::parse(&elsewhere).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_console_needs_single_sign_on_and_names_each_faulty_field() {
        let console = "[management]\nlisten = \"127.0.0.1:0\"\n[management.console]\n\
                       url = \"http://console.example.com/console\"\nclient_id = \" \"\n\
                       token_endpoint_uri = \"not a url\"\nsession_secs = 0\n";
        let err = Config::parse(&format!("{MINIMAL}\n{console}")).unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "management.console",
                "management.console.url",
                "management.console.token_endpoint_uri",
                "management.console.client_id",
                "management.console.session_secs",
            ],
            "{err}"
        );
        let good = "[management]\nlisten = \"127.0.0.1:0\"\n\
                    [management.sso]\nissuer = \"https://login.example.com\"\naudience = \"admin\"\n\
                    admin_groups = [{ group = \"ops\", organization = \"*\" }]\n\
                    [management.console]\nurl = \"https://kafka.example.com/console\"\n\
                    client_id = \"kop\"\n";
        let config = Config::parse(&format!("{MINIMAL}\n{good}")).expect("valid");
        let console = config.management.and_then(|m| m.console).expect("console");
        assert_eq!(console.session_secs, 8 * 3600);
        assert!(console.client_secret.is_none());
    }

    #[test]
    fn single_sign_on_is_checked_like_a_provider() {
        let management = "[management]\nlisten = \"127.0.0.1:0\"\n[management.sso]\n";
        let text = format!(
            "{MINIMAL}\n{management}issuer = \"http://idp.internal\"\naudience = \" \"\n\
             groups_claim_name = \"\"\nadmin_groups = []\n"
        );
        let err = Config::parse(&text).unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "management.sso.audience",
                "management.sso.issuer",
                "management.sso.groups_claim_name",
                "management.sso.admin_groups",
            ],
            "{err}"
        );
        let text = format!(
            "{MINIMAL}\n{management}issuer = \"https://login.example.com\"\naudience = \"admin\"\n\
             admin_groups = [{{ group = \"\", organization = \"\" }}]\n"
        );
        let err = Config::parse(&text).unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "management.sso.admin_groups[0].group",
                "management.sso.admin_groups[0].organization",
            ],
            "{err}"
        );
        let text = text.replace(
            "group = \"\", organization = \"\"",
            "group = \"kafka-admins\", organization = \"*\"",
        );
        let config = Config::parse(&text).unwrap();
        let sso = config.management.unwrap().sso.unwrap();
        assert_eq!(sso.provider_spec().sub_claim_name, "sub");
        assert_eq!(sso.provider_spec().groups_claim_name, "groups");
    }

    #[test]
    fn acl_bindings_are_checked_field_by_field() {
        let base = format!(
            "{MINIMAL}
[identity]
allow_http_loopback = true
[[identity.providers]]
             organization = \"acme\"\nidentifier = \"local\"\nissuer = \"http://127.0.0.1:8080\"\n             audience = \"kafka\"\n"
        );
        let good = format!(
            "{base}[authorization.super_users]\nacme = [\"Group:platform-admins\"]\n             [[authorization.acls]]\norganization = \"acme\"\nprincipal = \"Group:producers\"\n             resource_type = \"TOPIC\"\nresource_name = \"orders.\"\npattern_type = \"PREFIXED\"\n             operation = \"WRITE\"\npermission = \"ALLOW\"\n"
        );
        let config = Config::parse(&good).unwrap();
        assert_eq!(config.authorization.acls[0].host, crate::authz::Host::Any);
        assert_eq!(config.authorization.index().len(), 1);
        // Unknown names are serde errors that say what would have been accepted.
        let err = Config::parse(&good.replace("\"WRITE\"", "\"PRODUCE\"")).unwrap_err();
        assert!(
            err.to_string().contains("unknown operation \"PRODUCE\""),
            "{err}"
        );
        assert!(err.to_string().contains("IDEMPOTENT_WRITE"), "{err}");
        let err = Config::parse(&good.replace("Group:producers", "producers")).unwrap_err();
        assert!(
            err.to_string()
                .contains("User:<name>, User:* or Group:<name>"),
            "{err}"
        );
        // Everything else is reported at once, by field.
        let bad = good
            .replace(
                "organization = \"acme\"\nprincipal",
                "organization = \"acne\"\nprincipal",
            )
            .replace("acme = [", "umbrella = [")
            .replace("resource_type = \"TOPIC\"", "resource_type = \"CLUSTER\"");
        let err = Config::parse(&bad).unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "authorization.super_users.umbrella",
                "authorization.acls[0].resource_name",
                "authorization.acls[0].organization",
            ],
            "{err}"
        );
    }

    #[test]
    fn upstream_sasl_fields_follow_the_mechanism() {
        let with = |sasl: &str| Config::parse(&format!("{MINIMAL}\n[upstream.sasl]\n{sasl}"));
        with("mechanism = \"PLAIN\"\nusername = \"p\"\npassword = \"s\"").unwrap();
        let err =
            with("mechanism = \"SCRAM-SHA-256\"\nusername = \"p\"\nclient_id = \"c\"").unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["upstream.sasl.password", "upstream.sasl.client_id"],
            "{err}"
        );
        let oauth = "mechanism = \"OAUTHBEARER\"\ntoken_endpoint_uri = \"https://idp.example.com/token\"\n\
                     client_id = \"kafka-proxy\"\nclient_secret = \"s\"\nscope = \"kafka\"";
        with(oauth).unwrap();
        let err =
            with(&oauth.replace("https://idp.example.com", "http://idp.example.com")).unwrap_err();
        assert_eq!(err.0[0].0, "upstream.sasl.token_endpoint_uri", "{err}");
        let err = with("mechanism = \"OAUTHBEARER\"\nusername = \"u\"").unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "upstream.sasl.username",
                "upstream.sasl.token_endpoint_uri",
                "upstream.sasl.client_id",
                "upstream.sasl.client_secret"
            ],
            "{err}"
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let text = format!(
            "{MINIMAL}\n[upstream.sasl]\nmechanism = \"SCRAM-SHA-512\"\nusername = \"proxy\"\npassword = \"hunter2\"\n"
        );
        let c = Config::parse(&text).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
