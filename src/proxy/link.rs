//! A session's connection to its broker: the write half, owned by the session, and a reader
//! task that checks each response against the request it answers, rewrites broker addresses
//! where needed and hands it to the client's writer. The proxy's own requests on the link (an
//! in-band re-authentication, KIP-368) go through the same queue, so they are answered in turn
//! with the client's.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::AbortOnDropHandle;

use super::Gauge;
use super::namespace::{Asked, Namespace};
use super::rewrite::{Addresses, carries_addresses};
use super::upstream::{BoxRead, BoxWrite, Exchange, MAX_RESPONSE_BYTES, UpstreamError};
use super::{EndpointState, Shared, Target};
use crate::authz::request::{Edit, Fix, NoEdit};
use crate::kafka::codec::FrameReader;
use crate::kafka::header::{parse_request_header, parse_response_header};
use crate::kafka::pieces::Frame;

const WRITE_BUFFER: usize = 64 * 1024;

/// Re-authenticate at this share of the broker's session lifetime (the Java client picks
/// 85-95 %), so that a request is never sent on an expired session.
const REAUTH_AT: f64 = 0.85;

/// What the reader must expect next.
struct Expect {
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    /// Set for the proxy's own requests: the response goes here, not to the client.
    reply: Option<oneshot::Sender<Bytes>>,
    /// Applied to the response body before it reaches the client (authorization merges
    /// and filters).
    fix: Option<Fix>,
    /// Set for the first of a pair of requests made from one client request: the response
    /// body is kept here for the second one's fix, and the client gets nothing for it.
    stash: Option<Stash>,
    /// What the response needs of its request to cross the session's namespace back.
    asked: Asked,
    /// When the request was handed to the connection: from here to its response read, the
    /// time is the broker's (and the network's), not the proxy's.
    sent: Instant,
}

/// A response on its way to the client's writer.
pub(super) struct Answer {
    pub frame: Frame,
    /// From its request handed to the broker's connection to this response read.
    pub upstream: Duration,
}

/// Where the first response of a pair waits for the second.
pub(super) type Stash = Arc<std::sync::Mutex<Option<Bytes>>>;

/// An open connection to the session's broker.
pub(super) struct UpstreamLink {
    writer: BufWriter<BoxWrite>,
    expect: mpsc::UnboundedSender<Expect>,
    /// When to re-authenticate to the broker, if it limits the session.
    reauth_at: Option<Instant>,
    /// The upstream cluster, an index into `Shared::upstreams`.
    upstream: usize,
    _reader: AbortOnDropHandle<()>,
}

impl UpstreamLink {
    /// Connects to `target`'s broker (authenticated as configured) and starts the reader,
    /// which sends client responses to `responses`.
    pub(super) async fn open(
        shared: &Arc<Shared>,
        endpoint: &Arc<EndpointState>,
        target: Target,
        responses: mpsc::Sender<Answer>,
    ) -> Result<Self, UpstreamError> {
        let upstream = endpoint.upstream;
        let cluster = &shared.upstreams[upstream];
        let (addr, conn) = match target {
            Target::Bootstrap => cluster.connector.connect_bootstrap().await?,
            Target::Node(node) => {
                let addr = cluster
                    .topology
                    .address(node)
                    .ok_or(UpstreamError::UnknownNode(node))?;
                let conn = cluster.connector.connect(&addr).await?;
                (addr, conn)
            }
        };
        tracing::debug!(upstream = %addr, "upstream connected");
        let reauth_at = reauth_at(conn.session_lifetime());
        let (read, write) = conn.split();
        let (expect_tx, expect_rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_loop(
            shared.clone(),
            endpoint.clone(),
            read,
            expect_rx,
            responses,
        ));
        Ok(Self {
            writer: BufWriter::with_capacity(WRITE_BUFFER, write),
            expect: expect_tx,
            reauth_at,
            upstream,
            _reader: AbortOnDropHandle::new(reader),
        })
    }

    /// Tells the reader that the next response answers this client request.
    pub(super) fn expect(
        &self,
        correlation_id: i32,
        api: ApiKey,
        version: i16,
        fix: Option<Fix>,
        asked: Asked,
    ) -> Result<(), UpstreamError> {
        let expect = Expect {
            correlation_id,
            api,
            version,
            reply: None,
            fix,
            stash: None,
            asked,
            sent: Instant::now(),
        };
        self.expect.send(expect).map_err(|_| UpstreamError::Closed)
    }

    /// Tells the reader that the next response is to be kept in `stash`, not sent on.
    pub(super) fn expect_stashed(
        &self,
        correlation_id: i32,
        api: ApiKey,
        version: i16,
        stash: Stash,
        asked: Asked,
    ) -> Result<(), UpstreamError> {
        let expect = Expect {
            correlation_id,
            api,
            version,
            reply: None,
            fix: None,
            stash: Some(stash),
            asked,
            sent: Instant::now(),
        };
        self.expect.send(expect).map_err(|_| UpstreamError::Closed)
    }

    /// Writes a request frame, flushing unless more are about to follow.
    pub(super) async fn write(&mut self, frame: &Frame, flush: bool) -> Result<(), UpstreamError> {
        frame.write_to(&mut self.writer).await?;
        if flush {
            self.writer.flush().await?;
        }
        Ok(())
    }

    /// Sends what is buffered.
    pub(super) async fn flush(&mut self) -> Result<(), UpstreamError> {
        Ok(self.writer.flush().await?)
    }

    /// Re-authenticates when the broker's session is near its end. Requests already sent are
    /// answered first; the caller's next request waits for the exchange.
    pub(super) async fn reauthenticate_if_due(
        &mut self,
        shared: &Shared,
    ) -> Result<(), UpstreamError> {
        if self.reauth_at.is_none_or(|at| Instant::now() < at) {
            return Ok(());
        }
        let cluster = &shared.upstreams[self.upstream];
        let wait = cluster.config.connect_timeout();
        let lifetime = tokio::time::timeout(wait, cluster.connector.authenticate(self))
            .await
            .map_err(|_| UpstreamError::ReauthTimeout)??;
        self.reauth_at = reauth_at(lifetime);
        shared
            .stats
            .upstream_reauthentications
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            session_lifetime_ms = lifetime.map(|l| l.as_millis() as u64),
            "re-authenticated to the broker"
        );
        Ok(())
    }
}

fn reauth_at(lifetime: Option<Duration>) -> Option<Instant> {
    lifetime.map(|l| Instant::now() + l.mul_f64(REAUTH_AT))
}

/// The proxy's own requests on a link that serves a client: written in turn with the client's
/// requests, answered through the reader in order.
impl Exchange for UpstreamLink {
    async fn exchange(
        &mut self,
        frame: Bytes,
        api: ApiKey,
        version: i16,
    ) -> Result<Bytes, UpstreamError> {
        let header = parse_request_header(&frame)?;
        let (tx, rx) = oneshot::channel();
        let expect = Expect {
            correlation_id: header.correlation_id,
            api,
            version,
            reply: Some(tx),
            fix: None,
            stash: None,
            asked: Asked::default(),
            sent: Instant::now(),
        };
        self.expect
            .send(expect)
            .map_err(|_| UpstreamError::Closed)?;
        self.write(&Frame::Whole(frame), true).await?;
        rx.await.map_err(|_| UpstreamError::Closed)
    }
}

/// Reads responses of one upstream connection, checks each against the request it answers,
/// rewrites broker addresses where needed and passes them to the client's writer.
async fn read_loop(
    shared: Arc<Shared>,
    endpoint: Arc<EndpointState>,
    read: BoxRead,
    mut expected: mpsc::UnboundedReceiver<Expect>,
    responses: mpsc::Sender<Answer>,
) {
    let stats = shared.stats.clone();
    let _gauge = Gauge::new(&stats.upstream_connections);
    let mut frames = FrameReader::new(read, MAX_RESPONSE_BYTES);
    loop {
        let frame = match frames.next_frame().await {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                if !expected.is_empty() {
                    tracing::warn!(
                        side = "upstream",
                        pending = expected.len(),
                        "broker closed the connection with requests in flight"
                    );
                }
                return;
            }
            Err(e) => {
                tracing::warn!(side = "upstream", error = %e, "broker connection failed");
                return;
            }
        };
        let read_at = Instant::now();
        let Ok(expect) = expected.try_recv() else {
            tracing::warn!(side = "upstream", "broker sent a response to no request");
            return;
        };
        let header_version = expect.api.response_header_version(expect.version);
        let (correlation_id, offset) = match parse_response_header(&frame, header_version) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(side = "upstream", error = %e, "malformed response header from broker");
                return;
            }
        };
        if correlation_id != expect.correlation_id {
            tracing::warn!(
                side = "upstream",
                got = correlation_id,
                expected = expect.correlation_id,
                "broker response out of order"
            );
            return;
        }
        let upstream = read_at.saturating_duration_since(expect.sent);
        let answer = |frame: Frame| Answer { frame, upstream };
        if let Some(reply) = expect.reply {
            if reply.send(frame).is_err() {
                return;
            }
            continue;
        }
        let addresses = carries_addresses(expect.api);
        // Back across the namespace first: authorization and the address rewrite see the
        // client's names.
        let namespaced = endpoint
            .namespace
            .as_ref()
            .filter(|_| Namespace::rewrites_response(expect.api));
        // Nothing to do to it, the common case: forwarded as it came.
        let untouched = expect.stash.is_none() && expect.fix.is_none() && !addresses;
        if untouched && namespaced.is_none() {
            if responses.send(answer(frame.into())).await.is_err() {
                return;
            }
            continue;
        }
        let mut body = frame.slice(offset..);
        if let Some(ns) = namespaced {
            // Nothing else to do to it (a Fetch, a Produce): the whole frame is made at once.
            let header = untouched.then(|| &frame[4..offset]);
            let out = match ns.response(expect.api, expect.version, &body, expect.asked, header) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(side = "upstream", api = ?expect.api, error = %e, "cannot carry the broker's response across the namespace");
                    return;
                }
            };
            if untouched {
                if responses.send(answer(out)).await.is_err() {
                    return;
                }
                continue;
            }
            body = out.into_bytes();
        }
        if let Some(stash) = expect.stash {
            match stash.lock() {
                Ok(mut slot) => *slot = Some(body),
                Err(_) => return,
            }
            continue;
        }
        // An authorization fix that decodes the response rewrites its addresses in the same
        // decode; otherwise the rewrite decodes it.
        let mut rewriter = Addresses::new(&shared, &endpoint);
        if let Some(fix) = expect.fix {
            let edit: &mut dyn Edit = if addresses {
                &mut rewriter
            } else {
                &mut NoEdit
            };
            body = match fix(body, edit) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(side = "upstream", api = ?expect.api, error = %e, "cannot apply authorization to the broker's response");
                    return;
                }
            };
        }
        let frame = if addresses && !rewriter.rewritten {
            match rewriter.rewrite_response(expect.api, expect.version, &frame, offset, &body) {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(side = "upstream", api = ?expect.api, error = %e, "cannot rewrite broker addresses");
                    return;
                }
            }
        } else {
            match crate::kafka::replace_body(&frame, offset, &body) {
                Ok(f) => f.into(),
                Err(e) => {
                    tracing::warn!(side = "upstream", api = ?expect.api, error = %e, "cannot encode the response");
                    return;
                }
            }
        };
        if responses.send(answer(frame)).await.is_err() {
            return;
        }
    }
}
