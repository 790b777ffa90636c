//! Rewrites broker addresses in responses so that clients only ever learn proxy addresses:
//! Metadata (`brokers`), FindCoordinator (v0-3 `node_id/host/port`, v4+ `coordinators`) and
//! DescribeCluster (`brokers`). Each address seen is also recorded in the topology, and gets a
//! proxy port on the client's listener before the client can learn it.

use std::any::Any;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, DescribeClusterRequest, DescribeClusterResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{EndpointState, Shared};
use crate::authz::request::{Edit, FixError};
use crate::kafka::pieces::Frame;
use crate::kafka::{self, DecodeError, EncodeError};

/// Why a response could not be rewritten; the client connection is closed rather than let a
/// real broker address through.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RewriteError {
    /// The broker's response failed the guarded decode.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// The rewritten response could not be encoded.
    #[error("{0}")]
    Encode(#[from] EncodeError),
    /// No proxy port could be opened for a broker.
    #[error("no listener for broker node {node}: {message}")]
    Listener {
        /// The broker node id.
        node: i32,
        /// Why binding failed.
        message: String,
    },
}

/// Whether responses of this API carry broker addresses (the table's `addresses`).
pub(crate) fn carries_addresses(api: ApiKey) -> bool {
    crate::kafka::versions::supported(api).is_some_and(|s| s.addresses)
}

/// Replaces broker addresses by this listener's, in responses already decoded or in a
/// response body; each address seen is recorded in the topology.
pub(crate) struct Addresses<'a> {
    shared: &'a Arc<Shared>,
    endpoint: &'a Arc<EndpointState>,
    /// Whether an [`Edit`] has rewritten a decoded response.
    pub(crate) rewritten: bool,
}

impl<'a> Addresses<'a> {
    pub(crate) fn new(shared: &'a Arc<Shared>, endpoint: &'a Arc<EndpointState>) -> Self {
        Self {
            shared,
            endpoint,
            rewritten: false,
        }
    }

    /// The host clients are told for broker `node`: the listener's advertised host, or where
    /// the endpoint is reached by server name, the broker's own name.
    fn host(&self, node: i32) -> StrBytes {
        StrBytes::from_string(match self.endpoint.sni() {
            Some(sni) => sni.broker(node),
            None => self.endpoint.config().advertised_host.clone(),
        })
    }

    /// The proxy port of a broker, recorded in the topology and opened on this listener.
    fn proxy_port(&self, node: i32, real_host: &str, real_port: i32) -> Result<i32, RewriteError> {
        self.shared
            .register_broker(self.endpoint.upstream, node, real_host, real_port);
        self.shared
            .broker_port(self.endpoint, node)
            .map(i32::from)
            .map_err(|e| RewriteError::Listener {
                node,
                message: e.to_string(),
            })
    }

    fn metadata(&self, r: &mut MetadataResponse) -> Result<(), RewriteError> {
        for b in &mut r.brokers {
            b.port = self.proxy_port(b.node_id.0, &b.host, b.port)?;
            b.host = self.host(b.node_id.0);
        }
        Ok(())
    }

    fn find_coordinator(&self, r: &mut FindCoordinatorResponse) -> Result<(), RewriteError> {
        if r.node_id.0 >= 0 && !r.host.is_empty() {
            r.port = self.proxy_port(r.node_id.0, &r.host, r.port)?;
            r.host = self.host(r.node_id.0);
        }
        for c in &mut r.coordinators {
            if c.node_id.0 >= 0 && !c.host.is_empty() {
                c.port = self.proxy_port(c.node_id.0, &c.host, c.port)?;
                c.host = self.host(c.node_id.0);
            }
        }
        Ok(())
    }

    fn describe_cluster(&self, r: &mut DescribeClusterResponse) -> Result<(), RewriteError> {
        for b in &mut r.brokers {
            b.port = self.proxy_port(b.broker_id.0, &b.host, b.port)?;
            b.host = self.host(b.broker_id.0);
        }
        Ok(())
    }

    /// Returns the response frame with every broker address replaced by this listener's:
    /// `frame` as the broker sent it, its header ending at `offset`, with `body` (which may
    /// have been changed since) in place of its own. A Metadata response is rewritten at the
    /// byte level: its topics pass as they came.
    pub(crate) fn rewrite_response(
        &self,
        api: ApiKey,
        version: i16,
        frame: &[u8],
        offset: usize,
        body: &Bytes,
    ) -> Result<Frame, RewriteError> {
        let typed = |encoded: Result<Bytes, EncodeError>| -> Result<Frame, RewriteError> {
            Ok(kafka::replace_body(frame, offset, &encoded?)?.into())
        };
        match api {
            ApiKey::Metadata => {
                let header = &frame[4..offset];
                kafka::pieces::metadata_addresses(version, header, body, |node, host, port| {
                    let port = self.proxy_port(node, host, port)?;
                    Ok((self.host(node).to_string(), port))
                })
            }
            ApiKey::FindCoordinator => {
                let mut r = kafka::decode_response::<FindCoordinatorRequest>(version, body)?;
                self.find_coordinator(&mut r)?;
                typed(kafka::encode_body(version, &r))
            }
            ApiKey::DescribeCluster => {
                let mut r = kafka::decode_response::<DescribeClusterRequest>(version, body)?;
                self.describe_cluster(&mut r)?;
                typed(kafka::encode_body(version, &r))
            }
            _ => Err(RewriteError::Decode(DecodeError::NoSchema)),
        }
    }
}

/// The rewrite in the same decode as an authorization fix.
impl Edit for Addresses<'_> {
    fn edit(&mut self, response: &mut dyn Any) -> Result<(), FixError> {
        let done = if let Some(r) = response.downcast_mut::<MetadataResponse>() {
            self.metadata(r)
        } else if let Some(r) = response.downcast_mut::<FindCoordinatorResponse>() {
            self.find_coordinator(r)
        } else if let Some(r) = response.downcast_mut::<DescribeClusterResponse>() {
            self.describe_cluster(r)
        } else {
            return Ok(());
        };
        done.map_err(|e| FixError::Edit(Box::new(e)))?;
        self.rewritten = true;
        Ok(())
    }
}
