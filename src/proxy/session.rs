//! One client connection.
//!
//! The session task reads frames, answers ApiVersions itself and forwards everything else as
//! the bytes that arrived to one upstream connection ([`super::link`], opened on the first
//! forwarded request).
//! Responses leave in request order: each request that expects an answer pushes a [`Slot`] into
//! a bounded queue, and the writer task takes slots in order, either writing a local answer or
//! the next response of the upstream connection (brokers answer in order on a connection).
//! Until its first request is forwarded, a session writes its own answers (ApiVersions, SASL,
//! refusals) itself, in order as they are made: a connection that only logs in, or is
//! refused, never starts the writer task.
//! `acks=0` Produce pushes no slot: the broker sends no response. The queue's bound is
//! `limits.max_in_flight_per_connection`; when it is full the session stops reading.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest,
};
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::task::AbortOnDropHandle;

use super::admission::{Admitted, FREE_PRE_AUTH_FRAME};
use super::auth::{self, AuthState};
use super::link::{Answer, Stash, UpstreamLink};
use super::upstream::{BoxRead, BoxWrite, UpstreamError};
use super::{EndpointState, Gauge, Shared, Target, namespace};
use crate::authz::request::{self as authorize, Caller, Fix, FixError, Verdict};
use crate::clip::Clip;
use crate::config::Authentication;
use crate::kafka::codec::{FrameError, FrameLimits, FrameReader};
use crate::kafka::error_response::error_response;
use crate::kafka::header::{RequestHeader, parse_request_header};
use crate::kafka::pieces::Frame;
use crate::kafka::{self, DecodeError, error_code};
use crate::metrics::{ConnectionState, ListenerBytes, METRICS, Phase, RequestMetric};

/// The writer task's buffer: many small answers (produce acknowledgements) go out in one write.
const WRITE_BUFFER: usize = 64 * 1024;
pub(super) const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a client sent something the proxy will not serve; the connection is closed.
#[derive(Debug, thiserror::Error)]
enum ClientError {
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("malformed request: {0}")]
    Decode(#[from] DecodeError),
    #[error("malformed {api:?} v{version} request: {error}")]
    Body {
        api: ApiKey,
        version: i16,
        error: DecodeError,
    },
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("{api:?} v{version} is not supported by the proxy")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("{0:?} on a listener without SASL")]
    SaslNotEnabled(ApiKey),
    #[error("no upstream broker has answered yet")]
    NoBrokerVersions,
    #[error("{0:?} before authentication (ILLEGAL_SASL_STATE)")]
    NotAuthenticated(ApiKey),
    #[error("{api:?} v{version} cannot be authorized: {error}")]
    Authorize {
        api: ApiKey,
        version: i16,
        error: authorize::AuthorizeError,
    },
    #[error("{api:?} v{version} cannot cross the namespace: {error}")]
    Namespace {
        api: ApiKey,
        version: i16,
        error: namespace::NamespaceError,
    },
}

/// How a session ended.
enum End {
    ClientClosed,
    Idle,
    Shutdown,
    /// A final answer was queued (a request the session cannot go on after): it is delivered,
    /// then the connection closes.
    Refused(String),
    /// Authentication failed (a refused token, an unsupported mechanism, a request out of SASL
    /// order): the final answer, if any, is delivered, and the connection closes after
    /// `identity.failed_authentication_delay_ms`.
    AuthFailed(String),
    /// The session's token expired, or the client did not authenticate in time.
    Expired(&'static str),
    Client(ClientError),
    Upstream(UpstreamError),
    Internal(String),
}

/// How a request is forwarded.
#[derive(Clone, Copy)]
struct Forward {
    /// The broker answers it (all but an `acks=0` Produce, as the check read it).
    expects_response: bool,
    /// More client requests are already buffered: the write need not flush yet.
    more_buffered: bool,
}

/// An entry of the in-order response queue.
enum Slot {
    /// An answer the proxy made itself.
    Local(Bytes),
    /// The next response from the upstream connection.
    Upstream,
}

/// A request's latency metric and arrival, for the writer to observe when its response
/// is written.
type Timing = Option<(&'static RequestMetric, Instant)>;

/// What the writer sends next, with the timing of the request it answers.
type Queued = (Slot, Timing);

/// Serves one accepted client connection until it ends.
pub(super) async fn serve(
    shared: Arc<Shared>,
    endpoint: Arc<EndpointState>,
    target: Target,
    socket: TcpStream,
    peer: SocketAddr,
    admitted: Admitted,
) {
    let stats = shared.stats.clone();
    let _gauge = Gauge::new(&stats.client_connections);
    let _ = socket.set_nodelay(true);
    let (read, write): (BoxRead, BoxWrite) = match &endpoint.acceptor {
        None => {
            let (r, w) = socket.into_split();
            (Box::new(r), Box::new(w))
        }
        Some(acceptor) => {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
                Ok(Ok(tls)) => {
                    let (r, w) = tokio::io::split(tls);
                    (Box::new(r), Box::new(w))
                }
                Ok(Err(e)) => {
                    tracing::info!(side = "downstream", error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(side = "downstream", "TLS handshake timed out");
                    return;
                }
            }
        }
    };
    serve_streams(shared, endpoint, target, read, write, peer, admitted).await;
}

/// Serves a client connection whose streams are ready (after TLS, where the listener has it)
/// until it ends.
pub(super) async fn serve_streams(
    shared: Arc<Shared>,
    endpoint: Arc<EndpointState>,
    target: Target,
    read: BoxRead,
    write: BoxWrite,
    peer: SocketAddr,
    admitted: Admitted,
) {
    tracing::debug!(%peer, "client connected");
    let config = endpoint.config();
    let bootstrap = matches!(target, Target::Bootstrap);
    let connection = endpoint.metrics.connection(
        bootstrap,
        match config.authentication {
            Authentication::None => Phase::Open,
            Authentication::Oauthbearer => Phase::Unauthenticated,
        },
    );
    let bytes = endpoint.metrics.bytes(bootstrap).clone();
    let shutdown = shared.shutdown.clone();
    let session = Session {
        connection,
        bytes,
        timing: None,
        include_sasl: config.authentication != Authentication::None,
        auth: match config.authentication {
            Authentication::None => AuthState::Open,
            Authentication::Oauthbearer => AuthState::Handshake,
        },
        auth_deadline: Instant::now()
            + Duration::from_secs(shared.config.identity.authentication_timeout_secs),
        reauth_grace: None,
        admitted,
        shared,
        endpoint: endpoint.clone(),
        target,
        peer,
        caller: None,
        upstream: None,
        queues: None,
        in_flight: Arc::default(),
        client_id_recorded: false,
        direct: None,
        started: None,
    };
    match session.run(read, write).await {
        End::ClientClosed => tracing::debug!("client disconnected"),
        End::Idle => tracing::info!("closing idle connection (limits.idle_timeout_secs)"),
        End::Shutdown if !shutdown.is_cancelled() => {
            tracing::info!("closing client connection: its virtual cluster was removed or changed")
        }
        End::Shutdown => tracing::debug!("connection drained for shutdown"),
        End::Refused(why) | End::AuthFailed(why) => {
            tracing::info!(side = "downstream", reason = %Clip(&why), "closing client connection")
        }
        End::Expired(why) => tracing::info!(
            side = "downstream",
            reason = why,
            "closing client connection"
        ),
        End::Client(e) => {
            let e = e.to_string();
            tracing::info!(side = "downstream", error = %Clip(&e), "closing client connection")
        }
        End::Upstream(e) => {
            tracing::warn!(side = "upstream", error = %e, "closing client connection")
        }
        End::Internal(e) => {
            tracing::error!(side = "internal", error = %e, "closing client connection")
        }
    }
}

struct Session {
    shared: Arc<Shared>,
    /// Where the client connected: a listener's ports, or a virtual cluster's.
    endpoint: Arc<EndpointState>,
    target: Target,
    include_sasl: bool,
    auth: AuthState,
    /// When a client that has not authenticated by then is disconnected.
    auth_deadline: Instant,
    /// Set when the session's time ran out during a re-authentication (between its
    /// SaslHandshake and its SaslAuthenticate): the re-authentication may finish until then, as
    /// a Kafka broker lets it, and nothing else is served meanwhile.
    reauth_grace: Option<Instant>,
    /// The connection's slot, and its unauthenticated ticket until it authenticates.
    admitted: Admitted,
    peer: SocketAddr,
    /// Who the session authenticated as: every request is authorized for it. `None` on
    /// listeners without authentication, whose requests are all forwarded.
    caller: Option<Arc<Caller>>,
    upstream: Option<UpstreamLink>,
    /// The queues to the writer task, made when the session first forwards.
    queues: Option<Queues>,
    in_flight: Arc<AtomicUsize>,
    client_id_recorded: bool,
    /// The connection in the open-connections gauge of its state.
    connection: ConnectionState,
    /// Its listener's byte counters.
    bytes: ListenerBytes,
    /// The latency metric of the request being handled, until its answer is queued.
    timing: Timing,
    /// The client's writer until the first request is forwarded.
    direct: Option<BoxWrite>,
    /// The writer task, once started, until [`Session::run`] takes it.
    started: Option<Writer>,
}

/// The queues between a session, its upstream link and its writer task. A connection that
/// only logs in, or is refused, never makes them.
struct Queues {
    /// The slots of answers in request order, read by the writer task.
    slots: mpsc::Sender<Queued>,
    /// Handed to the upstream reader when the upstream connection opens.
    responses: Option<mpsc::Sender<Answer>>,
    /// The writer task's ends, until it starts.
    receivers: Option<(mpsc::Receiver<Queued>, mpsc::Receiver<Answer>)>,
}

impl Queues {
    fn new(capacity: usize) -> Self {
        let (slots, slots_rx) = mpsc::channel(capacity);
        let (responses, responses_rx) = mpsc::channel(capacity);
        Queues {
            slots,
            responses: Some(responses),
            receivers: Some((slots_rx, responses_rx)),
        }
    }
}

type Writer = AbortOnDropHandle<Result<BoxWrite, WriteEnd>>;

impl Session {
    async fn run(mut self, read: BoxRead, write: BoxWrite) -> End {
        let limits = &self.shared.config.limits;
        let idle = Duration::from_secs(limits.idle_timeout_secs);
        self.direct = Some(write);
        let mut writer: Option<Writer> = None;
        let frame_limits = if self.include_sasl {
            pre_auth_limits(limits)
        } else {
            request_limits(limits)
        };
        let mut frames = FrameReader::with_limits(read, frame_limits);
        // Before authentication nothing is read ahead: every byte held is accounted for.
        frames.set_read_ahead(!self.include_sasl);
        // Cancelled at shutdown, and when the session's virtual cluster is removed or changed.
        let shutdown = self.endpoint.closed.clone();
        let mut watched: Option<(
            Arc<crate::identity::Provider>,
            std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
        )> = None;
        let end = loop {
            // One timer for both ends of the wait: the session's deadline, and the idle timeout
            // of this read.
            let idle_at = Instant::now() + idle;
            let (wake, expires) = match self.deadline() {
                Some(deadline) if deadline <= idle_at => (deadline, true),
                _ => (idle_at, false),
            };
            // The wait on the session's provider is made once per authentication, not per
            // request: registering a waiter takes a lock shared by all the provider's sessions.
            let provider = match &self.auth {
                AuthState::Authenticated { provider, .. } => provider.as_ref(),
                _ => None,
            };
            let same = match (provider, &watched) {
                (Some(p), Some((w, _))) => Arc::ptr_eq(p, w),
                (None, None) => true,
                _ => false,
            };
            if !same {
                watched =
                    provider.map(|p| (p.clone(), Box::pin(p.revoked.clone().cancelled_owned())));
            }
            let provider_removed = async {
                match &mut watched {
                    Some((_, wait)) => wait.as_mut().await,
                    None => std::future::pending().await,
                }
            };
            let budget = self
                .admitted
                .unauthenticated
                .is_some()
                .then(|| self.shared.admission.budget());
            if writer.is_none() {
                writer = self.started.take();
            }
            let written = async {
                match &mut writer {
                    Some(w) => w.await,
                    None => std::future::pending().await,
                }
            };
            let next = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break End::Shutdown,
                _ = provider_removed => break End::Expired("identity provider removed"),
                _ = tokio::time::sleep_until(wake.into()) => {
                    if !expires {
                        if self.in_flight.load(Ordering::Relaxed) == 0 {
                            break End::Idle;
                        }
                        continue;
                    }
                    if self.reauth_grace.is_none()
                        && matches!(self.auth, AuthState::Authenticated { reauth: true, .. })
                    {
                        let grace = self.shared.config.identity.authentication_timeout_secs;
                        self.reauth_grace = Some(Instant::now() + Duration::from_secs(grace));
                        continue;
                    }
                    break if self.auth.serves_requests() {
                        self.shared.stats.sessions_expired.fetch_add(1, Ordering::Relaxed);
                        End::Expired("session expired (token lifetime)")
                    } else {
                        End::Expired("not authenticated within identity.authentication_timeout_secs")
                    };
                }
                w = written => break match w {
                    Ok(Ok(_)) | Ok(Err(WriteEnd::UpstreamClosed)) => End::Upstream(UpstreamError::Closed),
                    Ok(Err(WriteEnd::Client(e))) => End::Client(ClientError::Frame(FrameError::Io(e))),
                    Err(e) => End::Internal(e.to_string()),
                },
                r = read_frame(&mut frames, budget) => r,
            };
            let (frame, _held) = match next {
                Ok(Some(frame)) => {
                    self.bytes.received.inc_by(frame.0.len() as u64);
                    frame
                }
                Ok(None) => break End::ClientClosed,
                Err(e) => break End::Client(e.into()),
            };
            if let Err(end) = self.handle(frame, frames.has_buffered_frame()).await {
                break end;
            }
            if self.auth.serves_requests() {
                frames.set_limits(request_limits(&self.shared.config.limits));
                frames.set_read_ahead(true);
            }
        };
        if writer.is_none() {
            writer = self.started.take();
        }
        if let End::Shutdown | End::Refused(_) | End::AuthFailed(_) = end {
            // Let the writer deliver what is in flight; the proxy-wide grace period bounds this.
            // Answers written directly are already flushed.
            self.queues = None;
            if let Some(link) = &mut self.upstream {
                let _ = link.flush().await;
            }
            let written = match (writer, self.direct.take()) {
                (Some(mut writer), _) if matches!(end, End::Shutdown) => {
                    let _ = (&mut writer).await;
                    None
                }
                (Some(mut writer), _) => {
                    match tokio::time::timeout(Duration::from_secs(5), &mut writer).await {
                        Ok(Ok(Ok(write))) => Some(write),
                        _ => None,
                    }
                }
                (None, direct) => direct,
            };
            if let Some(write) = written
                && let End::AuthFailed(_) = end
            {
                // As a Kafka broker does: the answer reaches the client well before the close
                // (some clients drop an answer that arrives together with the end of the
                // stream), and nothing more is read meanwhile.
                let delay = self.shared.config.identity.failed_authentication_delay_ms;
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_millis(delay)) => {}
                }
                drop(write);
            }
        }
        end
    }

    async fn handle(&mut self, frame: Bytes, more_buffered: bool) -> Result<(), End> {
        if let AuthState::Token { raw: true } = self.auth {
            return self.raw_sasl(&frame).await;
        }
        let header = parse_request_header(&frame).map_err(|e| End::Client(e.into()))?;
        if !self.client_id_recorded {
            self.client_id_recorded = true;
            if let Some(id) = header.client_id(&frame) {
                let id = Clip(&id).to_string();
                tracing::Span::current().record("client_id", id.as_str());
            }
        }
        let api = header
            .api()
            .ok_or(End::Client(ClientError::UnknownApiKey(header.api_key)))?;
        if let Some(metric) = METRICS.request(api, matches!(self.target, Target::Bootstrap)) {
            metric.arrived();
            self.timing = Some((metric, Instant::now()));
        }
        if self.reauth_grace.is_some() && api != ApiKey::SaslAuthenticate {
            self.shared
                .stats
                .sessions_expired
                .fetch_add(1, Ordering::Relaxed);
            return Err(End::Expired("session expired (token lifetime)"));
        }
        match api {
            ApiKey::ApiVersions => {
                let answer = api_versions(
                    &self.shared,
                    &self.endpoint,
                    self.include_sasl,
                    &header,
                    &frame,
                )
                .await?;
                self.push(Slot::Local(answer)).await
            }
            ApiKey::SaslHandshake | ApiKey::SaslAuthenticate if !self.include_sasl => {
                Err(End::Client(ClientError::SaslNotEnabled(api)))
            }
            ApiKey::SaslHandshake => {
                let request = kafka::decode_request::<SaslHandshakeRequest>(
                    header.api_version,
                    &header.body(&frame),
                )
                .map_err(|e| End::Client(e.into()))?;
                let (response, step) =
                    auth::handshake(&mut self.auth, &request.mechanism, header.api_version);
                let answer = encode_local(ApiKey::SaslHandshake, &header, &response)?;
                self.push(Slot::Local(answer)).await?;
                step_result(step)
            }
            ApiKey::SaslAuthenticate => {
                let request = kafka::decode_request::<SaslAuthenticateRequest>(
                    header.api_version,
                    &header.body(&frame),
                )
                .map_err(|e| End::Client(e.into()))?;
                let step = self.authenticate(&request.auth_bytes, |response| {
                    encode_local(ApiKey::SaslAuthenticate, &header, response)
                });
                let (answer, step) = step.await?;
                self.push(Slot::Local(answer)).await?;
                step_result(step)
            }
            _ if !self.auth.serves_requests() => {
                self.refuse_unauthenticated(api, &header, &frame).await
            }
            _ => {
                let unoffered = (self.include_sasl
                    && authorize::lowest_version(api).is_none_or(|min| header.api_version < min))
                    || (self.endpoint.namespace.is_some() && !namespace::serves(api));
                if unoffered
                    || !self
                        .shared
                        .upstream_of(&self.endpoint)
                        .topology
                        .versions()
                        .allows(api, header.api_version)
                {
                    return Err(End::Client(ClientError::UnsupportedVersion {
                        api,
                        version: header.api_version,
                    }));
                }
                // Bodies the proxy knows how to walk are checked before anything decodes them or
                // any broker sees them, and their array entries are bounded (what deciding on a
                // request costs grows with its entries, each as small as one byte on the wire).
                let body = &frame[header.body_offset..];
                let checked = match kafka::check_request(
                    header.api_key,
                    header.api_version,
                    body,
                    self.shared.config.limits.max_request_entries,
                ) {
                    Ok(checked) => Some(checked),
                    Err(DecodeError::NoSchema) => None,
                    Err(error) => {
                        let version = header.api_version;
                        return Err(End::Client(ClientError::Body {
                            api,
                            version,
                            error,
                        }));
                    }
                };
                let to = Forward {
                    expects_response: checked.is_none_or(|c| c.expects_response()),
                    more_buffered,
                };
                let Some(caller) = &self.caller else {
                    return self.forward(frame, &header, api, to, None).await;
                };
                let verdict = authorize::authorize(
                    &self.shared.published.load().acls,
                    &self.shared.decisions,
                    caller,
                    api,
                    &header,
                    &frame,
                    checked,
                )
                .map_err(|error| {
                    End::Client(ClientError::Authorize {
                        api,
                        version: header.api_version,
                        error,
                    })
                })?;
                match verdict {
                    Verdict::Forward => self.forward(frame, &header, api, to, None).await,
                    Verdict::Rewrite {
                        frame: rewritten,
                        fix,
                        close_after,
                    } => {
                        let frame = rewritten.unwrap_or(frame);
                        self.forward(frame, &header, api, to, fix).await?;
                        if close_after {
                            return Err(End::Refused(format!(
                                "{api:?} with acks=0 and denied topics (as Kafka, the connection closes)"
                            )));
                        }
                        Ok(())
                    }
                    Verdict::Pair { first, then, merge } => {
                        let stash = Stash::default();
                        let (first, asked) = self.namespaced(first, &header, api)?;
                        let link = self.open_link().await?;
                        link.expect_stashed(
                            header.correlation_id,
                            api,
                            header.api_version,
                            stash.clone(),
                            asked,
                        )
                        .map_err(End::Upstream)?;
                        link.write(&first, false).await.map_err(End::Upstream)?;
                        let fix: Fix = Box::new(move |body, edit| {
                            let first = stash
                                .lock()
                                .ok()
                                .and_then(|mut s| s.take())
                                .ok_or(FixError::Unpaired)?;
                            merge(first, body, edit)
                        });
                        self.forward(then, &header, api, to, Some(fix)).await
                    }
                    Verdict::Answer(answer) => self.push(Slot::Local(answer)).await,
                    Verdict::Refuse(why) => Err(End::Refused(why)),
                }
            }
        }
    }

    async fn forward(
        &mut self,
        frame: Bytes,
        header: &RequestHeader,
        api: ApiKey,
        to: Forward,
        fix: Option<Fix>,
    ) -> Result<(), End> {
        let (frame, asked) = self.namespaced(frame, header, api)?;
        let link = self.open_link().await?;
        if to.expects_response {
            link.expect(header.correlation_id, api, header.api_version, fix, asked)
                .map_err(End::Upstream)?;
            self.push(Slot::Upstream).await?;
        }
        let link = self.link()?;
        link.write(&frame, !to.more_buffered)
            .await
            .map_err(End::Upstream)?;
        Ok(())
    }

    /// A request frame carried across the session's namespace, if it has one.
    fn namespaced(
        &self,
        frame: Bytes,
        header: &RequestHeader,
        api: ApiKey,
    ) -> Result<(Frame, namespace::Asked), End> {
        let Some(ns) = &self.endpoint.namespace else {
            return Ok((Frame::Whole(frame), namespace::Asked::default()));
        };
        ns.request(api, header.api_version, &frame, header.body_offset)
            .map_err(|error| {
                End::Client(ClientError::Namespace {
                    api,
                    version: header.api_version,
                    error,
                })
            })
    }

    /// The session's link to its broker, opened on first use and re-authenticated when due.
    async fn open_link(&mut self) -> Result<&mut UpstreamLink, End> {
        if self.upstream.is_none() {
            let responses = self
                .queues()
                .responses
                .take()
                .ok_or(End::Upstream(UpstreamError::Closed))?;
            let link = UpstreamLink::open(&self.shared, &self.endpoint, self.target, responses)
                .await
                .map_err(End::Upstream)?;
            self.upstream = Some(link);
        }
        let link = self
            .upstream
            .as_mut()
            .ok_or(End::Upstream(UpstreamError::Closed))?;
        link.reauthenticate_if_due(&self.shared)
            .await
            .map_err(End::Upstream)?;
        Ok(link)
    }

    /// When the session must end unless something changes: the authentication timeout before
    /// authentication, the token's expiry after.
    fn deadline(&self) -> Option<Instant> {
        if self.reauth_grace.is_some() {
            return self.reauth_grace;
        }
        match &self.auth {
            AuthState::Open => None,
            AuthState::Authenticated { deadline, .. } => Some(*deadline),
            _ => Some(self.auth_deadline),
        }
    }

    /// Checks a token (SaslAuthenticate or raw v0 frame), records the outcome and builds the
    /// answer with `encode`.
    async fn authenticate(
        &mut self,
        auth_bytes: &[u8],
        encode: impl FnOnce(&SaslAuthenticateResponse) -> Result<Bytes, End>,
    ) -> Result<(Bytes, auth::Step), End> {
        let providers = self.shared.published.load().providers.clone();
        let rules = self.shared.auth_rules(&self.endpoint);
        let first = !self.auth.serves_requests();
        let (response, step, outcome) =
            auth::authenticate(&mut self.auth, &providers, rules, auth_bytes).await;
        match outcome {
            Some(auth::Outcome::Success(identity)) => {
                self.shared
                    .record_auth(&identity.organization, &identity.provider, "success");
                self.admitted.unauthenticated = None;
                self.caller = Some(Arc::new(Caller {
                    identity: identity.clone(),
                    peer: self.peer,
                }));
                self.reauth_grace = None;
                if first {
                    self.connection.set(Phase::Authenticated);
                    let principal = format!("User:{}", Clip(&identity.user));
                    tracing::Span::current().record("principal", principal.as_str());
                } else {
                    let stats = &self.shared.stats;
                    stats
                        .client_reauthentications
                        .fetch_add(1, Ordering::Relaxed);
                }
                tracing::info!(
                    organization = %identity.organization,
                    provider = %identity.provider,
                    groups = ?identity.groups,
                    "authenticated"
                );
            }
            Some(auth::Outcome::Failure {
                provider,
                reason,
                detail,
            }) => {
                let provider = provider.as_deref().unwrap_or("-");
                let (organization, identifier) = provider.split_once('/').unwrap_or(("", provider));
                self.shared.record_auth(organization, identifier, reason);
                tracing::info!(provider, reason, detail = %Clip(&detail), "authentication failed");
            }
            None => {}
        }
        Ok((encode(&response)?, step))
    }

    /// A raw SASL frame after SaslHandshake v0: the token without a Kafka header. The answer is
    /// raw too; a failure cannot carry an error code in this mode, so the connection closes.
    async fn raw_sasl(&mut self, frame: &Bytes) -> Result<(), End> {
        let (answer, step) = self
            .authenticate(&frame[4..], |response| {
                Ok(auth::raw_frame(&response.auth_bytes))
            })
            .await?;
        if !self.auth.serves_requests() {
            return Err(End::AuthFailed(
                "authentication failed (SaslHandshake v0: connection closed)".into(),
            ));
        }
        self.push(Slot::Local(answer)).await?;
        step_result(step)
    }

    /// A request other than ApiVersions and SASL before authentication. Once a SASL exchange
    /// has begun, Kafka answers it with ILLEGAL_SASL_STATE in the request's own error response
    /// and then closes (kafkajs, which ignores the OAUTHBEARER error challenge, learns of a
    /// refused token this way); before SaslHandshake it closes without an answer.
    async fn refuse_unauthenticated(
        &mut self,
        api: ApiKey,
        header: &RequestHeader,
        frame: &Bytes,
    ) -> Result<(), End> {
        let refused = ClientError::NotAuthenticated(api);
        if let AuthState::Handshake = self.auth {
            return Err(End::Client(refused));
        }
        match error_response(header, frame, error_code::ILLEGAL_SASL_STATE) {
            Some(Ok(answer)) => {
                self.push(Slot::Local(answer)).await?;
                Err(End::AuthFailed(refused.to_string()))
            }
            Some(Err(error)) => Err(End::Client(ClientError::Body {
                api,
                version: header.api_version,
                error,
            })),
            None => Err(End::Client(refused)),
        }
    }

    fn link(&mut self) -> Result<&mut UpstreamLink, End> {
        self.upstream
            .as_mut()
            .ok_or(End::Internal("upstream link missing".into()))
    }

    /// Queues a response slot; when the queue is full, flushes the upstream writer first so
    /// the responses that will free the queue are not stuck in our own buffer.
    ///
    /// A local answer also flushes the upstream writer: a forwarded request that another
    /// buffered frame followed was written without a flush, and when that frame is answered
    /// here nothing else would send it, while the local answer waits behind its response.
    async fn push(&mut self, slot: Slot) -> Result<(), End> {
        if let (Slot::Local(_), Some(link)) = (&slot, &mut self.upstream) {
            link.flush().await.map_err(End::Upstream)?;
        }
        match (&slot, self.direct.take()) {
            (Slot::Local(answer), Some(mut direct)) => {
                // A direct write holds up the session, so it is bounded as the session's reads
                // are: by its deadline (authentication, or the token's lifetime), the idle
                // timeout, and shutdown. A client that does not read its answers is closed.
                let idle = Duration::from_secs(self.shared.config.limits.idle_timeout_secs);
                let by = Instant::now() + idle;
                let by = self.deadline().map_or(by, |d| d.min(by));
                let written = async {
                    direct.write_all(answer).await?;
                    direct.flush().await
                };
                let written = tokio::select! {
                    biased;
                    _ = self.endpoint.closed.cancelled() => return Err(End::Shutdown),
                    w = tokio::time::timeout_at(by.into(), written) => w.unwrap_or_else(|_| {
                        Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the client did not read its answers",
                        ))
                    }),
                };
                written.map_err(|e| End::Client(ClientError::Frame(FrameError::Io(e))))?;
                self.direct = Some(direct);
                self.bytes.sent.inc_by(answer.len() as u64);
                if let Some((metric, arrived)) = self.timing.take() {
                    metric.answered(arrived.elapsed(), Duration::ZERO);
                }
                return Ok(());
            }
            (Slot::Upstream, Some(direct)) => self.start_writer(direct)?,
            (_, direct) => self.direct = direct,
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let slots = &self
            .queues
            .as_ref()
            .ok_or(End::Internal("writer queue missing".into()))?
            .slots;
        let slot = match slots.try_send((slot, self.timing.take())) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Full(slot)) => slot,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(End::Upstream(UpstreamError::Closed));
            }
        };
        if let Some(link) = &mut self.upstream {
            link.flush().await.map_err(End::Upstream)?;
        }
        slots
            .send(slot)
            .await
            .map_err(|_| End::Upstream(UpstreamError::Closed))
    }

    /// Hands the client's writer to a task of its own, at the first forwarded request: from
    /// then on every answer goes through the queue, in order with the broker's responses.
    fn start_writer(&mut self, write: BoxWrite) -> Result<(), End> {
        let (slots, responses) = self
            .queues()
            .receivers
            .take()
            .ok_or(End::Internal("writer started twice".into()))?;
        self.started = Some(AbortOnDropHandle::new(tokio::spawn(write_loop(
            write,
            slots,
            responses,
            self.in_flight.clone(),
            self.bytes.sent.clone(),
        ))));
        Ok(())
    }

    /// The session's queues, made on first use.
    fn queues(&mut self) -> &mut Queues {
        let capacity = self.shared.config.limits.max_in_flight_per_connection;
        self.queues.get_or_insert_with(|| Queues::new(capacity))
    }
}

/// The next frame. Before authentication (`budget` given) a frame larger than
/// [`FREE_PRE_AUTH_FRAME`] is read only once the byte budget of all unauthenticated
/// connections has room for it, and its share is held until the returned permit is dropped.
async fn read_frame<R: tokio::io::AsyncRead + Unpin>(
    frames: &mut FrameReader<R>,
    budget: Option<Arc<Semaphore>>,
) -> Result<Option<(Bytes, Option<OwnedSemaphorePermit>)>, FrameError> {
    let Some(budget) = budget else {
        return Ok(frames.next_frame().await?.map(|f| (f, None)));
    };
    let Some(size) = frames.announced().await? else {
        return Ok(None);
    };
    let held = if size > FREE_PRE_AUTH_FRAME {
        // The size passed max_frame_bytes_pre_auth, which fits both u32 and the budget.
        let permits = u32::try_from(size).unwrap_or(u32::MAX);
        let permit = budget.acquire_many_owned(permits).await.map_err(|_| {
            FrameError::Io(std::io::Error::other("pre-authentication budget closed"))
        })?;
        Some(permit)
    } else {
        None
    };
    Ok(frames.next_frame().await?.map(|f| (f, held)))
}

/// The frame limits of a session that serves requests: Produce may be as large as
/// `max_frame_bytes`, anything else only `max_request_bytes` (never more), and the SASL
/// frames of a re-authentication `max_frame_bytes_pre_auth`.
fn request_limits(limits: &crate::config::Limits) -> FrameLimits {
    FrameLimits {
        produce: limits.max_frame_bytes,
        sasl: limits.max_frame_bytes_pre_auth,
        other: limits.max_request_bytes.min(limits.max_frame_bytes),
    }
}

/// Before authentication only the SASL frames may be as large as `max_frame_bytes_pre_auth`
/// (a token with many groups). ApiVersions is small, and any other request is refused
/// (answered with ILLEGAL_SASL_STATE once a SASL exchange has begun, as Kafka does), so it
/// need not be larger than what a small refusal can hold.
fn pre_auth_limits(limits: &crate::config::Limits) -> FrameLimits {
    let small = PRE_AUTH_OTHER_BYTES.min(limits.max_frame_bytes_pre_auth);
    FrameLimits {
        produce: small,
        sasl: limits.max_frame_bytes_pre_auth,
        other: small,
    }
}

/// The largest frame other than SaslHandshake and SaslAuthenticate read before
/// authentication.
const PRE_AUTH_OTHER_BYTES: usize = 64 * 1024;

/// Answers ApiVersions from the supported-versions table and the brokers' versions.
async fn api_versions(
    shared: &Shared,
    endpoint: &EndpointState,
    include_sasl: bool,
    header: &RequestHeader,
    frame: &Bytes,
) -> Result<Bytes, End> {
    let (min, max) = (0, ApiKey::ApiVersions.valid_versions().max);
    let version = header.api_version;
    let encode = |v: i16, body: &ApiVersionsResponse| {
        kafka::encode_response(ApiKey::ApiVersions, v, header.correlation_id, body)
            .map_err(|e| End::Internal(e.to_string()))
    };
    if version > max {
        // KIP-511: answer a too-new ApiVersions with a v0 response naming our range, so the
        // client retries with a version we speak instead of giving up.
        let body = ApiVersionsResponse::default()
            .with_error_code(error_code::UNSUPPORTED_VERSION)
            .with_api_keys(vec![
                ApiVersion::default()
                    .with_api_key(ApiKey::ApiVersions as i16)
                    .with_min_version(min)
                    .with_max_version(max),
            ]);
        return encode(0, &body);
    }
    kafka::decode_request::<ApiVersionsRequest>(version, &header.body(frame))
        .map_err(|e| End::Client(e.into()))?;
    let upstream = shared.upstream_of(endpoint);
    let topology = &upstream.topology;
    if !topology.versions().is_known() {
        let wait = upstream.config.connect_timeout();
        if tokio::time::timeout(wait, topology.wait_known())
            .await
            .is_err()
        {
            return Err(End::Client(ClientError::NoBrokerVersions));
        }
    }
    // A listener that authenticates authorizes every request: only the API keys the proxy can
    // authorize are offered there.
    // A namespaced cluster offers only the keys whose names it carries across.
    let namespaced = endpoint.namespace.is_some();
    let response = if include_sasl || namespaced {
        topology.versions().response_with(include_sasl, |api| {
            if namespaced && !namespace::serves(api) {
                return None;
            }
            if include_sasl {
                authorize::lowest_version(api)
            } else {
                Some(0)
            }
        })
    } else {
        topology.versions().response(false)
    };
    encode(version, &response)
}

fn step_result(step: auth::Step) -> Result<(), End> {
    match step {
        auth::Step::Continue => Ok(()),
        auth::Step::Close(why) => Err(End::AuthFailed(why)),
    }
}

fn encode_local<M: kafka_protocol::protocol::Encodable>(
    api: ApiKey,
    header: &RequestHeader,
    body: &M,
) -> Result<Bytes, End> {
    kafka::encode_response(api, header.api_version, header.correlation_id, body)
        .map_err(|e| End::Internal(e.to_string()))
}

/// Why the writer stopped early.
enum WriteEnd {
    UpstreamClosed,
    Client(std::io::Error),
}

/// Writes the queued answers in order until the queue closes; returns the stream, still open.
async fn write_loop(
    write: BoxWrite,
    mut slots: mpsc::Receiver<Queued>,
    mut responses: mpsc::Receiver<Answer>,
    in_flight: Arc<AtomicUsize>,
    sent: prometheus_client::metrics::counter::Counter,
) -> Result<BoxWrite, WriteEnd> {
    let mut w = BufWriter::with_capacity(WRITE_BUFFER, write);
    while let Some((slot, timing)) = next(&mut slots, &mut w).await? {
        let Answer { frame, upstream } = match slot {
            Slot::Local(frame) => Answer {
                frame: Frame::Whole(frame),
                upstream: Duration::ZERO,
            },
            Slot::Upstream => next(&mut responses, &mut w)
                .await?
                .ok_or(WriteEnd::UpstreamClosed)?,
        };
        frame.write_to(&mut w).await.map_err(WriteEnd::Client)?;
        sent.inc_by(frame.len() as u64);
        if let Some((metric, arrived)) = timing {
            metric.answered(arrived.elapsed(), upstream);
        }
        in_flight.fetch_sub(1, Ordering::Relaxed);
    }
    w.flush().await.map_err(WriteEnd::Client)?;
    Ok(w.into_inner())
}

/// The next item of a queue, flushing the writer before waiting so nothing sits buffered.
async fn next<T, W: AsyncWrite + Unpin>(
    rx: &mut mpsc::Receiver<T>,
    w: &mut BufWriter<W>,
) -> Result<Option<T>, WriteEnd> {
    match rx.try_recv() {
        Ok(item) => Ok(Some(item)),
        Err(mpsc::error::TryRecvError::Disconnected) => Ok(None),
        Err(mpsc::error::TryRecvError::Empty) => {
            w.flush().await.map_err(WriteEnd::Client)?;
            Ok(rx.recv().await)
        }
    }
}
