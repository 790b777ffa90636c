//! Walkers for TODO.

use kafka_protocol::messages::ApiKey;

use super::Direction;
use crate::kafka::DecodeError;
use crate::kafka::walk::Walker;

/// The first flexible version of each message walked here.
pub(super) fn first_flexible_version(api: ApiKey) -> Option<i16> {
    match api {
        _ => None,
    }
}

/// Walks `w` as the body of `api` in `direction` at version `v`; `Ok(false)` when this module
/// has no walker for it.
pub(super) fn walk(
    api: ApiKey,
    direction: Direction,
    v: i16,
    w: &mut Walker<'_>,
) -> Result<bool, DecodeError> {
    let _ = (direction, v, w);
    match api {
        _ => Ok(false),
    }
}
