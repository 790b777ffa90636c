//! "Test this provider": its discovery document and its keys as the proxy fetches them
//! (reachability, keys, algorithms), and a pasted token checked against it claim by claim,
//! with the verdict the proxy would give.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::providers::provider_item;
use super::{Chrome, org_path, page};
use crate::identity::{Provider, ProviderSpec, Providers};
use crate::management::console::{Console, LoggedIn};

/// One fetch of the provider's.
struct Fetch {
    what: &'static str,
    url: String,
    outcome: Result<String, String>,
}

/// A signing key the provider publishes.
struct Key {
    kid: String,
    kty: String,
    alg: String,
    usage: String,
}

/// One check of a token.
struct Check {
    what: &'static str,
    passed: bool,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/provider_test.html")]
struct TestPage {
    chrome: Chrome,
    org: String,
    org_path: String,
    id: String,
    identifier: String,
    fetches: Vec<Fetch>,
    keys: Vec<Key>,
    algorithms: Vec<String>,
    /// The pasted token's checks and the verdict, once one was given.
    checks: Vec<Check>,
    verdict: Option<Result<String, String>>,
}

/// The provider's registration, from the API's answer.
fn spec_of(org: &str, item: &Value) -> ProviderSpec {
    let text = |k: &str| item[k].as_str().unwrap_or_default().to_owned();
    let optional = |k: &str| item[k].as_str().map(str::to_owned);
    ProviderSpec {
        organization: org.to_owned(),
        identifier: text("identifier"),
        issuer: text("issuer"),
        jwks_endpoint_uri: optional("jwks_endpoint_uri"),
        audience: text("audience"),
        scope: text("scope"),
        token_endpoint_uri: optional("token_endpoint_uri"),
        sub_claim_name: text("sub_claim_name"),
        groups_claim_name: text("groups_claim_name"),
        authorize_endpoint_uri: optional("authorize_endpoint_uri"),
        refresh_token: item["refresh_token"].as_bool().unwrap_or(true),
        cfk_client_id: None,
        cfk_client_secret: None,
        clock_skew_secs: crate::identity::default_clock_skew(),
        jwks_refresh_secs: 300,
        jwks_min_refresh_secs: 10,
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let response = http
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("answered {status}"));
    }
    response
        .json()
        .await
        .map_err(|e| format!("not JSON: {}", e.without_url()))
}

/// The page for `item` (the provider as the API answers it), with `token` checked if given.
async fn test_page(
    c: &Console,
    user: &LoggedIn,
    org: &str,
    id: &str,
    item: &Value,
    token: Option<&str>,
) -> TestPage {
    let spec = spec_of(org, item);
    let http = &c.api.http;
    let mut fetches = Vec::new();
    let discovery_url = format!(
        "{}/.well-known/openid-configuration",
        spec.issuer.trim_end_matches('/')
    );
    let discovery = get_json(http, &discovery_url).await;
    let mut algorithms = Vec::new();
    let discovered_jwks = match &discovery {
        Ok(d) => {
            algorithms = d["id_token_signing_alg_values_supported"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            let issuer_ok = d["issuer"].as_str() == Some(spec.issuer.as_str());
            fetches.push(Fetch {
                what: "Discovery document",
                url: discovery_url.clone(),
                outcome: if issuer_ok {
                    Ok("reachable; its issuer is the registered one".into())
                } else {
                    Err(format!(
                        "reachable, but it names issuer {}",
                        d["issuer"].as_str().unwrap_or("(none)")
                    ))
                },
            });
            d["jwks_uri"].as_str().map(str::to_owned)
        }
        Err(e) => {
            fetches.push(Fetch {
                what: "Discovery document",
                url: discovery_url.clone(),
                outcome: Err(e.clone()),
            });
            None
        }
    };
    let mut keys = Vec::new();
    let mut jwks = None;
    match spec.jwks_endpoint_uri.clone().or(discovered_jwks) {
        Some(url) => {
            let fetched = get_json(http, &url).await;
            let outcome = match &fetched {
                Ok(set) => {
                    keys = set["keys"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|k| {
                            let text = |f: &str| k[f].as_str().unwrap_or("-").to_owned();
                            Key {
                                kid: text("kid"),
                                kty: text("kty"),
                                alg: text("alg"),
                                usage: text("use"),
                            }
                        })
                        .collect();
                    if keys.is_empty() {
                        Err("reachable, but it holds no key".to_owned())
                    } else {
                        Ok(format!("reachable; {} keys", keys.len()))
                    }
                }
                Err(e) => Err(e.clone()),
            };
            jwks = fetched.ok();
            fetches.push(Fetch {
                what: "Signing keys (JWKS)",
                url,
                outcome,
            });
        }
        None => fetches.push(Fetch {
            what: "Signing keys (JWKS)",
            url: "-".into(),
            outcome: Err("no JWKS endpoint: none registered, none discovered".into()),
        }),
    }
    let (checks, verdict) = match token.map(str::trim).filter(|t| !t.is_empty()) {
        Some(token) => {
            let (checks, verdict) = check_token(&spec, jwks.as_ref(), http, token).await;
            (checks, Some(verdict))
        }
        None => (Vec::new(), None),
    };
    TestPage {
        chrome: Chrome::of(user, Some(org), "providers"),
        org: org.to_owned(),
        org_path: org_path(org),
        id: id.to_owned(),
        identifier: spec.identifier.clone(),
        fetches,
        keys,
        algorithms,
        checks,
        verdict,
    }
}

/// Each claim check of `token` against `spec`, and the verdict the proxy gives (with the keys
/// just fetched).
async fn check_token(
    spec: &ProviderSpec,
    jwks: Option<&Value>,
    http: &reqwest::Client,
    token: &str,
) -> (Vec<Check>, Result<String, String>) {
    let verdict = match jwks {
        Some(set) => {
            let provider = Provider::with_keys(spec.clone(), set, http.clone());
            Providers::new([Arc::new(provider)])
                .validate(token)
                .await
                .map(|id| {
                    format!(
                        "Accepted: user {} with groups [{}]",
                        id.user,
                        id.groups.join(", ")
                    )
                })
                .map_err(|f| format!("Refused: {f}"))
        }
        None => Err("Refused: the provider's keys could not be fetched".into()),
    };
    let Some(claims) = token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    else {
        let malformed = Check {
            what: "Token",
            passed: false,
            detail: "not a JWT: three base64url parts with JSON claims".into(),
        };
        return (vec![malformed], verdict);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let skew = spec.clock_skew_secs;
    let mut checks = Vec::new();
    let signature_ok = !matches!(
        &verdict,
        Err(e) if ["signature", "algorithm", "signing key", "malformed", "keys could not"]
            .iter()
            .any(|w| e.contains(w))
    );
    checks.push(Check {
        what: "Signature",
        passed: signature_ok,
        detail: if signature_ok {
            "made by a key the provider publishes, with an accepted algorithm".into()
        } else {
            verdict.clone().err().unwrap_or_default()
        },
    });
    let iss = claims["iss"].as_str().unwrap_or_default();
    checks.push(Check {
        what: "Issuer (iss)",
        passed: iss == spec.issuer,
        detail: format!("{iss:?}, registered {:?}", spec.issuer),
    });
    let audiences: Vec<&str> = match &claims["aud"] {
        Value::String(a) => vec![a.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    checks.push(Check {
        what: "Audience (aud)",
        passed: audiences.contains(&spec.audience.as_str()),
        detail: format!(
            "[{}], must contain {:?}",
            audiences.join(", "),
            spec.audience
        ),
    });
    let exp = claims["exp"].as_u64();
    checks.push(Check {
        what: "Expiry (exp)",
        passed: exp.is_some_and(|e| e.saturating_add(skew) >= now),
        detail: match exp {
            Some(e) if e >= now => format!("in {} s", e - now),
            Some(e) => format!("{} s ago", now - e),
            None => "missing".into(),
        },
    });
    if let Some(nbf) = claims["nbf"].as_u64() {
        checks.push(Check {
            what: "Not before (nbf)",
            passed: nbf <= now.saturating_add(skew),
            detail: if nbf <= now {
                "already valid".into()
            } else {
                format!("valid in {} s", nbf - now)
            },
        });
    }
    if !spec.scope.is_empty() {
        let scopes: Vec<&str> = claims["scope"]
            .as_str()
            .or(claims["scp"].as_str())
            .map(|s| s.split(' ').collect())
            .unwrap_or_default();
        checks.push(Check {
            what: "Scope",
            passed: scopes.contains(&spec.scope.as_str()),
            detail: format!("[{}], must contain {:?}", scopes.join(", "), spec.scope),
        });
    }
    let sub = claims[spec.sub_claim_name.as_str()]
        .as_str()
        .unwrap_or_default();
    checks.push(Check {
        what: "User",
        passed: !sub.is_empty(),
        detail: format!("claim {}: {sub:?}", spec.sub_claim_name),
    });
    let groups = match &claims[spec.groups_claim_name.as_str()] {
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null => "none".into(),
        other => other.to_string(),
    };
    checks.push(Check {
        what: "Groups",
        passed: true,
        detail: format!("claim {}: {groups}", spec.groups_claim_name),
    });
    (checks, verdict)
}

/// `GET /console/orgs/{org}/providers/{id}/test`.
pub(crate) async fn test_provider(
    State(c): State<Arc<Console>>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let here = format!(
        "/console/orgs/{}/providers/{}/test",
        org_path(&org),
        org_path(&id)
    );
    let user = match c.logged_in(&headers, &here).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match provider_item(&c, &user, &org, &id).await {
        Ok(item) => page(
            StatusCode::OK,
            &test_page(&c, &user, &org, &id, &item, None).await,
        ),
        Err(r) => r,
    }
}

/// `POST /console/orgs/{org}/providers/{id}/test`: the same, with a pasted token checked. A
/// POST, so that the token never sits in an address or a log line.
pub(crate) async fn test_token(
    State(c): State<Arc<Console>>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<BTreeMap<String, String>>,
) -> Response {
    let here = format!(
        "/console/orgs/{}/providers/{}/test",
        org_path(&org),
        org_path(&id)
    );
    let user = match c.changing_by(&headers, &here, &form).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match provider_item(&c, &user, &org, &id).await {
        Ok(item) => {
            let token = form.get("token").map(String::as_str);
            page(
                StatusCode::OK,
                &test_page(&c, &user, &org, &id, &item, token).await,
            )
        }
        Err(r) => r,
    }
}
