//! The web console, served by the management listener under `/console/`: server-rendered
//! pages (askama templates, compiled in) over the management API. Users log in by single sign-on
//! at the platform's provider ([`login`]); every page then acts through the API itself, called in
//! process with the user's access token, so that the console can do exactly what the API lets
//! that user do, with the API's checks, field errors and audit log (`by=sso:<user>`).
//!
//! Cookies are HttpOnly, Secure and SameSite=Lax and hold only random ids ([`session`]). Every
//! change is a POST carrying the session's CSRF token; pages forbid framing and scripts.

mod login;
mod pages;
mod session;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;
use tower::ServiceExt;

pub(crate) use login::Oidc;
use session::{Pending, Session, Sessions, random_token, same_secret};

use super::Api;

/// The session cookie.
const SESSION_COOKIE: &str = "kop_session";
/// The cookie binding a login under way to the browser that started it.
const LOGIN_COOKIE: &str = "kop_login";
/// Refresh the access token this long before it expires.
const REFRESH_BEFORE: Duration = Duration::from_secs(30);

/// The console's state.
pub(crate) struct Console {
    oidc: Arc<Oidc>,
    sessions: Sessions,
    api: Arc<Api>,
    /// The API's routes, called in process.
    routes: Router,
}

/// The console's routes, with `routes` (the API's) to act through.
pub(crate) fn router(api: Arc<Api>, oidc: Arc<Oidc>, routes: Router) -> Router {
    let console = Arc::new(Console {
        oidc,
        sessions: Sessions::default(),
        api,
        routes,
    });
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(pages::organizations))
        .route("/console/console.css", get(stylesheet))
        .route("/console/login", get(start_login))
        .route("/console/callback", get(finish_login))
        .route("/console/logout", post(logout))
        .route("/console/open", get(pages::open_organization))
        .route(
            "/console/orgs/{org}/providers",
            get(pages::providers).post(pages::create_provider),
        )
        .route(
            "/console/orgs/{org}/providers/new",
            get(pages::new_provider),
        )
        .route(
            "/console/orgs/{org}/providers/{id}",
            post(pages::update_provider),
        )
        .route(
            "/console/orgs/{org}/providers/{id}/edit",
            get(pages::edit_provider),
        )
        .route(
            "/console/orgs/{org}/providers/{id}/test",
            get(pages::test_provider).post(pages::test_token),
        )
        .route(
            "/console/orgs/{org}/providers/{id}/delete",
            post(pages::delete_provider),
        )
        .route(
            "/console/orgs/{org}/acls",
            get(pages::acls).post(pages::create_acl),
        )
        .route("/console/orgs/{org}/acls/new", get(pages::new_acl))
        .route(
            "/console/orgs/{org}/acls/{id}/delete",
            post(pages::delete_acl),
        )
        .route("/console/orgs/{org}/why", get(pages::why))
        .route("/console/orgs/{org}/connect", get(pages::connect))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

/// Headers on every console answer: no framing, no scripts, no sniffing, no caching of pages
/// that show a user's data, no referrer leaving the console.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("console.css"),
    )
        .into_response()
}

/// A cookie of the console: HttpOnly, Secure, SameSite=Lax, for the console's paths.
fn cookie(name: &str, value: &str, max_age: u64) -> HeaderValue {
    let text =
        format!("{name}={value}; Path=/console; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of cookie `name` of a request.
fn cookie_of<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// Where to go after logging in: a console path, never elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console/") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_owned()
        }
        _ => "/console/".to_owned(),
    }
}

/// A page the console answers when something is wrong, with its status.
fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    pages::problem(status, title, detail)
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// `GET /console/login`: sends the browser to the provider.
async fn start_login(State(c): State<Arc<Console>>, Query(q): Query<LoginQuery>) -> Response {
    let endpoints = match c.oidc.endpoints().await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "console login cannot start");
            return problem(
                StatusCode::BAD_GATEWAY,
                "Login is unavailable",
                "The identity provider could not be reached. Try again in a moment.",
            );
        }
    };
    let (Some(browser), Some(nonce), Some(verifier)) =
        (random_token(), random_token(), random_token())
    else {
        return no_randomness();
    };
    let pending = Pending {
        browser: browser.clone(),
        nonce: nonce.clone(),
        verifier: verifier.clone(),
        next: safe_next(q.next.as_deref()),
        started: Instant::now(),
    };
    let Some(state) = c.sessions.start_login(pending) else {
        return no_randomness();
    };
    match c.oidc.authorize_url(&endpoints, &state, &nonce, &verifier) {
        Ok(url) => {
            let mut response = Redirect::to(url.as_str()).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                cookie(LOGIN_COOKIE, &browser, session::LOGIN_TTL.as_secs()),
            );
            response
        }
        Err(e) => {
            tracing::warn!(error = %e, "console login cannot start");
            problem(
                StatusCode::BAD_GATEWAY,
                "Login is unavailable",
                "The identity provider's login address is not usable.",
            )
        }
    }
}

fn no_randomness() -> Response {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "Login is unavailable",
        "The system's random source failed; nothing was made without it.",
    )
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /console/callback`: the provider's answer to a login.
async fn finish_login(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let refused = |detail: &str| {
        problem(
            StatusCode::BAD_REQUEST,
            "Login refused",
            &format!("{detail} Start again from the console's login."),
        )
    };
    let Some(state) = q.state.as_deref() else {
        return refused("The answer carries no state.");
    };
    // The state names a login this console started, in this browser, not long ago.
    let Some(pending) = c.sessions.finish_login(state) else {
        tracing::info!("console login refused: unknown or expired state");
        return refused("The login's state is unknown or has expired.");
    };
    if !cookie_of(&headers, LOGIN_COOKIE).is_some_and(|b| same_secret(b, &pending.browser)) {
        tracing::info!("console login refused: state of another browser");
        return refused("The login was started in another browser.");
    }
    if let Some(error) = &q.error {
        let description = q.error_description.as_deref().unwrap_or_default();
        return refused(&format!("The provider answered: {error} {description}."));
    }
    let Some(code) = q.code.as_deref() else {
        return refused("The answer carries no code.");
    };
    let tokens = match c.oidc.redeem(code, &pending.verifier).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "console login failed");
            return refused("The provider did not redeem the login's code.");
        }
    };
    let Some(id_token) = tokens.id_token.as_deref() else {
        return refused("The provider answered without an ID token.");
    };
    if let Err(e) = c.oidc.check_id_token(id_token, &pending.nonce).await {
        tracing::warn!(error = %e, "console login refused");
        return refused("The provider's ID token was refused.");
    }
    let user = match c.api.auth.user(&tokens.access_token).await {
        Ok(u) => u,
        Err(super::errors::ApiError::Forbidden) => {
            return problem(
                StatusCode::FORBIDDEN,
                "Not an administrator",
                "You are logged in at the identity provider, but in none of the groups that \
                 manage organizations here. Ask a platform administrator to add you to one.",
            );
        }
        Err(e) => {
            tracing::warn!(error = ?e, "console login refused: access token");
            return refused("The provider's access token is not one the API accepts.");
        }
    };
    let Some(csrf) = random_token() else {
        return no_randomness();
    };
    let now = Instant::now();
    let session = Session {
        user: user.name.clone(),
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        id_token: tokens.id_token,
        token_expires: expires(user.expires_at),
        csrf,
        ends: now + Duration::from_secs(c.oidc.session_secs()),
    };
    let Some(id) = c.sessions.open(session) else {
        return no_randomness();
    };
    tracing::info!(user = %user.name, "console login");
    let mut response = Redirect::to(&pending.next).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        cookie(SESSION_COOKIE, &id, c.oidc.session_secs()),
    );
    headers.append(header::SET_COOKIE, cookie(LOGIN_COOKIE, "", 0));
    response
}

/// An instant for an expiry in seconds since the epoch.
fn expires(at: u64) -> Instant {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    Instant::now() + Duration::from_secs(at.saturating_sub(now))
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

/// `POST /console/logout`: ends the session, and the provider's if it has an end-session
/// endpoint.
async fn logout(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    let Some(id) = cookie_of(&headers, SESSION_COOKIE) else {
        return Redirect::to("/console/").into_response();
    };
    let Some(session) = c.sessions.get(id) else {
        return Redirect::to("/console/").into_response();
    };
    if !same_secret(&form.csrf, &session.csrf) {
        return csrf_refused();
    }
    c.sessions.close(id);
    tracing::info!(user = %session.user, "console logout");
    let to = c
        .oidc
        .logout_url(session.id_token.as_deref())
        .await
        .map(|u| u.to_string())
        .unwrap_or_else(|| "/console/".to_owned());
    let mut response = Redirect::to(&to).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookie(SESSION_COOKIE, "", 0));
    response
}

fn csrf_refused() -> Response {
    tracing::info!("console change refused: CSRF token");
    problem(
        StatusCode::FORBIDDEN,
        "Refused",
        "The form did not come from this session of the console. Reload the page and try again.",
    )
}

/// The logged-in user of a request, its tokens fresh; otherwise where to log in.
pub(super) struct LoggedIn {
    session: Session,
}

impl Console {
    /// The request's session, its access token refreshed when due; `Err` is the answer to
    /// give instead (the login, for a page).
    async fn logged_in(&self, headers: &HeaderMap, here: &str) -> Result<LoggedIn, Response> {
        let login = || Redirect::to(&login_path(here)).into_response();
        let id = cookie_of(headers, SESSION_COOKIE).ok_or_else(login)?;
        let mut session = self.sessions.get(id).ok_or_else(login)?;
        if session.token_expires <= Instant::now() + REFRESH_BEFORE {
            let Some(refresh) = session.refresh_token.clone() else {
                self.sessions.close(id);
                return Err(login());
            };
            let tokens = match self.oidc.refresh(&refresh).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::info!(error = %e, user = %session.user, "console session ended: refresh refused");
                    self.sessions.close(id);
                    return Err(login());
                }
            };
            let user = self
                .api
                .auth
                .user(&tokens.access_token)
                .await
                .map_err(|_| {
                    self.sessions.close(id);
                    login()
                })?;
            session.access_token = tokens.access_token;
            session.refresh_token = tokens.refresh_token.or(Some(refresh));
            session.id_token = tokens.id_token.or(session.id_token);
            session.token_expires = expires(user.expires_at);
            self.sessions.update(id, session.clone());
            tracing::info!(user = %session.user, "console session refreshed");
        }
        Ok(LoggedIn { session })
    }

    /// As [`Console::logged_in`], for a change: the form's CSRF token must be the session's.
    async fn changing(
        &self,
        headers: &HeaderMap,
        here: &str,
        csrf: &str,
    ) -> Result<LoggedIn, Response> {
        let user = self.logged_in(headers, here).await?;
        if !same_secret(csrf, &user.session.csrf) {
            return Err(csrf_refused());
        }
        Ok(user)
    }

    /// As [`Console::changing`], for a form read as a map (its `csrf` field).
    async fn changing_by(
        &self,
        headers: &HeaderMap,
        here: &str,
        form: &std::collections::BTreeMap<String, String>,
    ) -> Result<LoggedIn, Response> {
        let csrf = form.get("csrf").map(String::as_str).unwrap_or_default();
        self.changing(headers, here, csrf).await
    }

    /// Calls the API in process as the user: its status and JSON answer.
    async fn call(
        &self,
        user: &LoggedIn,
        method: axum::http::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path).header(
            header::AUTHORIZATION,
            format!("Bearer {}", user.session.access_token),
        );
        let body = match body {
            Some(b) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        let Ok(request) = request.body(body) else {
            return (StatusCode::BAD_REQUEST, Value::Null);
        };
        let Ok(response) = self.routes.clone().oneshot(request).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
            .await
            .unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// The organizations the user manages, as names; `None` for a platform administrator
    /// (every organization).
    async fn managed(&self, user: &LoggedIn) -> Result<Option<Vec<String>>, Response> {
        let sso = self
            .api
            .auth
            .user(&user.session.access_token)
            .await
            .map_err(|_| Redirect::to("/console/login").into_response())?;
        if sso.manages.iter().any(|o| o == "*") {
            return Ok(None);
        }
        let mut orgs = sso.manages;
        orgs.sort();
        orgs.dedup();
        Ok(Some(orgs))
    }
}

/// The login's path, returning to `here`.
fn login_path(here: &str) -> String {
    let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
    format!("/console/login?next={next}")
}
