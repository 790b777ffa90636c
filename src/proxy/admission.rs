//! Who may hold a connection, and how much an unauthenticated one may cost (DESIGN.md
//! decision 14): every connection takes one of `max_connections` slots; until it has
//! authenticated it also holds one of `max_unauthenticated_connections` tickets and one of its
//! source address's `max_unauthenticated_per_address`, and the frames it reads beyond a small
//! allowance draw on one budget of bytes shared by all unauthenticated connections. One peer
//! with idle sockets therefore cannot take the slots that other clients need, and unread
//! frames of clients without credentials cannot make the proxy hold more than the budget.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;

/// Frames up to this size, before authentication, are read without drawing on the byte
/// budget: ApiVersions, SaslHandshake and the SaslAuthenticate of most tokens. What they can
/// hold in all is bounded by the unauthenticated connections' cap.
pub(super) const FREE_PRE_AUTH_FRAME: usize = 8 * 1024;

/// How often each kind of refusal is logged at most; the others are counted.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Every connection slot is taken.
    Connections,
    /// Every unauthenticated ticket is taken.
    Unauthenticated,
    /// The source address holds its share of unauthenticated tickets.
    PerAddress,
}

impl Refusal {
    const ALL: [Refusal; 3] = [
        Refusal::Connections,
        Refusal::Unauthenticated,
        Refusal::PerAddress,
    ];

    /// The limit that refused, by its configuration name.
    pub(super) fn limit(self) -> &'static str {
        match self {
            Refusal::Connections => "limits.max_connections",
            Refusal::Unauthenticated => "limits.max_unauthenticated_connections",
            Refusal::PerAddress => "limits.max_unauthenticated_per_address",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Refusals counted by kind, each kind logged at most once per interval.
#[derive(Debug, Default)]
pub struct Refusals {
    counts: [AtomicU64; 3],
    logged: Mutex<[Option<(Instant, u64)>; 3]>,
}

impl Refusals {
    /// Connections refused so far for `limits.<name>`.
    pub fn count(&self, limit: &str) -> u64 {
        Refusal::ALL
            .iter()
            .find(|r| r.limit() == limit)
            .map_or(0, |r| self.counts[r.index()].load(Ordering::Relaxed))
    }

    fn record(&self, refusal: Refusal, listener: &str, peer: IpAddr) {
        let i = refusal.index();
        crate::metrics::METRICS.refused(refusal.limit());
        let total = self.counts[i].fetch_add(1, Ordering::Relaxed) + 1;
        let Ok(mut logged) = self.logged.lock() else {
            return;
        };
        let now = Instant::now();
        let since = match logged[i] {
            Some((at, _)) if now.duration_since(at) < REFUSAL_LOG_INTERVAL => return,
            Some((_, count)) => total - count,
            None => 1,
        };
        logged[i] = Some((now, total));
        drop(logged);
        tracing::warn!(
            listener = %listener,
            %peer,
            limit = %refusal.limit(),
            refused = since,
            "connection refused (logged at most every {} s per limit; `refused` counts since the last line)",
            REFUSAL_LOG_INTERVAL.as_secs()
        );
    }
}

/// The proxy's connection slots, unauthenticated tickets and pre-authentication byte budget.
pub(super) struct Admission {
    slots: Arc<Semaphore>,
    unauthenticated: Arc<Semaphore>,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    max_per_address: usize,
    budget: Arc<Semaphore>,
    pub(super) refusals: Arc<Refusals>,
}

/// What an admitted connection holds.
pub(super) struct Admitted {
    _slot: OwnedSemaphorePermit,
    /// Held until the connection authenticates (none on listeners without authentication).
    pub(super) unauthenticated: Option<Unauthenticated>,
}

/// One unauthenticated ticket, counted against its source address until dropped.
pub(super) struct Unauthenticated {
    _ticket: OwnedSemaphorePermit,
    addr: IpAddr,
    admission: Arc<Admission>,
}

impl Drop for Unauthenticated {
    fn drop(&mut self) {
        if let Ok(mut map) = self.admission.per_address.lock()
            && let Some(n) = map.get_mut(&self.addr)
        {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.addr);
            }
        }
    }
}

impl Admission {
    pub(super) fn new(limits: &Limits) -> Arc<Self> {
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            unauthenticated: Arc::new(Semaphore::new(limits.max_unauthenticated_connections)),
            per_address: Mutex::default(),
            max_per_address: limits.max_unauthenticated_per_address,
            budget: Arc::new(Semaphore::new(limits.max_pre_auth_bytes_total)),
            refusals: Arc::default(),
        })
    }

    /// Admits a connection from `peer` on `listener`, or refuses it (counted, and logged at
    /// most once per interval). `authenticates`: the listener requires authentication.
    pub(super) fn admit(
        self: &Arc<Self>,
        listener: &str,
        peer: IpAddr,
        authenticates: bool,
    ) -> Option<Admitted> {
        let refused = |r: Refusal| {
            self.refusals.record(r, listener, peer);
            None
        };
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            return refused(Refusal::Connections);
        };
        if !authenticates {
            return Some(Admitted {
                _slot: slot,
                unauthenticated: None,
            });
        }
        let Ok(ticket) = self.unauthenticated.clone().try_acquire_owned() else {
            return refused(Refusal::Unauthenticated);
        };
        {
            let Ok(mut map) = self.per_address.lock() else {
                return None;
            };
            let n = map.entry(peer).or_default();
            if *n >= self.max_per_address {
                drop(map);
                return refused(Refusal::PerAddress);
            }
            *n += 1;
        }
        Some(Admitted {
            _slot: slot,
            unauthenticated: Some(Unauthenticated {
                _ticket: ticket,
                addr: peer,
                admission: self.clone(),
            }),
        })
    }

    /// The budget that unauthenticated connections draw on for frames larger than
    /// [`FREE_PRE_AUTH_FRAME`].
    pub(super) fn budget(&self) -> Arc<Semaphore> {
        self.budget.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(unauthenticated: usize, per_address: usize) -> Limits {
        Limits {
            max_connections: 10,
            max_unauthenticated_connections: unauthenticated,
            max_unauthenticated_per_address: per_address,
            ..Limits::default()
        }
    }

    #[test]
    fn one_address_gets_only_its_share() {
        let a = Admission::new(&limits(5, 2));
        let one: IpAddr = "10.0.0.1".parse().unwrap();
        let two: IpAddr = "10.0.0.2".parse().unwrap();
        let first = a.admit("l", one, true).expect("admitted");
        let _second = a.admit("l", one, true).expect("admitted");
        assert!(a.admit("l", one, true).is_none(), "third from one address");
        assert!(a.admit("l", two, true).is_some(), "another address");
        assert_eq!(
            a.refusals.count("limits.max_unauthenticated_per_address"),
            1
        );
        drop(first);
        assert!(a.admit("l", one, true).is_some(), "a share freed");
    }

    #[test]
    fn authenticating_frees_the_ticket_but_keeps_the_slot() {
        let a = Admission::new(&limits(1, 1));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let mut held = a.admit("l", ip, true).expect("admitted");
        assert!(a.admit("l", ip, true).is_none());
        held.unauthenticated = None;
        let _next = a.admit("l", ip, true).expect("the ticket is free again");
        assert_eq!(a.slots.available_permits(), 8);
        assert_eq!(
            a.refusals.count("limits.max_unauthenticated_connections"),
            1
        );
    }

    #[test]
    fn connections_without_authentication_take_only_a_slot() {
        let a = Admission::new(&limits(0, 0));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(a.admit("l", ip, false).is_some());
        assert!(a.admit("l", ip, true).is_none());
    }
}
