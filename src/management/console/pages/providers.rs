//! The identity providers of an organization: list, register, delete.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value};

use super::{Chrome, Done, field_errors, org_path, page, refused};
use crate::management::console::{Console, LoggedIn};

/// A provider as its list shows it.
struct ProviderRow {
    id: String,
    identifier: String,
    issuer: String,
    audience: String,
    read_only: bool,
}

#[derive(Template)]
#[template(path = "console/providers.html")]
struct Providers {
    chrome: Chrome,
    org: String,
    org_path: String,
    providers: Vec<ProviderRow>,
    notice: Option<String>,
}

fn notice(done: Option<&str>) -> Option<String> {
    match done? {
        "created" => Some(
            "The provider is registered: its tokens authenticate on the next connection.".into(),
        ),
        "updated" => {
            Some("The provider is changed: new connections use it as it now reads.".into())
        }
        "deleted" => {
            Some("The provider is deleted: its tokens are refused on new connections.".into())
        }
        _ => None,
    }
}

/// `GET /console/orgs/{org}/providers`: the organization's identity providers.
pub(crate) async fn providers(
    State(c): State<Arc<Console>>,
    Path(org): Path<String>,
    Query(q): Query<Done>,
    headers: HeaderMap,
) -> Response {
    let here = format!("/console/orgs/{}/providers", org_path(&org));
    let user = match c.logged_in(&headers, &here).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut rows = Vec::new();
    let mut next = Some(format!(
        "/organizations/{}/oauth-providers/?limit=1000",
        org_path(&org)
    ));
    while let Some(path) = next.take() {
        let (status, body) = c.call(&user, Method::GET, &path, None).await;
        if status != StatusCode::OK {
            return refused(status, &body);
        }
        for p in body["results"].as_array().into_iter().flatten() {
            let text = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
            rows.push(ProviderRow {
                id: text("id"),
                identifier: text("identifier"),
                issuer: text("issuer"),
                audience: text("audience"),
                read_only: p["read_only"] == Value::Bool(true),
            });
        }
        next = body["next"].as_str().map(str::to_owned);
    }
    page(
        StatusCode::OK,
        &Providers {
            chrome: Chrome::of(&user, Some(&org), "providers"),
            org_path: org_path(&org),
            org,
            providers: rows,
            notice: notice(q.done.as_deref()),
        },
    )
}

/// One field of a provider's form.
struct FormField {
    name: &'static str,
    label: &'static str,
    help: &'static str,
    kind: &'static str,
    required: bool,
    value: String,
    error: Option<String>,
}

/// The provider fields of the product page, in its order, with what each is for.
const PROVIDER_FIELDS: &[(&str, &str, &str, &str, bool)] = &[
    (
        "identifier",
        "Identifier",
        "A name for this provider, unique in the organization.",
        "text",
        true,
    ),
    (
        "issuer",
        "Issuer",
        "The exact iss of its tokens, e.g. https://dev-123.okta.com/oauth2/default.",
        "url",
        true,
    ),
    (
        "jwks_endpoint_uri",
        "JWKS endpoint",
        "Where its signing keys are. Empty: discovered from the issuer.",
        "url",
        false,
    ),
    (
        "audience",
        "Audience",
        "A value the tokens' aud must contain.",
        "text",
        true,
    ),
    (
        "scope",
        "Scope",
        "A scope the tokens must carry. Empty: none required.",
        "text",
        false,
    ),
    (
        "token_endpoint_uri",
        "Token endpoint",
        "Where Kafka clients get their tokens.",
        "url",
        false,
    ),
    (
        "sub_claim_name",
        "Subject claim",
        "The claim naming the user (default sub).",
        "text",
        false,
    ),
    (
        "groups_claim_name",
        "Groups claim",
        "The claim listing the user's groups (default groups).",
        "text",
        false,
    ),
    (
        "authorize_endpoint_uri",
        "Authorize endpoint",
        "Where users log in and consent.",
        "url",
        false,
    ),
    (
        "cfk_client_id",
        "Client id",
        "The client id of the platform's own client.",
        "text",
        false,
    ),
    (
        "cfk_client_secret",
        "Client secret",
        "Its secret: stored sealed, never shown again.",
        "password",
        false,
    ),
];

#[derive(Template)]
#[template(path = "console/provider_form.html")]
struct ProviderForm {
    chrome: Chrome,
    org: String,
    org_path: String,
    /// The id of the provider being changed; `None` for a registration.
    editing: Option<String>,
    fields: Vec<FormField>,
    refresh_token: bool,
    /// A refusal not tied to a field.
    general: Option<String>,
}

fn provider_form(
    user: &LoggedIn,
    org: &str,
    editing: Option<&str>,
    values: &Map<String, Value>,
    errors: &BTreeMap<String, String>,
) -> ProviderForm {
    let fields = PROVIDER_FIELDS
        .iter()
        .map(|(name, label, help, kind, required)| FormField {
            name,
            label,
            help,
            kind,
            required: *required,
            value: match (*kind, values.get(*name)) {
                ("password", _) => String::new(),
                (_, Some(Value::String(s))) => s.clone(),
                _ => String::new(),
            },
            error: errors.get(*name).cloned(),
        })
        .collect();
    let known: BTreeSet<&str> = PROVIDER_FIELDS.iter().map(|f| f.0).collect();
    let general: Vec<String> = errors
        .iter()
        .filter(|(k, _)| !known.contains(k.as_str()))
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    ProviderForm {
        chrome: Chrome::of(user, Some(org), "providers"),
        org: org.to_owned(),
        org_path: org_path(org),
        editing: editing.map(str::to_owned),
        fields,
        refresh_token: values
            .get("refresh_token")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        general: (!general.is_empty()).then(|| general.join(" ")),
    }
}

/// `GET /console/orgs/{org}/providers/new`: the form to register a provider.
pub(crate) async fn new_provider(
    State(c): State<Arc<Console>>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Response {
    let here = format!("/console/orgs/{}/providers/new", org_path(&org));
    let user = match c.logged_in(&headers, &here).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    page(
        StatusCode::OK,
        &provider_form(&user, &org, None, &Map::new(), &BTreeMap::new()),
    )
}

/// `POST /console/orgs/{org}/providers`: registers a provider through the API; its refusal
/// shows on the form, each field's message under the field.
pub(crate) async fn create_provider(
    State(c): State<Arc<Console>>,
    Path(org): Path<String>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<BTreeMap<String, String>>,
) -> Response {
    let here = format!("/console/orgs/{}/providers/new", org_path(&org));
    let user = match c.changing_by(&headers, &here, &form).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = body_of(&org, &form);
    let path = format!("/organizations/{}/oauth-providers/", org_path(&org));
    let (status, answer) = c
        .call(
            &user,
            Method::POST,
            &path,
            Some(&Value::Object(body.clone())),
        )
        .await;
    match status {
        StatusCode::CREATED => Redirect::to(&format!(
            "/console/orgs/{}/providers?done=created",
            org_path(&org)
        ))
        .into_response(),
        StatusCode::BAD_REQUEST | StatusCode::CONFLICT => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &provider_form(&user, &org, None, &body, &field_errors(&answer)),
        ),
        _ => refused(status, &answer),
    }
}

/// A provider's body from its form: the fields given (an empty one is left out: its default,
/// or for the secret, the stored one), and the checkbox.
fn body_of(org: &str, form: &BTreeMap<String, String>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("organization".into(), Value::String(org.to_owned()));
    for (name, ..) in PROVIDER_FIELDS {
        if let Some(v) = form.get(*name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            body.insert((*name).into(), Value::String(v.to_owned()));
        }
    }
    body.insert(
        "refresh_token".into(),
        Value::Bool(form.contains_key("refresh_token")),
    );
    body
}

fn item_path(org: &str, id: &str) -> String {
    format!(
        "/organizations/{}/oauth-providers/{}/",
        org_path(org),
        org_path(id)
    )
}

/// A provider as the API answers it, or the page saying why not.
pub(super) async fn provider_item(
    c: &Console,
    user: &LoggedIn,
    org: &str,
    id: &str,
) -> Result<Value, Response> {
    let (status, item) = c.call(user, Method::GET, &item_path(org, id), None).await;
    if status != StatusCode::OK {
        return Err(refused(status, &item));
    }
    Ok(item)
}

/// `GET /console/orgs/{org}/providers/{id}/edit`: the form to change a provider.
pub(crate) async fn edit_provider(
    State(c): State<Arc<Console>>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let here = format!(
        "/console/orgs/{}/providers/{}/edit",
        org_path(&org),
        org_path(&id)
    );
    let user = match c.logged_in(&headers, &here).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let (status, item) = c
        .call(&user, Method::GET, &item_path(&org, &id), None)
        .await;
    if status != StatusCode::OK {
        return refused(status, &item);
    }
    if item["read_only"] == Value::Bool(true) {
        return refused(
            StatusCode::CONFLICT,
            &serde_json::json!({"detail": "Defined in the configuration file: read-only here."}),
        );
    }
    let values = item.as_object().cloned().unwrap_or_default();
    page(
        StatusCode::OK,
        &provider_form(&user, &org, Some(&id), &values, &BTreeMap::new()),
    )
}

/// `POST /console/orgs/{org}/providers/{id}`: replaces a provider through the API (a secret
/// left empty keeps the stored one).
pub(crate) async fn update_provider(
    State(c): State<Arc<Console>>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<BTreeMap<String, String>>,
) -> Response {
    let here = format!(
        "/console/orgs/{}/providers/{}/edit",
        org_path(&org),
        org_path(&id)
    );
    let user = match c.changing_by(&headers, &here, &form).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = body_of(&org, &form);
    let (status, answer) = c
        .call(
            &user,
            Method::PUT,
            &item_path(&org, &id),
            Some(&Value::Object(body.clone())),
        )
        .await;
    match status {
        StatusCode::OK => Redirect::to(&format!(
            "/console/orgs/{}/providers?done=updated",
            org_path(&org)
        ))
        .into_response(),
        StatusCode::BAD_REQUEST | StatusCode::CONFLICT if answer.get("detail").is_none() => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &provider_form(&user, &org, Some(&id), &body, &field_errors(&answer)),
        ),
        _ => refused(status, &answer),
    }
}

/// `POST /console/orgs/{org}/providers/{id}/delete`.
pub(crate) async fn delete_provider(
    State(c): State<Arc<Console>>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<crate::management::console::CsrfForm>,
) -> Response {
    let here = format!("/console/orgs/{}/providers", org_path(&org));
    let user = match c.changing(&headers, &here, &form.csrf).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let (status, answer) = c
        .call(&user, Method::DELETE, &item_path(&org, &id), None)
        .await;
    if status != StatusCode::NO_CONTENT {
        return refused(status, &answer);
    }
    Redirect::to(&format!("{here}?done=deleted")).into_response()
}
