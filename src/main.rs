//! The `kafka-oidc-proxy` command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kafka_oidc_proxy::config::Config;
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
        Command::Run { config } => {
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(errors) => {
                    for (field, message) in &errors.0 {
                        eprintln!("{}: {field}: {message}", config.display());
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
            runtime.block_on(run(config))
        }
    }
}

async fn run(config: Config) -> ExitCode {
    let grace = Duration::from_secs(config.limits.shutdown_grace_secs);
    let proxy = match Proxy::start(config).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    wait_for_signal().await;
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: no new connections, draining in-flight requests"
    );
    if proxy.shutdown(grace).await {
        tracing::info!("shutdown complete");
    }
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stopping");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: logs redirected to a file or a collector stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "panic");
    }));
}
