//! The `kafka-oidc-proxy` command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kafka_oidc_proxy::authz::{Operation, Principal, explain};
use kafka_oidc_proxy::cli::ApiArgs;
use kafka_oidc_proxy::config::Config;
use kafka_oidc_proxy::identity::{Identity, Providers, http_client};
use kafka_oidc_proxy::log_format::PlainFields;
use kafka_oidc_proxy::proxy::Proxy;

#[derive(Parser)]
#[command(
    version,
    about = "A Kafka proxy that authenticates clients with OpenID Connect tokens"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the proxy until SIGTERM or SIGINT.
    Run {
        /// The configuration file.
        #[arg(long, default_value = "config/proxy.toml")]
        config: PathBuf,
    },
    /// Validates a configuration file and reports every error with its field.
    CheckConfig {
        /// The configuration file.
        #[arg(long, default_value = "config/proxy.toml")]
        config: PathBuf,
    },
    /// A client of the management API: providers, ACL bindings and virtual clusters of an
    /// organization. Exit code 0 done, 1 refused by the API, 2 not made.
    Api(Box<ApiArgs>),
    /// ACL tools.
    Acl {
        #[command(subcommand)]
        command: AclCommand,
    },
    /// Reads a management API token on stdin and prints its SHA-256, as
    /// `management.tokens[].sha256` lists it.
    HashToken,
    /// Asks a health endpoint and exits 0 if it answers 2xx within 5 s, 1 otherwise: the
    /// container image's health check, which has no curl.
    Probe {
        /// The URL to ask; default `KAFKA_OIDC_PROXY_HEALTH_URL`, else the management
        /// listener's `/healthz` on its default address.
        url: Option<String>,
    },
    /// Prints a new key for sealing client secrets in the store, as
    /// `store.secret_keys_file` and `KAFKA_OIDC_PROXY_STORE_KEYS` list them (`<id>:<base64>`).
    GenStoreKey {
        /// The key's id, recorded with every secret it seals.
        #[arg(long, default_value = "k1")]
        id: String,
    },
}

#[derive(Subcommand)]
enum AclCommand {
    /// Prints whether a principal may do an operation on a resource, and the binding or super
    /// user entry that decided it. Exit code 0 allowed, 1 denied, 2 bad input.
    Check {
        /// The configuration file.
        #[arg(long, default_value = "config/proxy.toml")]
        config: PathBuf,
        /// A bearer token (`-` reads it from stdin): verified against its provider, which
        /// gives the organization, user and groups.
        #[arg(long, conflicts_with_all = ["principal", "organization", "groups"])]
        token: Option<String>,
        /// `User:<name>`, instead of a token.
        #[arg(long, required_unless_present = "token")]
        principal: Option<String>,
        /// The principal's organization (needed when several are configured).
        #[arg(long)]
        organization: Option<String>,
        /// A group of the principal (repeat for several).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// The client address.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS,
        /// ALTER_CONFIGS, IDEMPOTENT_WRITE or ALL.
        #[arg(long)]
        operation: String,
        /// `TOPIC:<name>`, `GROUP:<id>`, `TRANSACTIONAL_ID:<id>` or `CLUSTER`.
        #[arg(long)]
        resource: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::CheckConfig { config } => match Config::load(&config) {
            Ok(_) => {
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(errors) => {
                for (field, message) in &errors.0 {
                    eprintln!("{}: {field}: {message}", config.display());
                }
                ExitCode::from(2)
            }
        },
        acl @ Command::Acl { .. } => acl_check(acl),
        Command::Api(args) => api(*args),
        Command::GenStoreKey { id } => {
            match kafka_oidc_proxy::store::secrets::SecretKeys::generate(&id)
                .and_then(|k| kafka_oidc_proxy::store::secrets::SecretKeys::parse(&k).map(|_| k))
            {
                Ok(key) => {
                    println!("{key}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("gen-store-key: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Probe { url } => probe(url),
        Command::HashToken => {
            let mut token = String::new();
            if std::io::stdin().read_line(&mut token).is_err() || token.trim().is_empty() {
                eprintln!("hash-token: give the token on stdin");
                return ExitCode::from(2);
            }
            println!("{}", kafka_oidc_proxy::management::token_hash(token.trim()));
            ExitCode::SUCCESS
        }
        Command::Run { config: path } => {
            let config = match Config::load(&path) {
                Ok(c) => c,
                Err(errors) => {
                    for (field, message) in &errors.0 {
                        eprintln!("{}: {field}: {message}", path.display());
                    }
                    return ExitCode::from(2);
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(run(config, path))
        }
    }
}

fn acl_check(command: Command) -> ExitCode {
    let Command::Acl {
        command:
            AclCommand::Check {
                config,
                token,
                principal,
                organization,
                groups,
                host,
                operation,
                resource,
            },
    } = command
    else {
        return ExitCode::from(2);
    };
    let fail = |message: String| {
        eprintln!("{message}");
        ExitCode::from(2)
    };
    let path = config;
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(errors) => return fail(format!("{}: {errors}", path.display())),
    };
    let operation: Operation = match operation.parse() {
        Ok(op) => op,
        Err(e) => return fail(format!("--operation: {e}")),
    };
    let (resource_type, name) = match explain::parse_resource(&resource) {
        Ok(r) => r,
        Err(e) => return fail(format!("--resource: {e}")),
    };
    let (organization, user, groups) = match token {
        Some(token) => match identity_of(&config, token) {
            Ok(id) => (id.organization, id.user, id.groups),
            Err(message) => return fail(message),
        },
        None => {
            let user = match principal.as_deref().map(str::parse::<Principal>) {
                Some(Ok(Principal::User(user))) => user,
                Some(Ok(other)) => {
                    return fail(format!(
                        "--principal: {other} is not a user: give User:<name> and its groups with --group"
                    ));
                }
                Some(Err(e)) => return fail(format!("--principal: {e}")),
                None => return fail("--principal or --token is required".into()),
            };
            let mut orgs: Vec<&str> = config
                .identity
                .providers
                .iter()
                .map(|p| p.organization.as_str())
                .collect();
            orgs.sort_unstable();
            orgs.dedup();
            let organization = match (organization, orgs.as_slice()) {
                (Some(o), _) => o,
                (None, [only]) => (*only).to_owned(),
                (None, _) => {
                    return fail(format!(
                        "--organization is required (configured: {})",
                        orgs.join(", ")
                    ));
                }
            };
            (organization, user, groups)
        }
    };
    let who = explain::Who {
        organization: &organization,
        user: &user,
        groups: &groups,
        host,
    };
    let (allowed, report) = explain::explain(
        &config.authorization,
        &who,
        operation,
        (resource_type, &name),
    );
    print!("{report}");
    if allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Verifies a token against the configured providers (fetching their keys).
fn identity_of(config: &Config, token: String) -> Result<Identity, String> {
    let token = if token == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("--token -: cannot read stdin: {e}"))?;
        text.trim().to_owned()
    } else {
        token
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let http = http_client().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let providers = Providers::from_specs(&config.identity.providers, &http);
        providers
            .validate(&token)
            .await
            .map(std::sync::Arc::unwrap_or_clone)
            .map_err(|failure| format!("token refused: {failure} ({})", failure.reason()))
    })
}

async fn run(config: Config, path: PathBuf) -> ExitCode {
    let grace = Duration::from_secs(config.limits.shutdown_grace_secs);
    // Installed first: a SIGHUP while the proxy starts must not end it (the default action).
    let Some(signals) = Signals::install() else {
        tracing::error!("cannot install signal handlers; not starting");
        return ExitCode::FAILURE;
    };
    let proxy = match Proxy::start(config.clone()).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let management = match &config.management {
        None => None,
        Some(m) => match kafka_oidc_proxy::management::start(&config, m, proxy.published()).await {
            Ok(running) => Some(running),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the management API");
                proxy.shutdown(grace).await;
                return ExitCode::FAILURE;
            }
        },
    };
    let metrics = match &config.metrics {
        None => None,
        Some(m) => match serve_metrics(m.listen, &proxy).await {
            Ok(stop) => Some(stop),
            Err(e) => {
                tracing::error!(addr = %m.listen, error = %e, "cannot start the metrics listener");
                proxy.shutdown(grace).await;
                return ExitCode::FAILURE;
            }
        },
    };
    signals.wait(&proxy, &path).await;
    if let Some(stop) = metrics {
        stop.cancel();
    }
    if let Some(running) = management {
        running.stop().await;
    }
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: no new connections, draining in-flight requests"
    );
    if proxy.shutdown(grace).await {
        tracing::info!("shutdown complete");
    }
    ExitCode::SUCCESS
}

/// The signals the proxy acts on.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Option<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Some(Self {
            term: signal(SignalKind::terminate()).ok()?,
            int: signal(SignalKind::interrupt()).ok()?,
            hup: signal(SignalKind::hangup()).ok()?,
        })
    }

    /// Waits for SIGTERM or SIGINT. On SIGHUP, reloads `[authorization]` and the virtual
    /// clusters from the configuration file: the next request of every connection is decided
    /// by the new bindings, new clusters open and removed ones close. A file with errors
    /// changes nothing (each error is logged with its field). Other sections are read at
    /// start only.
    async fn wait(mut self, proxy: &Proxy, path: &Path) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => reload(proxy, path),
            }
        }
    }
}

fn reload(proxy: &Proxy, path: &Path) {
    let problems = match Config::load(path) {
        Ok(config) => match proxy.reload(config) {
            Ok(()) => return,
            Err(problems) => problems,
        },
        Err(errors) => errors,
    };
    for (field, message) in problems {
        tracing::error!(file = %path.display(), field, message, "SIGHUP: configuration not reloaded");
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: logs redirected to a file or a collector stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if ansi {
        builder.init();
    } else {
        builder.fmt_fields(PlainFields).init();
    }
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "panic");
    }));
}

fn api(args: ApiArgs) -> ExitCode {
    let shown = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(kafka_oidc_proxy::cli::run(args)),
        Err(e) => {
            eprintln!("api: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", shown.stdout);
    eprint!("{}", shown.stderr);
    ExitCode::from(shown.code)
}

fn probe(url: Option<String>) -> ExitCode {
    let url = url
        .or_else(|| std::env::var("KAFKA_OIDC_PROXY_HEALTH_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:8080/healthz".to_owned());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("probe: {e}");
            return ExitCode::FAILURE;
        }
    };
    let answer = runtime.block_on(async {
        let client = http_client()?;
        client
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
    });
    match answer {
        Ok(response) if response.status().is_success() => ExitCode::SUCCESS,
        Ok(response) => {
            eprintln!("probe: {url} answered {}", response.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("probe: {url}: {}", e.without_url());
            ExitCode::FAILURE
        }
    }
}

/// Serves the metrics listener until the returned token is cancelled.
async fn serve_metrics(
    addr: std::net::SocketAddr,
    proxy: &Proxy,
) -> std::io::Result<tokio_util::sync::CancellationToken> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let readiness = proxy.readiness();
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move {
        let app = kafka_oidc_proxy::metrics::router(readiness);
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stopped.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "metrics listener failed");
        }
    });
    tracing::info!(%addr, "metrics listening");
    Ok(stop)
}
