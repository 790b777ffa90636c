//! `/organizations/{org}/acls/`: the ACL bindings that grant an organization's users and
//! groups access, in Kafka's model (see [`crate::authz`]). A POST creates one binding (an
//! object) or several at once (an array, all or none); a list can be narrowed by principal,
//! resource type, resource name and pattern type; a binding is deleted by its id. A change
//! applies to the next request of every connection.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::body::{Fields, Given, json_value, query};
use super::errors::ApiError;
use super::providers::PageQuery;
use super::time::{now_micros, rfc3339_micros};
use super::{Api, read_only};
use crate::authz::{AclBinding, Host, Operation, PatternType, Permission, Principal, ResourceType};
use crate::store::{AclFilter, Position, StoredAcl};

/// Most bindings one POST may create.
const MAX_BATCH: usize = 1000;

/// A binding as the API shows it.
pub(crate) fn to_json(a: &StoredAcl) -> Value {
    json!({
        "id": a.id,
        "organization": a.organization,
        "principal": a.principal,
        "host": a.host,
        "resource_type": a.resource_type,
        "resource_name": a.resource_name,
        "pattern_type": a.pattern_type,
        "operation": a.operation,
        "permission": a.permission,
        "created_at": rfc3339_micros(a.created_at),
    })
}

/// The configuration file's bindings of `org` in the stored form, each once, with an id
/// derived from its content (stable across restarts and reloads) and the time the file was
/// read.
fn file_acls(api: &Api, org: &str) -> Vec<StoredAcl> {
    let mut seen = std::collections::BTreeSet::new();
    api.data_plane
        .current()
        .file_acls
        .iter()
        .filter(|b| b.organization == org)
        .map(|b| {
            let mut a = StoredAcl::new(b, api.loaded_at);
            let key = json!([
                "kafka-oidc-proxy:acl",
                a.organization,
                a.permission,
                a.principal,
                a.host,
                a.operation,
                a.resource_type,
                a.pattern_type,
                a.resource_name,
            ]);
            a.id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, key.to_string().as_bytes())
                .to_string();
            a
        })
        .filter(|a| seen.insert(a.id.clone()))
        .collect()
}

/// The data plane's form of a stored binding; `None` if it no longer parses.
pub(crate) fn binding_of(a: &StoredAcl) -> Option<AclBinding> {
    let parsed = (|| {
        Some(AclBinding {
            organization: a.organization.clone(),
            principal: a.principal.parse().ok()?,
            host: a.host.parse().ok()?,
            resource_type: a.resource_type.parse().ok()?,
            resource_name: a.resource_name.clone(),
            pattern_type: a.pattern_type.parse().ok()?,
            operation: a.operation.parse().ok()?,
            permission: a.permission.parse().ok()?,
        })
    })();
    if parsed.is_none() {
        tracing::error!(id = %a.id, "stored ACL binding unreadable; skipped");
    }
    parsed
}

/// A required field parsed with `FromStr`; its problem recorded.
fn parsed<T: FromStr>(fields: &mut Fields, field: &str, default: Option<T>) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    match fields.string(field) {
        Given::Value(v) => match v.parse() {
            Ok(t) => Some(t),
            Err(e) => {
                fields.error(field, e.to_string());
                None
            }
        },
        Given::Absent if default.is_some() => default,
        Given::Null | Given::Absent => {
            fields.error(field, "This field is required.");
            None
        }
    }
}

/// One binding of a body; `None` when it has problems (recorded in `fields`).
fn read_binding(org: &str, fields: &mut Fields) -> Option<AclBinding> {
    fields.ignore(&["id", "created_at"]);
    fields.organization(org);
    let principal: Option<Principal> = parsed(fields, "principal", None);
    let host: Option<Host> = parsed(fields, "host", Some(Host::Any));
    let resource_type: Option<ResourceType> = parsed(fields, "resource_type", None);
    let pattern_type: Option<PatternType> =
        parsed(fields, "pattern_type", Some(PatternType::Literal));
    let operation: Option<Operation> = parsed(fields, "operation", None);
    let permission: Option<Permission> = parsed(fields, "permission", None);
    let resource_name = match fields.string("resource_name") {
        Given::Value(v) => Some(v),
        Given::Null | Given::Absent => {
            fields.error("resource_name", "This field is required.");
            None
        }
    };
    let binding = AclBinding {
        organization: org.to_owned(),
        principal: principal?,
        host: host?,
        resource_type: resource_type?,
        resource_name: resource_name?,
        pattern_type: pattern_type?,
        operation: operation?,
        permission: permission?,
    };
    let problems = binding.problems();
    let valid = problems.is_empty();
    for (field, message) in problems {
        fields.error(&field, message);
    }
    valid.then_some(binding)
}

/// POST: one binding (an object) or several (an array), all or none. A binding identical to
/// a stored one is not stored again: the stored one is answered, with 200 instead of 201 when
/// the request created nothing; identical bindings of one array collapse into one.
pub(crate) async fn create(
    State(api): State<Arc<Api>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Path(org) = path.map_err(|_| ApiError::NotFound)?;
    let caller = api.authorize(&headers, &org).await?;
    let value = json_value(&headers, body, api.max_body_bytes).await?;
    let (items, many) = match value {
        Value::Object(map) => (vec![map], false),
        Value::Array(values) => {
            if values.is_empty() || values.len() > MAX_BATCH {
                return Err(ApiError::field(
                    "non_field_errors",
                    format!("Expected from 1 to {MAX_BATCH} bindings."),
                ));
            }
            let mut maps = Vec::with_capacity(values.len());
            for (i, v) in values.into_iter().enumerate() {
                match v {
                    Value::Object(map) => maps.push(map),
                    _ => return Err(ApiError::field(&format!("[{i}]"), "Must be an object.")),
                }
            }
            (maps, true)
        }
        _ => {
            return Err(ApiError::Malformed(
                "expected a JSON object or an array of objects".into(),
            ));
        }
    };
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut bindings = Vec::with_capacity(items.len());
    for (i, map) in items.into_iter().enumerate() {
        let prefix = if many {
            format!("[{i}].")
        } else {
            String::new()
        };
        let mut fields = Fields::item(map, prefix);
        let binding = read_binding(&org, &mut fields);
        let problems = fields.problems();
        if problems.is_empty() {
            bindings.extend(binding);
        }
        errors.extend(problems);
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    // Identical bindings of one body collapse into the first; one identical to a stored
    // binding is answered by that one (200 when nothing was created).
    let mut distinct: Vec<AclBinding> = Vec::with_capacity(bindings.len());
    for b in bindings {
        if !distinct.contains(&b) {
            distinct.push(b);
        }
    }
    let now = now_micros();
    let rows: Vec<StoredAcl> = distinct.iter().map(|b| StoredAcl::new(b, now)).collect();
    let created = api.store.create_acls(&rows).await?;
    if let Some(written) = created.revision {
        let added = created
            .rows
            .iter()
            .zip(&distinct)
            .filter(|((_, new), _)| *new)
            .map(|((row, _), b)| (row.id.clone(), Arc::new(b.clone())));
        api.changed_acls(&org, written, super::AclChange::Added(added.collect()))
            .await;
    }
    for ((row, new), b) in created.rows.iter().zip(&distinct) {
        if *new {
            tracing::info!(organization = %org, binding = %b, by = %caller, "ACL binding created");
        } else {
            tracing::info!(organization = %org, binding = %b, id = %row.id, by = %caller, "ACL binding already stored; answered with the stored one");
        }
    }
    let status = if created.rows.iter().any(|(_, new)| *new) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = if many {
        Value::Array(created.rows.iter().map(|(row, _)| to_json(row)).collect())
    } else {
        to_json(&created.rows[0].0)
    };
    Ok((status, axum::Json(body)).into_response())
}

/// The filters of a list, as Kafka writes the names.
fn filter(params: &mut BTreeMap<String, String>) -> Result<AclFilter, ApiError> {
    fn normalized<T: FromStr + ToString>(
        field: &str,
        v: Option<String>,
    ) -> Result<Option<String>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        v.map(|s| {
            s.parse::<T>()
                .map(|t| t.to_string())
                .map_err(|e| ApiError::field(field, e.to_string()))
        })
        .transpose()
    }
    Ok(AclFilter {
        principal: normalized::<Principal>("principal", params.remove("principal"))?,
        resource_type: normalized::<ResourceType>("resource_type", params.remove("resource_type"))?,
        resource_name: params.remove("resource_name"),
        pattern_type: normalized::<PatternType>("pattern_type", params.remove("pattern_type"))?,
    })
}

/// GET on the collection: one page of the organization's bindings that match the filters.
pub(crate) async fn list(
    State(api): State<Arc<Api>>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(org) = path.map_err(|_| ApiError::NotFound)?;
    api.authorize(&headers, &org).await?;
    let mut params = query(
        raw.as_deref(),
        &[
            "principal",
            "resource_type",
            "resource_name",
            "pattern_type",
            "limit",
            "offset",
            "after",
        ],
    )?;
    let filter = filter(&mut params)?;
    let page = PageQuery::from(&mut params).check()?;
    // The configuration file's bindings come first, then the stored ones.
    let fixed = file_acls(&api, &org)
        .iter()
        .filter(|a| filter.matches(a))
        .map(|a| read_only(to_json(a)))
        .collect();
    let items = page
        .over(fixed, async |limit, offset, after| {
            let (items, count) = api.store.acls(&org, &filter, limit, offset, after).await?;
            let last = items.last().map(|a| Position {
                created_at: a.created_at,
                id: a.id.clone(),
            });
            Ok((items.iter().map(to_json).collect(), count, last))
        })
        .await?;
    let filters: Vec<(&str, &str)> = [
        ("principal", &filter.principal),
        ("resource_type", &filter.resource_type),
        ("resource_name", &filter.resource_name),
        ("pattern_type", &filter.pattern_type),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name, value.as_deref()?)))
    .collect();
    let body = page.body(&org, "acls", &filters, items);
    Ok(axum::Json(body).into_response())
}

/// GET on one binding.
pub(crate) async fn get(
    State(api): State<Arc<Api>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path((org, id)) = path.map_err(|_| ApiError::NotFound)?;
    api.authorize(&headers, &org).await?;
    if let Some(a) = file_acls(&api, &org).iter().find(|a| a.id == id) {
        return Ok(axum::Json(read_only(to_json(a))).into_response());
    }
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(ApiError::NotFound);
    }
    let acl = api.store.acl(&org, &id).await?.ok_or(ApiError::NotFound)?;
    Ok(axum::Json(to_json(&acl)).into_response())
}

/// DELETE: the next request of every connection is decided without it.
pub(crate) async fn delete(
    State(api): State<Arc<Api>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path((org, id)) = path.map_err(|_| ApiError::NotFound)?;
    let caller = api.authorize(&headers, &org).await?;
    if file_acls(&api, &org).iter().any(|a| a.id == id) {
        return Err(ApiError::ReadOnly);
    }
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(ApiError::NotFound);
    }
    let written = api
        .store
        .delete_acl(&org, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    api.changed_acls(&org, written, super::AclChange::Removed(id.clone()))
        .await;
    tracing::info!(organization = %org, id = %id, by = %caller, "ACL binding deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
