//! The console's server-side state: logins under way (state, nonce and PKCE verifier, bound to
//! the browser that started them) and sessions (the user's tokens and a CSRF token). Browsers
//! hold only random ids in HttpOnly cookies.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// How long a login may take at the provider.
pub(super) const LOGIN_TTL: Duration = Duration::from_secs(600);

/// At most this many logins under way and sessions open, so that a flood of login requests
/// cannot grow memory without bound (the oldest are dropped first).
const MAX_ENTRIES: usize = 10_000;

/// 32 random bytes, base64url: a state, nonce, verifier, session id or CSRF token; `None` if
/// the system's random source fails (nothing guessable is ever made instead).
pub(super) fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether two secrets are equal, in time independent of where they differ.
pub(super) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A login under way.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    /// The random value of the browser's login cookie: only that browser may finish it.
    pub(super) browser: String,
    pub(super) nonce: String,
    pub(super) verifier: String,
    /// Where to go once logged in (a path under the console).
    pub(super) next: String,
    pub(super) started: Instant,
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub(super) user: String,
    pub(super) access_token: String,
    pub(super) refresh_token: Option<String>,
    pub(super) id_token: Option<String>,
    /// When the access token expires.
    pub(super) token_expires: Instant,
    /// Every change the user submits must carry this.
    pub(super) csrf: String,
    /// When the session ends, whatever the tokens say.
    pub(super) ends: Instant,
}

/// Logins under way, by state, and sessions, by id.
#[derive(Default)]
pub(super) struct Sessions {
    pending: Mutex<HashMap<String, Pending>>,
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Records a login; its state.
    pub(super) fn start_login(&self, pending: Pending) -> Option<String> {
        let state = random_token()?;
        let mut map = self.pending.lock().ok()?;
        map.retain(|_, p| p.started.elapsed() < LOGIN_TTL);
        evict_oldest(&mut map, |p| p.started);
        map.insert(state.clone(), pending);
        Some(state)
    }

    /// The login of `state`, once: taken whether or not it is still valid.
    pub(super) fn finish_login(&self, state: &str) -> Option<Pending> {
        let pending = self.pending.lock().ok()?.remove(state)?;
        (pending.started.elapsed() < LOGIN_TTL).then_some(pending)
    }

    /// Opens a session; its id.
    pub(super) fn open(&self, session: Session) -> Option<String> {
        let id = random_token()?;
        let mut map = self.open.lock().ok()?;
        let now = Instant::now();
        map.retain(|_, s| s.ends > now);
        evict_oldest(&mut map, |s| s.ends);
        map.insert(id.clone(), session);
        Some(id)
    }

    /// The session of `id`, if it is open.
    pub(super) fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.open.lock().ok()?;
        match map.get(id) {
            Some(s) if s.ends > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Replaces the session of `id` (its tokens refreshed).
    pub(super) fn update(&self, id: &str, session: Session) {
        if let Ok(mut map) = self.open.lock()
            && map.contains_key(id)
        {
            map.insert(id.to_owned(), session);
        }
    }

    /// Ends the session of `id`; what it was.
    pub(super) fn close(&self, id: &str) -> Option<Session> {
        self.open.lock().ok()?.remove(id)
    }
}

/// Makes room for one more entry by dropping the one `age` says is oldest.
fn evict_oldest<V>(map: &mut HashMap<String, V>, age: impl Fn(&V) -> Instant) {
    if map.len() < MAX_ENTRIES {
        return;
    }
    let oldest = map
        .iter()
        .min_by_key(|(_, v)| age(v))
        .map(|(k, _)| k.clone());
    if let Some(k) = oldest {
        map.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> String {
        random_token().expect("random")
    }

    fn pending(browser: &str) -> Pending {
        Pending {
            browser: browser.into(),
            nonce: token(),
            verifier: token(),
            next: "/console/".into(),
            started: Instant::now(),
        }
    }

    #[test]
    fn a_login_finishes_once() {
        let sessions = Sessions::default();
        let state = sessions.start_login(pending("b")).expect("started");
        assert_eq!(
            sessions.finish_login(&state).map(|p| p.browser),
            Some("b".into())
        );
        assert!(sessions.finish_login(&state).is_none());
        assert!(sessions.finish_login("forged").is_none());
    }

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let (a, b) = (token(), token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &b));
        assert!(!same_secret(&a, &a[..42]));
    }

    #[test]
    fn a_closed_or_ended_session_is_gone() {
        let sessions = Sessions::default();
        let session = |ends: Instant| Session {
            user: "alice".into(),
            access_token: "t".into(),
            refresh_token: None,
            id_token: None,
            token_expires: ends,
            csrf: token(),
            ends,
        };
        let id = sessions
            .open(session(Instant::now() + Duration::from_secs(60)))
            .expect("opened");
        assert_eq!(sessions.get(&id).map(|s| s.user), Some("alice".into()));
        assert!(sessions.close(&id).is_some());
        assert!(sessions.get(&id).is_none());
        let ended = sessions.open(session(Instant::now())).expect("opened");
        assert!(sessions.get(&ended).is_none());
    }
}
