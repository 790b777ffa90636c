//! Rewrites broker addresses in responses so that clients only ever learn proxy addresses:
//! Metadata (`brokers`), FindCoordinator (v0-3 `node_id/host/port`, v4+ `coordinators`) and
//! DescribeCluster (`brokers`). Each address seen is also recorded in the topology, and gets a
//! proxy port on the client's listener before the client can learn it.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, DescribeClusterRequest, FindCoordinatorRequest, MetadataRequest,
};

use super::Shared;
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

/// Whether responses of this API carry broker addresses.
pub(crate) fn carries_addresses(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::Metadata | ApiKey::FindCoordinator | ApiKey::DescribeCluster
    )
}

/// Returns the response frame with every broker address replaced by this listener's.
pub(crate) fn rewrite_response(
    shared: &Arc<Shared>,
    listener: usize,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &Bytes,
) -> Result<Bytes, RewriteError> {
    let host = shared.listeners[listener].config.advertised_host.as_str();
    let proxy_port = |node: i32, real_host: &str, real_port: i32| -> Result<i32, RewriteError> {
        shared.register_broker(node, real_host, real_port);
        shared
            .broker_port(listener, node)
            .map(i32::from)
            .map_err(|e| RewriteError::Listener {
                node,
                message: e.to_string(),
            })
    };
    match api {
        ApiKey::Metadata => {
            let mut r = kafka::decode_response::<MetadataRequest>(version, body)?;
            for b in &mut r.brokers {
                b.port = proxy_port(b.node_id.0, &b.host, b.port)?;
                b.host = host.to_owned().into();
            }
            Ok(kafka::encode_response(api, version, correlation_id, &r)?)
        }
        ApiKey::FindCoordinator => {
            let mut r = kafka::decode_response::<FindCoordinatorRequest>(version, body)?;
            if r.node_id.0 >= 0 && !r.host.is_empty() {
                r.port = proxy_port(r.node_id.0, &r.host, r.port)?;
                r.host = host.to_owned().into();
            }
            for c in &mut r.coordinators {
                if c.node_id.0 >= 0 && !c.host.is_empty() {
                    c.port = proxy_port(c.node_id.0, &c.host, c.port)?;
                    c.host = host.to_owned().into();
                }
            }
            Ok(kafka::encode_response(api, version, correlation_id, &r)?)
        }
        ApiKey::DescribeCluster => {
            let mut r = kafka::decode_response::<DescribeClusterRequest>(version, body)?;
            for b in &mut r.brokers {
                b.port = proxy_port(b.broker_id.0, &b.host, b.port)?;
                b.host = host.to_owned().into();
            }
            Ok(kafka::encode_response(api, version, correlation_id, &r)?)
        }
        _ => Err(RewriteError::Decode(DecodeError::NoSchema)),
    }
}
