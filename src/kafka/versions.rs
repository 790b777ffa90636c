//! The one table of what the proxy knows about each API key it serves: the versions it
//! forwards and enforces, the lowest one it offers where ACLs apply, and whether its responses
//! carry broker addresses. Kafka's own definition of each message (its versions, flexible
//! encoding and the walk of its bodies) is generated beside it, in `schema/generated.rs`.
//!
//! The ApiVersions answer is built from it: the intersection of this table, what
//! kafka-protocol can parse, and what the upstream brokers advertise. API keys missing here
//! are never advertised and never forwarded.

use std::collections::HashMap;

use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, ApiVersionsResponse, FinalizedFeatureKey, SupportedFeatureKey,
};

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Supported {
    /// The API.
    pub api: ApiKey,
    /// Lowest version forwarded.
    pub min: i16,
    /// Highest version forwarded.
    pub max: i16,
    /// The highest version kafka-protocol knew when this row was reviewed. A crate upgrade that
    /// raises it fails `crate_versions_were_reviewed` until someone reads the new versions.
    pub reviewed_crate_max: i16,
    /// Answered by the proxy itself, never forwarded (its range does not depend on brokers).
    pub local: bool,
    /// The lowest version offered on listeners that enforce ACLs (older ones cannot be
    /// authorized as Kafka would).
    pub min_with_acls: i16,
    /// Its responses name brokers, whose addresses the proxy rewrites to its own.
    pub addresses: bool,
}

const fn fwd(api: ApiKey, min: i16, max: i16, reviewed_crate_max: i16) -> Supported {
    Supported {
        api,
        min,
        max,
        reviewed_crate_max,
        local: false,
        min_with_acls: min,
        addresses: false,
    }
}

const fn local(api: ApiKey, min: i16, max: i16) -> Supported {
    Supported {
        local: true,
        ..fwd(api, min, max, max)
    }
}

impl Supported {
    /// Responses name brokers.
    const fn addresses(self) -> Self {
        Self {
            addresses: true,
            ..self
        }
    }

    /// Offered from `version` on where ACLs apply.
    const fn with_acls_from(self, version: i16) -> Self {
        Self {
            min_with_acls: version,
            ..self
        }
    }
}

/// The table. Versions are capped below the crate's maximum where a newer version would let a
/// broker address reach the client through a response the proxy does not rewrite.
pub const SUPPORTED: &[Supported] = &[
    // Produce v10+ and Fetch v16+ responses carry `node_endpoints` (KIP-951: the new leader's
    // host and port after NOT_LEADER_OR_FOLLOWER). Rewriting them means walking every
    // record-carrying response, so those versions are not offered; clients fall back to a
    // Metadata refresh, which is rewritten.
    // Fetch v13+ names topics by ID only, as do OffsetCommit v10+, OffsetFetch v10+ and
    // DeleteTopics v6+: authorization decides on names, so those versions are not offered
    // (the older ones carry the same information by name).
    fwd(ApiKey::Produce, 3, 9, 13),
    fwd(ApiKey::Fetch, 4, 12, 18),
    fwd(ApiKey::ListOffsets, 1, 10, 10),
    // Metadata v0-3 cannot turn automatic topic creation off, so a caller without CREATE could
    // create topics through it.
    fwd(ApiKey::Metadata, 0, 13, 13)
        .with_acls_from(4)
        .addresses(),
    fwd(ApiKey::OffsetCommit, 2, 9, 10),
    fwd(ApiKey::OffsetFetch, 1, 9, 10),
    fwd(ApiKey::FindCoordinator, 0, 6, 6).addresses(),
    fwd(ApiKey::JoinGroup, 0, 9, 9),
    fwd(ApiKey::Heartbeat, 0, 4, 4),
    fwd(ApiKey::LeaveGroup, 0, 5, 5),
    fwd(ApiKey::SyncGroup, 0, 5, 5),
    fwd(ApiKey::DescribeGroups, 0, 6, 6),
    fwd(ApiKey::ListGroups, 0, 5, 5),
    local(ApiKey::SaslHandshake, 0, 1),
    local(ApiKey::ApiVersions, 0, 4),
    fwd(ApiKey::CreateTopics, 2, 7, 7),
    fwd(ApiKey::DeleteTopics, 1, 5, 6),
    fwd(ApiKey::DeleteRecords, 0, 2, 2),
    // InitProducerId v6 (KIP-939, two-phase commit): kafka-protocol 0.18 lists it for the API
    // key but its request type decodes only v0-5, so v6 could not be authorized.
    fwd(ApiKey::InitProducerId, 0, 5, 6),
    fwd(ApiKey::OffsetForLeaderEpoch, 2, 4, 4),
    // AddPartitionsToTxn v4+ is for brokers (batched verification, KIP-890); clients use v0-3.
    fwd(ApiKey::AddPartitionsToTxn, 0, 3, 5),
    fwd(ApiKey::AddOffsetsToTxn, 0, 4, 4),
    fwd(ApiKey::EndTxn, 0, 5, 5),
    fwd(ApiKey::TxnOffsetCommit, 0, 5, 5),
    fwd(ApiKey::DescribeConfigs, 1, 4, 4),
    fwd(ApiKey::AlterConfigs, 0, 2, 2),
    fwd(ApiKey::AlterReplicaLogDirs, 1, 2, 2),
    fwd(ApiKey::DescribeLogDirs, 1, 4, 4),
    local(ApiKey::SaslAuthenticate, 0, 2),
    fwd(ApiKey::CreatePartitions, 0, 3, 3),
    fwd(ApiKey::DeleteGroups, 0, 2, 2),
    fwd(ApiKey::ElectLeaders, 0, 2, 2),
    fwd(ApiKey::IncrementalAlterConfigs, 0, 1, 1),
    fwd(ApiKey::AlterPartitionReassignments, 0, 1, 1),
    fwd(ApiKey::ListPartitionReassignments, 0, 0, 0),
    fwd(ApiKey::OffsetDelete, 0, 0, 0),
    fwd(ApiKey::DescribeClientQuotas, 0, 1, 1),
    fwd(ApiKey::AlterClientQuotas, 0, 1, 1),
    fwd(ApiKey::DescribeCluster, 0, 2, 2).addresses(),
    fwd(ApiKey::DescribeProducers, 0, 0, 0),
    fwd(ApiKey::DescribeTransactions, 0, 0, 0),
    fwd(ApiKey::ListTransactions, 0, 2, 2),
    fwd(ApiKey::ConsumerGroupHeartbeat, 0, 1, 1),
    fwd(ApiKey::ConsumerGroupDescribe, 0, 1, 1),
    fwd(ApiKey::GetTelemetrySubscriptions, 0, 0, 0),
    fwd(ApiKey::PushTelemetry, 0, 0, 0),
    fwd(ApiKey::DescribeTopicPartitions, 0, 0, 0),
    fwd(ApiKey::ListConfigResources, 0, 1, 1),
    // Not offered: ACL and SCRAM-credential administration and delegation tokens (they would
    // act as the proxy's own broker principal), DescribeQuorum (controller endpoints),
    // share groups (their responses carry node endpoints), and inter-broker/controller APIs.
];

/// Feature levels that clients act on only when an API version is available: a level at or
/// above `level` makes clients use `api` at `min_version` or newer. When the table offers less,
/// the feature is advertised at `level - 1`, so that clients pick the older protocol the proxy
/// does forward instead of failing.
struct FeatureNeeds {
    feature: &'static str,
    level: i16,
    api: ApiKey,
    min_version: i16,
}

const FEATURE_NEEDS: &[FeatureNeeds] = &[
    // KIP-890 part 2: with transaction.version 2, producers add partitions to a transaction
    // implicitly through Produce v12+ (and end it with EndTxn v5).
    FeatureNeeds {
        feature: "transaction.version",
        level: 2,
        api: ApiKey::Produce,
        min_version: 12,
    },
];

/// Looks up the row for an API key.
pub fn supported(api: ApiKey) -> Option<&'static Supported> {
    let i = *INDEX.get(api as usize)?;
    SUPPORTED.get(usize::from(i))
}

/// Positions in [`SUPPORTED`] by API key (`u8::MAX`: none), computed at compile time: the
/// lookup is made for every request and response.
const INDEX: [u8; 128] = {
    let mut index = [u8::MAX; 128];
    let mut i = 0;
    while i < SUPPORTED.len() {
        index[SUPPORTED[i].api as usize] = i as u8;
        i += 1;
    }
    index
};

/// What the upstream brokers advertised: version ranges (intersected over every broker seen)
/// and the feature sections of their ApiVersions answer, passed on to clients.
#[derive(Debug, Clone, Default)]
pub struct BrokerVersions {
    ranges: HashMap<i16, (i16, i16)>,
    /// [`Self::offered`] precomputed by API key, for the per-request check.
    offered_by_key: Vec<Option<(i16, i16)>>,
    supported_features: Vec<SupportedFeatureKey>,
    finalized_features_epoch: i64,
    finalized_features: Vec<FinalizedFeatureKey>,
}

impl BrokerVersions {
    /// Folds one broker's ApiVersions answer into what is known.
    pub fn merge(&mut self, response: &ApiVersionsResponse) {
        let first = self.ranges.is_empty();
        let mut next = HashMap::with_capacity(response.api_keys.len());
        for k in &response.api_keys {
            let range = if first {
                Some((k.min_version, k.max_version))
            } else {
                self.ranges
                    .get(&k.api_key)
                    .map(|&(min, max)| (min.max(k.min_version), max.min(k.max_version)))
            };
            if let Some(r) = range.filter(|(min, max)| min <= max) {
                next.insert(k.api_key, r);
            }
        }
        self.ranges = next;
        self.supported_features = response.supported_features.clone();
        self.finalized_features_epoch = response.finalized_features_epoch;
        self.finalized_features = response.finalized_features.clone();
        let max_key = SUPPORTED.iter().map(|s| s.api as i16).max().unwrap_or(0);
        self.offered_by_key = (0..=max_key)
            .map(|k| ApiKey::try_from(k).ok().and_then(|api| self.offered(api)))
            .collect();
    }

    /// Whether any broker has answered yet.
    pub fn is_known(&self) -> bool {
        !self.ranges.is_empty()
    }

    /// The range offered to clients for an API key, `None` when it must not be used.
    pub fn offered(&self, api: ApiKey) -> Option<(i16, i16)> {
        let row = supported(api)?;
        let crate_range = api.valid_versions();
        let mut min = row.min.max(crate_range.min);
        let mut max = row.max.min(crate_range.max);
        if !row.local {
            let &(bmin, bmax) = self.ranges.get(&(api as i16))?;
            min = min.max(bmin);
            max = max.min(bmax);
        }
        (min <= max).then_some((min, max))
    }

    /// The ApiVersions answer for clients. `include_sasl` is false on listeners that do not
    /// authenticate, which then do not advertise the SASL APIs.
    pub fn response(&self, include_sasl: bool) -> ApiVersionsResponse {
        self.response_with(include_sasl, |_| Some(0))
    }

    /// As [`Self::response`], offering only the forwarded API keys for which `restrict` gives
    /// a lowest version (which raises the offered minimum).
    pub fn response_with(
        &self,
        include_sasl: bool,
        restrict: impl Fn(ApiKey) -> Option<i16>,
    ) -> ApiVersionsResponse {
        let api_keys = SUPPORTED
            .iter()
            .filter(|s| {
                include_sasl || !matches!(s.api, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate)
            })
            .filter_map(|s| {
                let (mut min, max) = self.offered(s.api)?;
                if !s.local {
                    min = min.max(restrict(s.api)?);
                }
                if min > max {
                    return None;
                }
                Some(
                    ApiVersion::default()
                        .with_api_key(s.api as i16)
                        .with_min_version(min)
                        .with_max_version(max),
                )
            })
            .collect();
        let mut supported = self.supported_features.clone();
        let mut finalized = self.finalized_features.clone();
        for need in FEATURE_NEEDS {
            if self
                .offered(need.api)
                .is_some_and(|(_, max)| max >= need.min_version)
            {
                continue;
            }
            let cap = need.level - 1;
            for f in supported
                .iter_mut()
                .filter(|f| f.name.as_str() == need.feature)
            {
                f.max_version = f.max_version.min(cap);
            }
            for f in finalized
                .iter_mut()
                .filter(|f| f.name.as_str() == need.feature)
            {
                f.max_version_level = f.max_version_level.min(cap);
                f.min_version_level = f.min_version_level.min(cap);
            }
        }
        ApiVersionsResponse::default()
            .with_api_keys(api_keys)
            .with_supported_features(supported)
            .with_finalized_features_epoch(self.finalized_features_epoch)
            .with_finalized_features(finalized)
    }

    /// Whether a request of this key and version may be forwarded.
    pub fn allows(&self, api: ApiKey, version: i16) -> bool {
        self.offered(api)
            .is_some_and(|(min, max)| (min..=max).contains(&version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_versions_were_reviewed() {
        for row in SUPPORTED {
            let range = row.api.valid_versions();
            assert_eq!(
                range.max, row.reviewed_crate_max,
                "{:?}: kafka-protocol now parses up to v{}; review the new versions (addresses \
                 in responses, topic ids) and update the table",
                row.api, range.max
            );
            assert!(
                row.min >= range.min && row.max <= range.max,
                "{:?} outside the crate",
                row.api
            );
        }
    }

    #[test]
    fn every_row_has_kafkas_definition_of_its_versions() {
        for row in SUPPORTED {
            let message = crate::kafka::schema::message(row.api)
                .unwrap_or_else(|| panic!("{:?} has no generated definition", row.api));
            assert_eq!(message.api_key, row.api as i16);
            assert!(
                message.versions.0 <= row.min && row.max <= message.versions.1,
                "{:?} v{}-{} outside Kafka's v{}-{}",
                row.api,
                row.min,
                row.max,
                message.versions.0,
                message.versions.1
            );
            assert!(row.min <= row.min_with_acls && row.min_with_acls <= row.max);
        }
    }

    #[test]
    fn each_api_appears_once() {
        for (i, a) in SUPPORTED.iter().enumerate() {
            assert!(
                SUPPORTED[i + 1..].iter().all(|b| b.api != a.api),
                "{:?} twice",
                a.api
            );
        }
    }

    fn broker(keys: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
        ApiVersionsResponse::default().with_api_keys(
            keys.iter()
                .map(|&(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(k as i16)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect(),
        )
    }

    #[test]
    fn transaction_version_2_is_hidden_while_produce_v12_is_not_offered() {
        let mut v = BrokerVersions::default();
        let mut response = broker(&[(ApiKey::Produce, 3, 13), (ApiKey::EndTxn, 0, 5)]);
        response.supported_features = vec![
            SupportedFeatureKey::default()
                .with_name("transaction.version".into())
                .with_max_version(2),
            SupportedFeatureKey::default()
                .with_name("group.version".into())
                .with_max_version(1),
        ];
        response.finalized_features = vec![
            FinalizedFeatureKey::default()
                .with_name("transaction.version".into())
                .with_max_version_level(2)
                .with_min_version_level(2),
            FinalizedFeatureKey::default()
                .with_name("group.version".into())
                .with_max_version_level(1)
                .with_min_version_level(1),
        ];
        v.merge(&response);
        let r = v.response(false);
        let level = |name: &str| {
            r.finalized_features
                .iter()
                .find(|f| f.name.as_str() == name)
                .map(|f| f.max_version_level)
        };
        assert_eq!(level("transaction.version"), Some(1));
        assert_eq!(
            level("group.version"),
            Some(1),
            "other features pass unchanged"
        );
        assert_eq!(r.supported_features[0].max_version, 1);
    }

    #[test]
    fn intersection_of_table_crate_and_brokers() {
        let mut v = BrokerVersions::default();
        v.merge(&broker(&[
            (ApiKey::Produce, 0, 13),
            (ApiKey::Metadata, 0, 12),
            (ApiKey::Vote, 0, 2),
        ]));
        v.merge(&broker(&[
            (ApiKey::Produce, 3, 11),
            (ApiKey::Metadata, 0, 13),
            (ApiKey::Vote, 0, 2),
        ]));
        assert_eq!(v.offered(ApiKey::Produce), Some((3, 9)));
        assert_eq!(v.offered(ApiKey::Metadata), Some((0, 12)));
        assert_eq!(v.offered(ApiKey::Vote), None, "not in the table");
        assert_eq!(v.offered(ApiKey::Fetch), None, "not advertised by brokers");
        assert_eq!(
            v.offered(ApiKey::ApiVersions),
            Some((0, 4)),
            "answered locally"
        );
        assert!(v.allows(ApiKey::Produce, 9) && !v.allows(ApiKey::Produce, 10));
        let keys: Vec<i16> = v
            .response(false)
            .api_keys
            .iter()
            .map(|k| k.api_key)
            .collect();
        assert!(
            keys.contains(&(ApiKey::Produce as i16))
                && !keys.contains(&(ApiKey::SaslHandshake as i16))
        );
    }
}
