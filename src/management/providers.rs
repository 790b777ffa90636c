//! `/organizations/{org}/oauth-providers/`: an organization's identity providers, as the
//! product documentation describes them. The client secret is write-only: stored and used,
//! answered as `********`, never logged. Sending `********` back (a body read from a GET)
//! keeps the stored secret.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::body::{Fields, Given, Mode, query};
use super::errors::ApiError;
use super::time::{now_micros, rfc3339_micros};
use super::{Api, Page, read_only};
use crate::store::{Position, StoredProvider};

/// How a write-only secret is shown.
pub const REDACTED: &str = "********";

/// The fields the API sets itself.
const READ_ONLY: [&str; 3] = ["id", "created_at", "updated_at"];

/// A provider as the API shows it.
pub(crate) fn to_json(p: &StoredProvider) -> Value {
    json!({
        "id": p.id,
        "organization": p.organization,
        "identifier": p.identifier,
        "issuer": p.issuer,
        "jwks_endpoint_uri": p.jwks_endpoint_uri,
        "audience": p.audience,
        "scope": p.scope,
        "token_endpoint_uri": p.token_endpoint_uri,
        "sub_claim_name": p.sub_claim_name,
        "groups_claim_name": p.groups_claim_name,
        "authorize_endpoint_uri": p.authorize_endpoint_uri,
        "refresh_token": p.refresh_token,
        "cfk_client_id": p.cfk_client_id,
        "cfk_client_secret": p.cfk_client_secret.as_ref().map(|_| REDACTED),
        "created_at": rfc3339_micros(p.created_at),
        "updated_at": rfc3339_micros(p.updated_at),
    })
}

/// A provider of the configuration file as the API shows it: marked read-only.
/// A provider of the configuration file in the stored form, with an id derived from its
/// organization and identifier (stable across restarts) and the time the file was loaded.
pub(crate) fn from_file(spec: &crate::identity::ProviderSpec, loaded_at: i64) -> StoredProvider {
    let key = format!(
        "kafka-oidc-proxy:provider:{}/{}",
        spec.organization, spec.identifier
    );
    StoredProvider {
        id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, key.as_bytes()).to_string(),
        organization: spec.organization.clone(),
        identifier: spec.identifier.clone(),
        issuer: spec.issuer.clone(),
        jwks_endpoint_uri: spec.jwks_endpoint_uri.clone(),
        audience: spec.audience.clone(),
        scope: spec.scope.clone(),
        token_endpoint_uri: spec.token_endpoint_uri.clone(),
        sub_claim_name: spec.sub_claim_name.clone(),
        groups_claim_name: spec.groups_claim_name.clone(),
        authorize_endpoint_uri: spec.authorize_endpoint_uri.clone(),
        refresh_token: spec.refresh_token,
        cfk_client_id: spec.cfk_client_id.clone(),
        cfk_client_secret: spec
            .cfk_client_secret
            .as_ref()
            .map(|x| x.expose().to_owned()),
        created_at: loaded_at,
        updated_at: loaded_at,
    }
}

/// Applies a body to `p` (a blank one for a create), checking every field.
fn read_body(api: &Api, org: &str, mode: Mode, fields: &mut Fields, p: &mut StoredProvider) {
    fields.ignore(&READ_ONLY);
    fields.organization(org);
    let required = mode != Mode::Patch;
    for (field, slot) in [
        ("identifier", &mut p.identifier),
        ("issuer", &mut p.issuer),
        ("audience", &mut p.audience),
    ] {
        match fields.string(field) {
            Given::Value(v) => *slot = v,
            Given::Null => fields.error(field, "Must not be null."),
            Given::Absent if required => fields.error(field, "This field is required."),
            Given::Absent => {}
        }
    }
    for (field, slot, default) in [
        ("scope", &mut p.scope, ""),
        ("sub_claim_name", &mut p.sub_claim_name, "sub"),
        ("groups_claim_name", &mut p.groups_claim_name, "groups"),
    ] {
        match fields.string(field) {
            Given::Value(v) => *slot = v,
            Given::Null => fields.error(field, "Must not be null."),
            Given::Absent if required => *slot = default.to_owned(),
            Given::Absent => {}
        }
    }
    for (field, slot) in [
        ("jwks_endpoint_uri", &mut p.jwks_endpoint_uri),
        ("token_endpoint_uri", &mut p.token_endpoint_uri),
        ("authorize_endpoint_uri", &mut p.authorize_endpoint_uri),
        ("cfk_client_id", &mut p.cfk_client_id),
    ] {
        match fields.string(field) {
            Given::Value(v) => *slot = Some(v),
            Given::Null => *slot = None,
            Given::Absent if required => *slot = None,
            Given::Absent => {}
        }
    }
    match fields.string("cfk_client_secret") {
        Given::Value(v) if v == REDACTED => {}
        Given::Value(v) => p.cfk_client_secret = Some(v),
        Given::Null => p.cfk_client_secret = None,
        // Write-only: a replacement that leaves it out keeps it.
        Given::Absent if mode == Mode::Create => p.cfk_client_secret = None,
        Given::Absent => {}
    }
    match fields.boolean("refresh_token") {
        Given::Value(b) => p.refresh_token = b,
        Given::Null => fields.error("refresh_token", "Must not be null."),
        Given::Absent if required => p.refresh_token = true,
        Given::Absent => {}
    }
    check(api, fields, p);
}

/// The rules on the values, as for providers in the configuration file. A field already
/// refused (absent, null, of the wrong type) is not reported again.
fn check(api: &Api, fields: &mut Fields, p: &StoredProvider) {
    for (field, message) in super::spec_of(p).problems(&api.plain_http) {
        if !fields.has_error(&field) {
            fields.error(&field, message);
        }
    }
}

/// A conflict with the configuration file's providers of the same organization (the store
/// checks its own).
fn config_conflict(api: &Api, p: &StoredProvider) -> Option<ApiError> {
    let same_organization = api
        .config_providers
        .iter()
        .filter(|spec| spec.organization == p.organization);
    same_organization.into_iter().find_map(|spec| {
        if spec.identifier == p.identifier {
            Some(ApiError::conflict(
                "identifier",
                "the configuration file defines a provider with this identifier",
            ))
        } else if spec.issuer == p.issuer && spec.audience == p.audience {
            Some(ApiError::conflict(
                "issuer",
                "the configuration file defines a provider with this issuer and audience",
            ))
        } else {
            None
        }
    })
}

fn blank(org: &str) -> StoredProvider {
    let now = now_micros();
    StoredProvider {
        id: uuid::Uuid::new_v4().to_string(),
        organization: org.to_owned(),
        identifier: String::new(),
        issuer: String::new(),
        jwks_endpoint_uri: None,
        audience: String::new(),
        scope: String::new(),
        token_endpoint_uri: None,
        sub_claim_name: "sub".into(),
        groups_claim_name: "groups".into(),
        authorize_endpoint_uri: None,
        refresh_token: true,
        cfk_client_id: None,
        cfk_client_secret: None,
        created_at: now,
        updated_at: now,
    }
}

/// POST: registers a provider.
pub(crate) async fn create(
    State(api): State<Arc<Api>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Path(org) = path.map_err(|_| ApiError::NotFound)?;
    let caller = api.authorize(&headers, &org).await?;
    let mut fields = api.fields(&headers, body).await?;
    let mut p = blank(&org);
    read_body(&api, &org, Mode::Create, &mut fields, &mut p);
    fields.finish()?;
    if let Some(e) = config_conflict(&api, &p) {
        return Err(e);
    }
    api.store.create_provider(&p).await?;
    api.changed().await;
    tracing::info!(organization = %org, id = %p.id, identifier = %p.identifier, issuer = %p.issuer, by = %caller, "provider registered");
    Ok((StatusCode::CREATED, axum::Json(to_json(&p))).into_response())
}

/// GET on the collection: one page of the organization's providers.
pub(crate) async fn list(
    State(api): State<Arc<Api>>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(org) = path.map_err(|_| ApiError::NotFound)?;
    api.authorize(&headers, &org).await?;
    let mut params = query(raw.as_deref(), &["limit", "offset", "after"])?;
    let page = PageQuery::from(&mut params).check()?;
    let fixed = api
        .file_providers(&org)
        .map(|p| read_only(to_json(p)))
        .collect();
    let items = page
        .over(fixed, async |limit, offset, after| {
            let (items, count) = api.store.providers(&org, limit, offset, after).await?;
            let last = items.last().map(|p| Position {
                created_at: p.created_at,
                id: p.id.clone(),
            });
            Ok((items.iter().map(to_json).collect(), count, last))
        })
        .await?;
    let body = page.body(&org, "oauth-providers", &[], items);
    Ok(axum::Json(body).into_response())
}

/// GET on one provider.
pub(crate) async fn get(
    State(api): State<Arc<Api>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path((org, id)) = path.map_err(|_| ApiError::NotFound)?;
    api.authorize(&headers, &org).await?;
    if let Some(p) = api.file_providers(&org).find(|p| p.id == id) {
        return Ok(axum::Json(read_only(to_json(p))).into_response());
    }
    let p = api.find(&org, &id).await?;
    Ok(axum::Json(to_json(&p)).into_response())
}

/// PUT: replaces a provider.
pub(crate) async fn replace(
    State(api): State<Arc<Api>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Path((org, id)) = path.map_err(|_| ApiError::NotFound)?;
    change(api, org, id, headers, body, Mode::Replace).await
}

/// PATCH: changes some of a provider's fields.
pub(crate) async fn patch(
    State(api): State<Arc<Api>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Path((org, id)) = path.map_err(|_| ApiError::NotFound)?;
    change(api, org, id, headers, body, Mode::Patch).await
}

async fn change(
    api: Arc<Api>,
    org: String,
    id: String,
    headers: HeaderMap,
    body: Body,
    mode: Mode,
) -> Result<Response, ApiError> {
    let caller = api.authorize(&headers, &org).await?;
    if api.file_providers(&org).any(|p| p.id == id) {
        return Err(ApiError::ReadOnly);
    }
    let mut p = api.find(&org, &id).await?;
    let mut fields = api.fields(&headers, body).await?;
    read_body(&api, &org, mode, &mut fields, &mut p);
    fields.finish()?;
    if let Some(e) = config_conflict(&api, &p) {
        return Err(e);
    }
    p.updated_at = now_micros().max(p.created_at);
    if !api.store.update_provider(&p).await? {
        return Err(ApiError::NotFound);
    }
    api.changed().await;
    tracing::info!(organization = %org, id = %p.id, identifier = %p.identifier, by = %caller, "provider changed");
    Ok(axum::Json(to_json(&p)).into_response())
}

/// DELETE: removes a provider; its tokens are refused on new connections at once.
pub(crate) async fn delete(
    State(api): State<Arc<Api>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path((org, id)) = path.map_err(|_| ApiError::NotFound)?;
    let caller = api.authorize(&headers, &org).await?;
    if api.file_providers(&org).any(|p| p.id == id) {
        return Err(ApiError::ReadOnly);
    }
    if uuid::Uuid::parse_str(&id).is_err() || !api.store.delete_provider(&org, &id).await? {
        return Err(ApiError::NotFound);
    }
    api.changed().await;
    tracing::info!(organization = %org, id = %id, by = %caller, "provider deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `?limit=&offset=&after=` of a list.
pub(crate) struct PageQuery {
    limit: Option<String>,
    offset: Option<String>,
    after: Option<String>,
}

impl PageQuery {
    /// The page parameters of `params`.
    pub(crate) fn from(params: &mut std::collections::BTreeMap<String, String>) -> Self {
        Self {
            limit: params.remove("limit"),
            offset: params.remove("offset"),
            after: params.remove("after"),
        }
    }

    pub(crate) fn check(&self) -> Result<Page, ApiError> {
        let number = |field: &str, v: &Option<String>, default: i64, max: i64| match v {
            None => Ok(default),
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (0..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::field(
                    field,
                    format!("Must be a whole number from 0 to {max}."),
                )),
            },
        };
        let limit = number("limit", &self.limit, 100, 1000)?.max(1);
        let offset = number("offset", &self.offset, 0, i64::from(i32::MAX))?;
        let after = match &self.after {
            None => None,
            Some(a) => Some(Position::from_param(a).ok_or_else(|| {
                ApiError::field("after", "Must be the after of a list's next link.")
            })?),
        };
        Ok(Page {
            limit,
            offset,
            after,
        })
    }
}
