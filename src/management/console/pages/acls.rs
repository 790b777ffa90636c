//! The ACL bindings of an organization: list with filters, create (with the operations each
//! one implies), delete; and "why was I denied?", decided as the proxy decides.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Chrome, field_errors, org_path, page, refused};
use crate::authz::explain::{Who, explain_with};
use crate::authz::{Operation, Permission, ResourceType};
use crate::management::console::{Console, CsrfForm, LoggedIn};

/// The operations an ALLOW (or DENY) of `operation` also covers, in Kafka's words.
fn implied(operation: &str, permission: &str) -> String {
    let (Ok(operation), Ok(permission)) = (
        operation.parse::<Operation>(),
        permission.parse::<Permission>(),
    ) else {
        return String::new();
    };
    if operation == Operation::All {
        return "every operation".into();
    }
    let also: Vec<&str> = Operation::ALL
        .iter()
        .filter(|o| **o != operation && operation.covers(**o, permission))
        .map(|o| o.kafka_name())
        .collect();
    if also.is_empty() {
        String::new()
    } else {
        format!("also {}", also.join(", "))
    }
}

/// A binding as the list shows it.
struct AclRow {
    id: String,
    principal: String,
    permission: String,
    operation: String,
    implied: String,
    resource: String,
    host: String,
    read_only: bool,
}

#[derive(Deserialize, Default)]
pub(crate) struct AclQuery {
    #[serde(default)]
    principal: String,
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    resource_name: String,
    #[serde(default)]
    pattern_type: String,
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "console/acls.html")]
struct Acls {
    chrome: Chrome,
    org: String,
    org_path: String,
    filter: AclQuery,
    resource_types: &'static [ResourceType],
    rows: Vec<AclRow>,
    notice: Option<String>,
}

/// `GET /console/orgs/{org}/acls`: the organization's bindings, filtered.
pub(crate) async fn acls(
    State(c): State<Arc<Console>>,
    Path(org): Path<String>,
    Query(filter): Query<AclQuery>,
    headers: HeaderMap,
) -> Response {
    let here = format!("/console/orgs/{}/acls", org_path(&org));
    let user = match c.logged_in(&headers, &here).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let query = {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("principal", &filter.principal),
            ("resource_type", &filter.resource_type),
            ("resource_name", &filter.resource_name),
            ("pattern_type", &filter.pattern_type),
        ] {
            if !v.trim().is_empty() {
                query.append_pair(k, v.trim());
            }
        }
        query.append_pair("limit", "1000");
        query.finish()
    };
    let mut rows = Vec::new();
    let mut next = Some(format!("/organizations/{}/acls/?{query}", org_path(&org)));
    while let Some(path) = next.take() {
        let (status, body) = c.call(&user, Method::GET, &path, None).await;
        if status != StatusCode::OK {
            return refused(status, &body);
        }
        for a in body["results"].as_array().into_iter().flatten() {
            let text = |k: &str| a[k].as_str().unwrap_or_default().to_owned();
            rows.push(AclRow {
                id: text("id"),
                principal: text("principal"),
                implied: implied(&text("operation"), &text("permission")),
                permission: text("permission"),
                operation: text("operation"),
                resource: format!(
                    "{}:{}:{}",
                    text("resource_type"),
                    text("pattern_type"),
                    text("resource_name")
                ),
                host: text("host"),
                read_only: a["read_only"] == Value::Bool(true),
            });
        }
        next = body["next"].as_str().map(str::to_owned);
    }
    let notice = match filter.done.as_deref() {
        Some("created") => Some("The binding is in force: it decides the next request.".into()),
        Some("deleted") => {
            Some("The binding is deleted: the next request is decided without it.".into())
        }
        _ => None,
    };
    page(
        StatusCode::OK,
        &Acls {
            chrome: Chrome::of(&user, Some(&org), "acls"),
            org_path: org_path(&org),
            org,
            filter,
            resource_types: ResourceType::ALL,
            rows,
            notice,
        },
    )
}

#[derive(Template)]
#[template(path = "console/acl_form.html")]
struct AclForm {
    chrome: Chrome,
    org: String,
    org_path: String,
    values: BTreeMap<String, String>,
    errors: BTreeMap<String, String>,
    resource_types: &'static [ResourceType],
    operations: Vec<(&'static str, String)>,
    general: Option<String>,
}

impl AclForm {
    fn value<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.values.get(name).map_or(default, String::as_str)
    }

    fn error(&self, name: &str) -> Option<&str> {
        self.errors.get(name).map(String::as_str)
    }
}

const ACL_FIELDS: &[&str] = &[
    "principal",
    "host",
    "resource_type",
    "resource_name",
    "pattern_type",
    "operation",
    "permission",
];

fn acl_form(
    user: &LoggedIn,
    org: &str,
    values: BTreeMap<String, String>,
    errors: BTreeMap<String, String>,
) -> AclForm {
    let general: Vec<String> = errors
        .iter()
        .filter(|(k, _)| !ACL_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    AclForm {
        chrome: Chrome::of(user, Some(org), "acls"),
        org: org.to_owned(),
        org_path: org_path(org),
        values,
        errors,
        resource_types: ResourceType::ALL,
        operations: Operation::ALL
            .iter()
            .map(|o| (o.kafka_name(), implied(o.kafka_name(), "ALLOW")))
            .collect(),
        general: (!general.is_empty()).then(|| general.join(" ")),
    }
}

/// `GET /console/orgs/{org}/acls/new`.
pub(crate) async fn new_acl(
    State(c): State<Arc<Console>>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Response {
    let here = format!("/console/orgs/{}/acls/new", org_path(&org));
    match c.logged_in(&headers, &here).await {
        Ok(user) => page(
            StatusCode::OK,
            &acl_form(&user, &org, BTreeMap::new(), BTreeMap::new()),
        ),
        Err(r) => r,
    }
}

/// `POST /console/orgs/{org}/acls`: creates a binding through the API.
pub(crate) async fn create_acl(
    State(c): State<Arc<Console>>,
    Path(org): Path<String>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<BTreeMap<String, String>>,
) -> Response {
    let here = format!("/console/orgs/{}/acls/new", org_path(&org));
    let user = match c.changing_by(&headers, &here, &form).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut body = Map::new();
    let mut values = BTreeMap::new();
    for name in ACL_FIELDS {
        if let Some(v) = form.get(*name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            body.insert((*name).into(), Value::String(v.to_owned()));
            values.insert((*name).to_owned(), v.to_owned());
        }
    }
    let path = format!("/organizations/{}/acls/", org_path(&org));
    let (status, answer) = c
        .call(&user, Method::POST, &path, Some(&Value::Object(body)))
        .await;
    match status {
        StatusCode::CREATED | StatusCode::OK => Redirect::to(&format!(
            "/console/orgs/{}/acls?done=created",
            org_path(&org)
        ))
        .into_response(),
        StatusCode::BAD_REQUEST | StatusCode::CONFLICT => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &acl_form(&user, &org, values, field_errors(&answer)),
        ),
        _ => refused(status, &answer),
    }
}

/// `POST /console/orgs/{org}/acls/{id}/delete`.
pub(crate) async fn delete_acl(
    State(c): State<Arc<Console>>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    let here = format!("/console/orgs/{}/acls", org_path(&org));
    let user = match c.changing(&headers, &here, &form.csrf).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let path = format!("/organizations/{}/acls/{}/", org_path(&org), org_path(&id));
    let (status, answer) = c.call(&user, Method::DELETE, &path, None).await;
    if status != StatusCode::NO_CONTENT {
        return refused(status, &answer);
    }
    Redirect::to(&format!("{here}?done=deleted")).into_response()
}

#[derive(Deserialize, Default)]
pub(crate) struct WhyQuery {
    #[serde(default)]
    user: String,
    #[serde(default)]
    groups: String,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    resource_name: String,
    #[serde(default)]
    host: String,
}

/// The answer to "why was I denied?".
struct Verdict {
    allowed: bool,
    grounds: String,
}

#[derive(Template)]
#[template(path = "console/why.html")]
struct Why {
    chrome: Chrome,
    org: String,
    org_path: String,
    q: WhyQuery,
    resource_types: &'static [ResourceType],
    operations: &'static [Operation],
    verdict: Option<Verdict>,
    errors: BTreeMap<String, String>,
}

/// `GET /console/orgs/{org}/why`: the decision for a principal, its groups, an operation and a
/// resource, and the binding (or super user entry) that made it, as the proxy decides now.
pub(crate) async fn why(
    State(c): State<Arc<Console>>,
    Path(org): Path<String>,
    Query(q): Query<WhyQuery>,
    headers: HeaderMap,
) -> Response {
    let here = format!("/console/orgs/{}/why", org_path(&org));
    let user = match c.logged_in(&headers, &here).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    // The user must manage the organization: the API's list answers that.
    let (status, body) = c
        .call(
            &user,
            Method::GET,
            &format!("/organizations/{}/acls/?limit=1", org_path(&org)),
            None,
        )
        .await;
    if status != StatusCode::OK {
        return refused(status, &body);
    }
    let mut errors = BTreeMap::new();
    let mut verdict = None;
    if !q.user.trim().is_empty() || !q.operation.is_empty() {
        let user_name = q.user.trim().trim_start_matches("User:").to_owned();
        if user_name.is_empty() {
            errors.insert("user".into(), "Name the user.".into());
        }
        let operation = q.operation.parse::<Operation>().map_err(|e| e.to_string());
        let resource_type = q
            .resource_type
            .parse::<ResourceType>()
            .map_err(|e| e.to_string());
        let host = if q.host.trim().is_empty() {
            Ok(std::net::IpAddr::from([127, 0, 0, 1]))
        } else {
            q.host
                .trim()
                .parse()
                .map_err(|_| format!("{:?} is not an IP address", q.host.trim()))
        };
        if let Err(e) = &operation {
            errors.insert("operation".into(), e.clone());
        }
        if let Err(e) = &resource_type {
            errors.insert("resource_type".into(), e.clone());
        }
        if let Err(e) = &host {
            errors.insert("host".into(), e.clone());
        }
        let name = match resource_type {
            Ok(ResourceType::Cluster) => crate::authz::acl::CLUSTER_NAME.to_owned(),
            _ => q.resource_name.trim().to_owned(),
        };
        if name.is_empty() {
            errors.insert("resource_name".into(), "Name the resource.".into());
        }
        if let (true, Ok(operation), Ok(resource_type), Ok(host)) =
            (errors.is_empty(), operation, resource_type, host)
        {
            let groups: Vec<String> = q
                .groups
                .split([',', ' '])
                .map(|g| g.trim().trim_start_matches("Group:"))
                .filter(|g| !g.is_empty())
                .map(str::to_owned)
                .collect();
            let who = Who {
                organization: &org,
                user: &user_name,
                groups: &groups,
                host,
            };
            let snapshot = c.api.data_plane.current();
            let (allowed, grounds) = explain_with(
                &snapshot.acls,
                &who,
                operation,
                (resource_type, &name),
                |_| None,
            );
            verdict = Some(Verdict { allowed, grounds });
        }
    }
    page(
        StatusCode::OK,
        &Why {
            chrome: Chrome::of(&user, Some(&org), "why"),
            org_path: org_path(&org),
            org,
            q,
            resource_types: ResourceType::ALL,
            operations: Operation::ALL,
            verdict,
            errors,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implied_operations_are_kafkas() {
        assert_eq!(implied("READ", "ALLOW"), "also DESCRIBE");
        assert_eq!(implied("ALTER_CONFIGS", "ALLOW"), "also DESCRIBE_CONFIGS");
        assert_eq!(implied("READ", "DENY"), "");
        assert_eq!(implied("ALL", "DENY"), "every operation");
        assert_eq!(implied("CREATE", "ALLOW"), "");
        assert_eq!(implied("nonsense", "ALLOW"), "");
    }
}
