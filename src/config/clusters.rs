//! Upstream clusters, virtual clusters and the endpoints clients connect to.
//!
//! A configuration names one or more upstream clusters: `[upstream]` is the one named
//! `default`, `[upstreams.<name>]` are the others. A listener with ports serves one upstream
//! cluster as it is, to every organization's tokens. A virtual cluster belongs to one
//! organization and serves one upstream cluster on ports of its own, on a listener whose
//! address, authentication and TLS it uses: there, only that organization's tokens
//! authenticate.

use std::net::IpAddr;

use serde::Deserialize;

use super::{Config, FieldErrors, Listener, Upstream};

/// The name of the upstream cluster of `[upstream]`.
pub const DEFAULT_UPSTREAM: &str = "default";

/// A virtual cluster from the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualCluster {
    /// The organization it belongs to: only tokens of that organization's identity providers
    /// authenticate on it.
    pub organization: String,
    /// Its name within the organization: a DNS label (lowercase letters, digits and `-`).
    pub name: String,
    /// The upstream cluster it runs on (default: `default`, the `[upstream]`).
    #[serde(default = "default_upstream")]
    pub upstream: String,
    /// The listener whose address, advertised host, authentication and TLS it uses.
    pub listener: String,
    /// Its bootstrap port on that listener's address (0: any free port, for tests). Not
    /// used on a listener that routes by server name (`sni_domain`).
    pub bootstrap_port: Option<u16>,
    /// Broker node N of its upstream is served on `broker_port_base + N` (0: any free port,
    /// for tests). Not used on a listener that routes by server name.
    pub broker_port_base: Option<u16>,
    /// A namespace on a shared upstream cluster, e.g. `acme.`: every topic, group and
    /// transactional id its clients name gains this prefix at the broker, and they see only
    /// names with it. Absent: the cluster owns its whole upstream cluster.
    pub namespace: Option<String>,
}

impl VirtualCluster {
    /// The first label of its names on a listener that routes by server name:
    /// `<organization>-<name>` (`<label>.<domain>` to bootstrap, `<label>-broker-<N>.<domain>`
    /// for broker node N).
    pub fn sni_label(&self) -> String {
        format!("{}-{}", self.organization, self.name)
    }
}

/// What comes between a cluster's server name and a broker's node id; no cluster's server
/// name may hold it, so that no cluster poses as another's broker.
pub const SNI_BROKER_INFIX: &str = "-broker-";

/// How clients reach a virtual cluster on a listener that routes by server name (TLS SNI):
/// every cluster and broker on the listener's one port, told apart by the name the client
/// asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sni {
    /// The listener's `sni_domain`.
    pub domain: String,
    /// The cluster's [`VirtualCluster::sni_label`].
    pub label: String,
}

impl Sni {
    /// The name clients bootstrap from.
    pub fn bootstrap(&self) -> String {
        format!("{}.{}", self.label, self.domain)
    }

    /// The name of broker node `node`.
    pub fn broker(&self, node: i32) -> String {
        format!("{}{SNI_BROKER_INFIX}{node}.{}", self.label, self.domain)
    }
}

fn default_upstream() -> String {
    DEFAULT_UPSTREAM.to_owned()
}

/// One place clients connect to: a bootstrap port and a port per broker of one upstream
/// cluster, with a listener's address, authentication and TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The listener's name, or `<organization>/<cluster>` for a virtual cluster: in logs and
    /// metrics.
    pub name: String,
    /// The listener it uses.
    pub listener: Listener,
    /// Its bootstrap port (on a listener that routes by server name, the listener's port).
    pub bootstrap_port: u16,
    /// Its broker port base (unused where it routes by server name).
    pub broker_port_base: u16,
    /// Set when clients reach it by server name on its listener's one port.
    pub sni: Option<Sni>,
    /// The upstream cluster it serves.
    pub upstream: String,
    /// A virtual cluster's organization: only its tokens authenticate here. `None`: a
    /// listener's own ports, open to every organization.
    pub organization: Option<String>,
    /// A virtual cluster's namespace on its upstream cluster.
    pub namespace: Option<String>,
    /// Where it is configured, for errors.
    field: String,
}

impl Endpoint {
    /// The address its bootstrap port binds.
    pub fn bind_address(&self) -> IpAddr {
        self.listener.bind_address
    }
}

impl Config {
    /// The upstream clusters, by name: `default` (the `[upstream]`) first.
    pub fn upstream_clusters(&self) -> Vec<(&str, &Upstream)> {
        let default = self.upstream.iter().map(|u| (DEFAULT_UPSTREAM, u));
        let named = self.upstreams.iter().map(|(n, u)| (n.as_str(), u));
        default.chain(named).collect()
    }

    /// The upstream clusters with the field each is configured at.
    pub(super) fn upstream_fields(&self) -> Vec<(String, &Upstream)> {
        let default = self.upstream.iter().map(|u| ("upstream".to_owned(), u));
        let named = self
            .upstreams
            .iter()
            .map(|(n, u)| (format!("upstreams.{n}"), u));
        default.chain(named).collect()
    }

    /// Every endpoint: each listener's own ports, then each virtual cluster's. Entries that
    /// name no known listener are left out (validation reports them).
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.endpoints_with(&self.clusters)
    }

    /// As [`Config::endpoints`], with `clusters` for the file's virtual clusters.
    pub fn endpoints_with(&self, clusters: &[VirtualCluster]) -> Vec<Endpoint> {
        let own = self.listeners.iter().enumerate().filter_map(|(i, l)| {
            if l.sni_domain.is_some() {
                return None;
            }
            Some(Endpoint {
                name: l.name.clone(),
                listener: l.clone(),
                bootstrap_port: l.bootstrap_port?,
                broker_port_base: l.broker_port_base?,
                upstream: l.upstream.clone().unwrap_or_else(default_upstream),
                organization: None,
                namespace: None,
                sni: None,
                field: format!("listeners[{i}]"),
            })
        });
        let clusters = clusters.iter().enumerate().filter_map(|(i, c)| {
            let listener = self.listeners.iter().find(|l| l.name == c.listener)?;
            let (bootstrap_port, broker_port_base, sni) = match &listener.sni_domain {
                Some(domain) => {
                    let sni = Sni {
                        domain: domain.clone(),
                        label: c.sni_label(),
                    };
                    (listener.bootstrap_port?, 0, Some(sni))
                }
                None => (c.bootstrap_port?, c.broker_port_base?, None),
            };
            Some(Endpoint {
                name: format!("{}/{}", c.organization, c.name),
                listener: listener.clone(),
                bootstrap_port,
                broker_port_base,
                upstream: c.upstream.clone(),
                organization: Some(c.organization.clone()),
                namespace: c.namespace.clone(),
                sni,
                field: format!("clusters[{i}]"),
            })
        });
        own.chain(clusters).collect()
    }

    pub(super) fn validate_upstreams(&self, errors: &mut FieldErrors) {
        if self.upstream.is_none() && self.upstreams.is_empty() {
            errors.push(
                "upstream",
                "an upstream cluster is required: [upstream], or [upstreams.<name>]",
            );
        }
        if self.upstream.is_some() && self.upstreams.contains_key(DEFAULT_UPSTREAM) {
            errors.push(
                "upstreams.default",
                "`default` is the name of [upstream]: give this one another name",
            );
        }
        for name in self.upstreams.keys() {
            if !is_name(name) {
                errors.push(
                    format!("upstreams.{name}"),
                    "the name may hold only letters, digits, '-' and '_'",
                );
            }
        }
        for (at, upstream) in self.upstream_fields() {
            upstream.validate(&at, errors);
        }
    }

    pub(super) fn validate_clusters(&self, errors: &mut FieldErrors) {
        for (i, l) in self.listeners.iter().enumerate() {
            let at = format!("listeners[{i}]");
            if let Some(domain) = &l.sni_domain {
                sni_listener(&at, l, domain, errors);
                continue;
            }
            if l.bootstrap_port.is_some() {
                let name = l.upstream.as_deref().unwrap_or(DEFAULT_UPSTREAM);
                self.check_upstream(&format!("{at}.upstream"), name, errors);
            }
            if l.bootstrap_port.is_none()
                && l.broker_port_base.is_none()
                && !self.clusters.iter().any(|c| c.listener == l.name)
            {
                errors.push(
                    format!("{at}.bootstrap_port"),
                    "required, unless a virtual cluster uses this listener",
                );
            }
        }
        for (i, c) in self.clusters.iter().enumerate() {
            let at = format!("clusters[{i}]");
            if c.organization.trim().is_empty() {
                errors.push(format!("{at}.organization"), "must not be empty");
            }
            if !is_dns_label(&c.name) {
                errors.push(
                    format!("{at}.name"),
                    format!(
                        "{:?} is not a DNS label: 1-63 lowercase letters, digits and '-', \
                         not starting or ending with '-'",
                        c.name
                    ),
                );
            }
            if let Some(j) = self.clusters[..i]
                .iter()
                .position(|o| o.organization == c.organization && o.name == c.name)
            {
                errors.push(
                    format!("{at}.name"),
                    format!(
                        "duplicate of clusters[{j}] in organization {:?}",
                        c.organization
                    ),
                );
            }
            self.check_upstream(&format!("{at}.upstream"), &c.upstream, errors);
            if let Some(namespace) = &c.namespace {
                if let Err(e) = check_namespace(namespace) {
                    errors.push(format!("{at}.namespace"), e);
                }
                // One namespace inside another would show its names to the other's clients.
                if let Some(j) = self.clusters[..i].iter().position(|o| {
                    o.upstream == c.upstream
                        && o.namespace.as_ref().is_some_and(|n| {
                            n.starts_with(namespace.as_str()) || namespace.starts_with(n.as_str())
                        })
                }) {
                    errors.push(
                        format!("{at}.namespace"),
                        format!(
                            "overlaps the namespace of clusters[{j}] on the same upstream cluster"
                        ),
                    );
                }
            }
            match self.listeners.iter().find(|l| l.name == c.listener) {
                None => errors.push(
                    format!("{at}.listener"),
                    format!("no listener is named {:?}", c.listener),
                ),
                Some(l) if l.sni_domain.is_some() => {
                    for (field, set) in [
                        ("bootstrap_port", c.bootstrap_port.is_some()),
                        ("broker_port_base", c.broker_port_base.is_some()),
                    ] {
                        if set {
                            errors.push(
                                format!("{at}.{field}"),
                                "not used on a listener that routes by server name (sni_domain)",
                            );
                        }
                    }
                    if !is_dns_label(&c.organization) {
                        errors.push(
                            format!("{at}.organization"),
                            "must be a DNS label on a listener that routes by server name",
                        );
                    }
                    let label = c.sni_label();
                    if label.contains(SNI_BROKER_INFIX) {
                        errors.push(
                            format!("{at}.name"),
                            format!("the server name {label:?} must not contain {SNI_BROKER_INFIX:?}: brokers are named so"),
                        );
                    }
                    if let Some(j) = self.clusters[..i]
                        .iter()
                        .position(|o| o.listener == c.listener && o.sni_label() == label)
                    {
                        errors.push(
                            format!("{at}.name"),
                            format!(
                                "clusters[{j}] has the same server name {label:?} on this listener"
                            ),
                        );
                    }
                }
                Some(_) => {
                    for (field, set) in [
                        ("bootstrap_port", c.bootstrap_port.is_some()),
                        ("broker_port_base", c.broker_port_base.is_some()),
                    ] {
                        if !set {
                            errors.push(format!("{at}.{field}"), "required");
                        }
                    }
                }
            }
        }
        check_ports(&self.bound_ports(), errors);
    }

    /// The ports the endpoints bind (each SNI listener's once), for the conflict check.
    fn bound_ports(&self) -> Vec<Endpoint> {
        let sni = self.listeners.iter().enumerate().filter_map(|(i, l)| {
            l.sni_domain.as_ref()?;
            Some(Endpoint {
                name: l.name.clone(),
                listener: l.clone(),
                bootstrap_port: l.bootstrap_port?,
                broker_port_base: 0,
                upstream: DEFAULT_UPSTREAM.to_owned(),
                organization: None,
                namespace: None,
                sni: None,
                field: format!("listeners[{i}]"),
            })
        });
        let own = self.endpoints().into_iter().filter(|e| e.sni.is_none());
        own.chain(sni).collect()
    }

    fn check_upstream(&self, field: &str, name: &str, errors: &mut FieldErrors) {
        let known = self.upstream_clusters();
        if known.iter().all(|(n, _)| *n != name) {
            let names: Vec<_> = known.iter().map(|(n, _)| *n).collect();
            errors.push(
                field,
                format!(
                    "no upstream cluster is named {name:?} (configured: {})",
                    names.join(", ")
                ),
            );
        }
    }
}

/// Ports two endpoints would both bind, and a bootstrap port inside its own broker range.
fn check_ports(endpoints: &[Endpoint], errors: &mut FieldErrors) {
    for (i, e) in endpoints.iter().enumerate() {
        let (base, port) = (e.broker_port_base, e.bootstrap_port);
        if base != 0 && port != 0 && port >= base && port - base < 1024 {
            errors.push(
                format!("{}.bootstrap_port", e.field),
                format!(
                    "port {port} would be the port of broker node {}, since broker_port_base is {base}",
                    port - base
                ),
            );
        }
        for other in endpoints[..i]
            .iter()
            .filter(|o| o.bind_address() == e.bind_address())
        {
            if port != 0 && (port == other.bootstrap_port || port == other.broker_port_base) {
                errors.push(
                    format!("{}.bootstrap_port", e.field),
                    format!("port {port} is already used by {}", other.field),
                );
            }
            if base != 0 && (base == other.broker_port_base || base == other.bootstrap_port) {
                errors.push(
                    format!("{}.broker_port_base", e.field),
                    format!("port base {base} is already used by {}", other.field),
                );
            }
        }
    }
}

/// The rules of a listener that routes by server name: TLS and one port, and a domain.
fn sni_listener(at: &str, l: &Listener, domain: &str, errors: &mut FieldErrors) {
    if !domain.split('.').all(is_dns_label) {
        errors.push(
            format!("{at}.sni_domain"),
            format!("{domain:?} is not a DNS name of lowercase labels"),
        );
    }
    if l.tls.is_none() {
        errors.push(
            format!("{at}.tls"),
            "required with sni_domain: the server name comes with the TLS handshake",
        );
    }
    if l.bootstrap_port.is_none() {
        errors.push(
            format!("{at}.bootstrap_port"),
            "required with sni_domain: the one port of every virtual cluster and broker",
        );
    }
    for (field, set) in [
        ("broker_port_base", l.broker_port_base.is_some()),
        ("upstream", l.upstream.is_some()),
    ] {
        if set {
            errors.push(
                format!("{at}.{field}"),
                "not used with sni_domain: the listener serves only virtual clusters",
            );
        }
    }
}

/// A namespace prefix: characters of Kafka names (letters, digits, `.`, `_`, `-`), at most 100
/// of them (a topic name has 249 with the prefix).
pub fn check_namespace(prefix: &str) -> Result<(), String> {
    let kafka_chars = prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if prefix.is_empty() || prefix.len() > 100 || !kafka_chars {
        return Err(format!(
            "{prefix:?} is not a namespace: 1-100 letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// 1-63 lowercase letters, digits and '-', not starting or ending with '-' (RFC 1123).
pub fn is_dns_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    const BASE: &str = r#"
        [upstream]
        bootstrap_servers = ["127.0.0.1:9092"]
        [upstreams.dedicated]
        bootstrap_servers = ["127.0.0.1:9592"]
        [[listeners]]
        name = "oauth"
        bind_address = "127.0.0.1"
        advertised_host = "localhost"
        authentication = "oauthbearer"
        [[identity.providers]]
        organization = "acme"
        identifier = "idp"
        issuer = "https://idp.example.com"
        audience = "kafka"
    "#;

    fn errors(extra: &str) -> Vec<(String, String)> {
        match Config::parse(&format!("{BASE}{extra}")) {
            Ok(_) => Vec::new(),
            Err(e) => e.0,
        }
    }

    #[test]
    fn virtual_clusters_become_endpoints_of_their_organization() {
        let config = Config::parse(&format!(
            "{BASE}
            [[clusters]]
            organization = \"acme\"
            name = \"main\"
            listener = \"oauth\"
            bootstrap_port = 9300
            broker_port_base = 9310
            [[clusters]]
            organization = \"globex\"
            name = \"main\"
            upstream = \"dedicated\"
            listener = \"oauth\"
            bootstrap_port = 9400
            broker_port_base = 9410
            "
        ))
        .unwrap();
        let endpoints = config.endpoints();
        let seen: Vec<_> = endpoints
            .iter()
            .map(|e| {
                (
                    e.name.as_str(),
                    e.bootstrap_port,
                    e.upstream.as_str(),
                    e.organization.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("acme/main", 9300, "default", Some("acme")),
                ("globex/main", 9400, "dedicated", Some("globex")),
            ]
        );
        let names: Vec<_> = config.upstream_clusters().iter().map(|u| u.0).collect();
        assert_eq!(names, ["default", "dedicated"]);
    }

    #[test]
    fn a_listener_without_ports_needs_a_virtual_cluster() {
        assert_eq!(
            errors(""),
            [(
                "listeners[0].bootstrap_port".to_owned(),
                "required, unless a virtual cluster uses this listener".to_owned()
            )]
        );
    }

    #[test]
    fn each_problem_of_a_virtual_cluster_is_named() {
        let found = errors(
            "
            [[clusters]]
            organization = \" \"
            name = \"Main_1\"
            upstream = \"nowhere\"
            listener = \"oauth\"
            bootstrap_port = 9300
            broker_port_base = 9310
            [[clusters]]
            organization = \"acme\"
            name = \"a\"
            listener = \"missing\"
            bootstrap_port = 9300
            broker_port_base = 9299
            [[clusters]]
            organization = \"acme\"
            name = \"a\"
            listener = \"oauth\"
            bootstrap_port = 8500
            broker_port_base = 9310
            ",
        );
        let fields: Vec<_> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "clusters[0].organization",
                "clusters[0].name",
                "clusters[0].upstream",
                "clusters[1].listener",
                "clusters[2].name",
                "clusters[2].broker_port_base",
            ],
            "{found:?}"
        );
        assert!(found[2].1.contains("configured: default, dedicated"));
        assert!(found[5].1.contains("already used by clusters[0]"));
    }

    #[test]
    fn ports_shared_between_a_listener_and_a_virtual_cluster_are_refused() {
        let found = errors(
            "
            [[listeners]]
            name = \"open\"
            bind_address = \"127.0.0.1\"
            advertised_host = \"localhost\"
            bootstrap_port = 9300
            broker_port_base = 8200
            authentication = \"none\"
            [[clusters]]
            organization = \"acme\"
            name = \"main\"
            listener = \"oauth\"
            bootstrap_port = 9300
            broker_port_base = 9310
            ",
        );
        assert_eq!(
            found,
            [(
                "clusters[0].bootstrap_port".to_owned(),
                "port 9300 is already used by listeners[1]".to_owned()
            )]
        );
    }

    #[test]
    fn upstream_names_are_checked() {
        let found = Config::parse(
            r#"
            [upstreams.default]
            bootstrap_servers = ["127.0.0.1:9092"]
            [upstreams."a b"]
            bootstrap_servers = ["nowhere"]
            [[listeners]]
            name = "open"
            bind_address = "127.0.0.1"
            advertised_host = "localhost"
            bootstrap_port = 9300
            broker_port_base = 8200
            upstream = "other"
            authentication = "none"
            "#,
        )
        .unwrap_err()
        .0;
        let fields: Vec<_> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "upstreams.a b",
                "upstreams.a b.bootstrap_servers[0]",
                "listeners[0].upstream",
            ],
            "{found:?}"
        );
    }

    #[test]
    fn the_secrets_of_each_upstream_cluster_may_be_references() {
        let path = std::env::var("PATH").unwrap();
        let config = Config::parse(&format!(
            "{BASE}
            [upstreams.dedicated.sasl]
            mechanism = \"PLAIN\"
            username = \"proxy\"
            password = {{ env = \"PATH\" }}
            [[clusters]]
            organization = \"acme\"
            name = \"main\"
            listener = \"oauth\"
            bootstrap_port = 9300
            broker_port_base = 9310
            "
        ))
        .unwrap();
        let sasl = config.upstreams["dedicated"].sasl.as_ref().unwrap();
        assert_eq!(sasl.password.as_ref().unwrap().expose(), path);
    }

    #[test]
    fn a_listener_routing_by_server_name_takes_clusters_without_ports() {
        let pem = concat!(env!("CARGO_MANIFEST_DIR"), "/src/identity/testdata/rsa.pem");
        let sni = format!(
            "
            [[listeners]]
            name = \"sni\"
            bind_address = \"127.0.0.1\"
            advertised_host = \"localhost\"
            bootstrap_port = 9443
            sni_domain = \"kafka.example.com\"
            authentication = \"oauthbearer\"
            [listeners.tls]
            cert_file = {pem:?}
            key_file = {pem:?}
            [[clusters]]
            organization = \"acme\"
            name = \"main\"
            listener = \"oauth\"
            bootstrap_port = 9300
            broker_port_base = 9310
            "
        );
        let config = Config::parse(&format!(
            "{BASE}{sni}
            [[clusters]]
            organization = \"acme\"
            name = \"edge\"
            listener = \"sni\"
            "
        ))
        .unwrap();
        let edge = &config.endpoints()[1];
        let names = edge.sni.as_ref().map(|s| (s.bootstrap(), s.broker(2)));
        assert_eq!(
            names,
            Some((
                "acme-edge.kafka.example.com".to_owned(),
                "acme-edge-broker-2.kafka.example.com".to_owned()
            ))
        );
        assert_eq!(edge.bootstrap_port, 9443);

        let found = errors(&format!(
            "{sni}
            [[clusters]]
            organization = \"Acme Corp\"
            name = \"edge\"
            listener = \"sni\"
            bootstrap_port = 9500
            [[clusters]]
            organization = \"acme-edge\"
            name = \"x\"
            listener = \"sni\"
            [[clusters]]
            organization = \"acme\"
            name = \"edge-x\"
            listener = \"sni\"
            [[clusters]]
            organization = \"acme\"
            name = \"plain\"
            listener = \"oauth\"
            "
        ));
        let fields: Vec<_> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "clusters[1].bootstrap_port",
                "clusters[1].organization",
                "clusters[3].name",
                "clusters[4].bootstrap_port",
                "clusters[4].broker_port_base",
            ],
            "{found:?}"
        );
        let no_tls = errors(
            "
            [[listeners]]
            name = \"sni\"
            bind_address = \"127.0.0.1\"
            advertised_host = \"localhost\"
            broker_port_base = 9500
            sni_domain = \"Kafka..example\"
            authentication = \"oauthbearer\"
            ",
        );
        let fields: Vec<_> = no_tls.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "listeners[0].bootstrap_port",
                "listeners[1].sni_domain",
                "listeners[1].tls",
                "listeners[1].bootstrap_port",
                "listeners[1].broker_port_base",
            ],
            "{no_tls:?}"
        );
    }

    #[test]
    fn no_upstream_is_an_error() {
        let found = Config::parse(
            r#"
            [[listeners]]
            name = "open"
            bind_address = "127.0.0.1"
            advertised_host = "localhost"
            bootstrap_port = 9300
            broker_port_base = 8200
            authentication = "none"
            "#,
        )
        .unwrap_err()
        .0;
        assert_eq!(found[0].0, "upstream");
    }
}
