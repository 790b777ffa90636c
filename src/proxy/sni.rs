//! A listener that routes by server name: every virtual cluster on it, and each of its
//! brokers, on one TLS port. The name the client asks for in its TLS ClientHello decides the
//! cluster and the broker (`<organization>-<cluster>.<domain>` to bootstrap,
//! `<organization>-<cluster>-broker-<N>.<domain>` for broker N). A name that leads nowhere
//! closes the connection before the proxy answers the ClientHello: no certificate is shown,
//! and nothing tells a cluster that does not exist from one the client may not use.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::{LazyConfigAcceptor, TlsAcceptor};
use tracing::Instrument;

use super::session::{TLS_HANDSHAKE_TIMEOUT, serve_streams};
use super::upstream::{BoxRead, BoxWrite};
use super::{EndpointState, Gauge, Shared, Target};
use crate::clip::Clip;
use crate::config::{Authentication, Listener, SNI_BROKER_INFIX};

/// Accepts connections on a listener that routes by server name until shutdown.
pub(super) async fn accept_loop(
    shared: Arc<Shared>,
    listener: Listener,
    acceptor: TlsAcceptor,
    tcp: TcpListener,
) {
    let authenticates = listener.authentication != Authentication::None;
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            a = tcp.accept() => a,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(listener = %listener.name, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(admitted) = shared
            .admission
            .admit(&listener.name, peer.ip(), authenticates)
        else {
            continue;
        };
        let serving = shared.clone();
        let name = listener.name.clone();
        let acceptor = acceptor.clone();
        let span = tracing::info_span!(
            "conn",
            %peer,
            listener = %name,
            target = tracing::field::Empty,
            client_id = tracing::field::Empty,
            principal = tracing::field::Empty
        );
        let task = async move {
            let shared = serving;
            let stats = shared.stats.clone();
            let _gauge = Gauge::new(&stats.client_connections);
            let _ = socket.set_nodelay(true);
            let hello = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), socket);
            let start = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, hello).await {
                Ok(Ok(start)) => start,
                Ok(Err(e)) => {
                    tracing::info!(side = "downstream", error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(side = "downstream", "TLS handshake timed out");
                    return;
                }
            };
            let asked = start.client_hello().server_name().map(str::to_owned);
            let Some((endpoint, target)) = asked.as_deref().and_then(|n| route(&shared, &name, n))
            else {
                let asked = asked.unwrap_or_default();
                tracing::info!(side = "downstream", server_name = %Clip(&asked), "closing TLS connection: no virtual cluster has this server name");
                return;
            };
            tracing::Span::current().record("target", tracing::field::debug(target));
            let config = acceptor.config().clone();
            let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, start.into_stream(config))
                .await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(side = "downstream", error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(side = "downstream", "TLS handshake timed out");
                    return;
                }
            };
            let (r, w) = tokio::io::split(tls);
            let (read, write): (BoxRead, BoxWrite) = (Box::new(r), Box::new(w));
            serve_streams(shared, endpoint, target, read, write, peer, admitted).await;
        };
        shared.tracker.spawn(task.instrument(span));
    }
}

/// The endpoint and broker a server name asks for on listener `listener`.
fn route(shared: &Shared, listener: &str, asked: &str) -> Option<(Arc<EndpointState>, Target)> {
    let asked = asked.to_ascii_lowercase();
    let endpoints = shared.endpoints.load();
    endpoints.iter().find_map(|e| {
        let sni = e.sni().filter(|_| e.config().name == listener)?;
        let host = asked.strip_suffix(&sni.domain)?.strip_suffix('.')?;
        let rest = host.strip_prefix(&sni.label)?;
        let target = match rest.strip_prefix(SNI_BROKER_INFIX) {
            None if rest.is_empty() => Target::Bootstrap,
            None => return None,
            Some(node) => {
                // Digits only: a node id as the broker names print it.
                if node.is_empty() || !node.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Target::Node(node.parse().ok()?)
            }
        };
        Some((e.clone(), target))
    })
}
