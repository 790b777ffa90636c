//! The console's pages: what each shows, and the forms that act through the API.

mod acls;
mod connect;
mod provider_test;
mod providers;

pub(super) use acls::{acls, create_acl, delete_acl, new_acl, why};
pub(super) use connect::connect;
pub(super) use provider_test::{test_provider, test_token};
pub(super) use providers::{
    create_provider, delete_provider, edit_provider, new_provider, providers, update_provider,
};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::{Console, LoggedIn};

/// What every page around its content shows: the user, the organization at hand, and the
/// CSRF token its forms carry.
pub(super) struct Chrome {
    pub(super) user: Option<String>,
    pub(super) csrf: String,
    pub(super) org: Option<String>,
    /// Which part of the organization's pages this is (`providers`, `acls`, ...).
    pub(super) section: &'static str,
}

impl Chrome {
    fn of(user: &LoggedIn, org: Option<&str>, section: &'static str) -> Self {
        Self {
            user: Some(user.session.user.clone()),
            csrf: user.session.csrf.clone(),
            org: org.map(str::to_owned),
            section,
        }
    }
}

/// A rendered page, or a plain error if the template cannot render (it always can: the
/// templates are checked at compile time).
fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "console page cannot render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page cannot be shown",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "console/problem.html")]
struct Problem<'a> {
    chrome: Chrome,
    title: &'a str,
    detail: &'a str,
}

/// A page saying what went wrong.
pub(super) fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let chrome = Chrome {
        user: None,
        csrf: String::new(),
        org: None,
        section: "",
    };
    page(
        status,
        &Problem {
            chrome,
            title,
            detail,
        },
    )
}

/// What the API answered when it refused: its detail, or each field's messages.
fn refusal_text(status: StatusCode, body: &Value) -> String {
    match body.get("detail").and_then(Value::as_str) {
        Some(d) => d.to_owned(),
        None => format!("The API answered {status}."),
    }
}

/// The answer for an API refusal other than a form's field errors.
fn refused(status: StatusCode, body: &Value) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::CONFLICT => "Conflict",
        _ => "Refused",
    };
    problem(status, title, &refusal_text(status, body))
}

/// Field errors of an API answer: each field's messages joined.
fn field_errors(body: &Value) -> BTreeMap<String, String> {
    body.as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != "detail")
        .map(|(k, v)| {
            let text = match v {
                Value::Array(list) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.as_str().unwrap_or_default().to_owned(),
            };
            (k.clone(), text)
        })
        .collect()
}

fn org_path(org: &str) -> String {
    url::form_urlencoded::byte_serialize(org.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[derive(Template)]
#[template(path = "console/organizations.html")]
struct Organizations {
    chrome: Chrome,
    /// `None`: the user manages every organization (these are the ones known so far).
    all: bool,
    orgs: Vec<String>,
}

/// `GET /console/`: the organizations the user manages.
pub(super) async fn organizations(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let user = match c.logged_in(&headers, "/console/").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let (all, orgs) = match c.managed(&user).await {
        Ok(Some(orgs)) => (false, orgs),
        Ok(None) => (true, known_organizations(&c)),
        Err(r) => return r,
    };
    page(
        StatusCode::OK,
        &Organizations {
            chrome: Chrome::of(&user, None, ""),
            all,
            orgs,
        },
    )
}

/// Every organization the proxy knows of: those with a provider or an ACL binding of the
/// configuration file.
fn known_organizations(c: &Console) -> Vec<String> {
    let snapshot = c.api.data_plane.current();
    let mut orgs: BTreeSet<String> = snapshot
        .providers
        .iter()
        .map(|p| p.spec.organization.clone())
        .collect();
    orgs.extend(snapshot.file_acls.iter().map(|b| b.organization.clone()));
    orgs.into_iter().collect()
}

#[derive(Deserialize)]
pub(super) struct OpenQuery {
    #[serde(default)]
    org: String,
}

/// `GET /console/open?org=`: an organization by name (a platform administrator's way to one
/// that has nothing yet).
pub(super) async fn open_organization(Query(q): Query<OpenQuery>) -> Response {
    let org = q.org.trim();
    if org.is_empty() {
        return Redirect::to("/console/").into_response();
    }
    Redirect::to(&format!("/console/orgs/{}/providers", org_path(org))).into_response()
}

/// What a page's address says was just done (`?done=created`), for its notice.
#[derive(Deserialize)]
pub(super) struct Done {
    done: Option<String>,
}
