//! What the proxy knows about the upstream cluster: each broker's address by node id, and the
//! API versions the brokers support. Refreshed in the background and from every Metadata,
//! FindCoordinator and DescribeCluster response that passes through.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use crate::kafka::versions::BrokerVersions;

/// The cluster as the proxy knows it. Reads are cheap; writes are rare.
pub struct Topology {
    brokers: RwLock<HashMap<i32, String>>,
    versions: RwLock<Arc<BrokerVersions>>,
    versioned_nodes: RwLock<Vec<i32>>,
    known: watch::Sender<bool>,
}

impl Default for Topology {
    fn default() -> Self {
        Self {
            brokers: RwLock::default(),
            versions: RwLock::default(),
            versioned_nodes: RwLock::default(),
            known: watch::channel(false).0,
        }
    }
}

impl Topology {
    /// The real address of a broker.
    pub fn address(&self, node: i32) -> Option<String> {
        self.brokers.read().ok()?.get(&node).cloned()
    }

    /// All known brokers.
    pub fn nodes(&self) -> Vec<(i32, String)> {
        let mut nodes: Vec<_> = self
            .brokers
            .read()
            .map(|b| b.iter().map(|(k, v)| (*k, v.clone())).collect())
            .unwrap_or_default();
        nodes.sort();
        nodes
    }

    /// Records a broker's address; returns true when the node is new or moved.
    pub fn record(&self, node: i32, host: &str, port: i32) -> bool {
        let addr = format!("{host}:{port}");
        let Ok(mut brokers) = self.brokers.write() else {
            return false;
        };
        if brokers.get(&node) == Some(&addr) {
            return false;
        }
        tracing::info!(node, %addr, "upstream broker registered");
        brokers.insert(node, addr);
        true
    }

    /// The API versions the brokers support.
    pub fn versions(&self) -> Arc<BrokerVersions> {
        self.versions.read().map(|v| v.clone()).unwrap_or_default()
    }

    /// Whether the versions of this node have been merged already.
    pub fn has_versions_of(&self, node: i32) -> bool {
        self.versioned_nodes.read().is_ok_and(|n| n.contains(&node))
    }

    /// Folds one broker's ApiVersions answer in.
    pub fn merge_versions(
        &self,
        node: Option<i32>,
        response: &kafka_protocol::messages::ApiVersionsResponse,
    ) {
        if let Ok(mut v) = self.versions.write() {
            let mut next = (**v).clone();
            next.merge(response);
            *v = Arc::new(next);
        }
        if let (Some(node), Ok(mut nodes)) = (node, self.versioned_nodes.write()) {
            nodes.push(node);
        }
    }

    /// Marks the first complete refresh: brokers, their versions and their listeners are known.
    pub fn mark_known(&self) {
        self.known.send_replace(true);
    }

    /// Waits until the first complete refresh.
    pub async fn wait_known(&self) {
        let mut rx = self.known.subscribe();
        let _ = rx.wait_for(|known| *known).await;
    }
}
