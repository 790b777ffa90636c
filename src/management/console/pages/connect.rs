//! "Connect": ready-to-paste client settings for an organization, for librdkafka
//! (confluent-kafka), the Java client and kafkajs, with a chosen cluster and the token endpoint
//! of a chosen provider. Each logs in with the client-credentials grant, as the test harness's
//! clients do.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::{Chrome, org_path, page, refused};
use crate::management::clusters::Entry;
use crate::management::console::{Console, LoggedIn};

/// A provider that can give clients tokens.
struct ProviderChoice {
    id: String,
    identifier: String,
    token_endpoint: String,
    scope: String,
}

/// One library's settings.
struct Snippet {
    id: &'static str,
    title: &'static str,
    note: String,
    text: String,
}

#[derive(Template)]
#[template(path = "console/connect.html")]
struct Connect {
    chrome: Chrome,
    org: String,
    org_path: String,
    entries: Vec<Entry>,
    providers: Vec<ProviderChoice>,
    entry: usize,
    provider: String,
    snippets: Vec<Snippet>,
}

#[derive(Deserialize, Default)]
pub(crate) struct ConnectQuery {
    #[serde(default)]
    entry: usize,
    #[serde(default)]
    provider: String,
}

/// Every item of an API list (following its pages).
async fn all(c: &Console, user: &LoggedIn, path: String) -> Result<Vec<Value>, Response> {
    let mut items = Vec::new();
    let mut next = Some(path);
    while let Some(path) = next.take() {
        let (status, body) = c.call(user, Method::GET, &path, None).await;
        if status != StatusCode::OK {
            return Err(refused(status, &body));
        }
        items.extend(body["results"].as_array().into_iter().flatten().cloned());
        next = body["next"].as_str().map(str::to_owned);
    }
    Ok(items)
}

/// `GET /console/orgs/{org}/connect`.
pub(crate) async fn connect(
    State(c): State<Arc<Console>>,
    Path(org): Path<String>,
    Query(q): Query<ConnectQuery>,
    headers: HeaderMap,
) -> Response {
    let here = format!("/console/orgs/{}/connect", org_path(&org));
    let user = match c.logged_in(&headers, &here).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let base = format!("/organizations/{}", org_path(&org));
    let clusters = match all(&c, &user, format!("{base}/clusters/?limit=1000")).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let providers: Vec<ProviderChoice> =
        match all(&c, &user, format!("{base}/oauth-providers/?limit=1000")).await {
            Ok(v) => v
                .iter()
                .filter_map(|p| {
                    Some(ProviderChoice {
                        id: p["id"].as_str()?.to_owned(),
                        identifier: p["identifier"].as_str()?.to_owned(),
                        token_endpoint: p["token_endpoint_uri"].as_str()?.to_owned(),
                        scope: p["scope"].as_str().unwrap_or_default().to_owned(),
                    })
                })
                .collect(),
            Err(r) => return r,
        };
    let entries = c.api.clusters.entries(&clusters);
    let entry = q.entry.min(entries.len().saturating_sub(1));
    let chosen = providers
        .iter()
        .find(|p| p.id == q.provider)
        .or(providers.first());
    let snippets = match (entries.get(entry), chosen) {
        (Some(e), Some(p)) => snippets(e, p),
        _ => Vec::new(),
    };
    page(
        StatusCode::OK,
        &Connect {
            chrome: Chrome::of(&user, Some(&org), "connect"),
            org_path: org_path(&org),
            org,
            provider: chosen.map(|p| p.id.clone()).unwrap_or_default(),
            entries,
            providers,
            entry,
            snippets,
        },
    )
}

/// The settings of each library for `entry` with tokens from `provider`.
fn snippets(entry: &Entry, provider: &ProviderChoice) -> Vec<Snippet> {
    let protocol = if entry.tls {
        "SASL_SSL"
    } else {
        "SASL_PLAINTEXT"
    };
    let (bootstrap, token, scope) = (&entry.bootstrap, &provider.token_endpoint, &provider.scope);
    let rd_scope = if scope.is_empty() {
        String::new()
    } else {
        format!("\nsasl.oauthbearer.scope={scope}")
    };
    let java_scope = rd_scope.clone();
    let js_scope = if scope.is_empty() {
        String::new()
    } else {
        format!(
            "&scope={}",
            url::form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>()
        )
    };
    vec![
        Snippet {
            id: "librdkafka",
            title: "librdkafka, confluent-kafka (Python, Go, .NET), kcat",
            note: "librdkafka fetches and refreshes the token itself (client-credentials grant)."
                .into(),
            text: format!(
                "bootstrap.servers={bootstrap}\n\
                 security.protocol={protocol}\n\
                 sasl.mechanism=OAUTHBEARER\n\
                 sasl.oauthbearer.method=oidc\n\
                 sasl.oauthbearer.token.endpoint.url={token}\n\
                 sasl.oauthbearer.client.id=<your client id>\n\
                 sasl.oauthbearer.client.secret=<your client secret>{rd_scope}\n"
            ),
        },
        Snippet {
            id: "java",
            title: "Java client (Kafka 3.7 and later)",
            note: format!(
                "Start the JVM with -Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={token}: \
                 the client fetches tokens only from allowed URLs."
            ),
            text: format!(
                "bootstrap.servers={bootstrap}\n\
                 security.protocol={protocol}\n\
                 sasl.mechanism=OAUTHBEARER\n\
                 sasl.login.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler\n\
                 sasl.oauthbearer.token.endpoint.url={token}\n\
                 sasl.oauthbearer.client.credentials.client.id=<your client id>\n\
                 sasl.oauthbearer.client.credentials.client.secret=<your client secret>{java_scope}\n\
                 sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;\n"
            ),
        },
        Snippet {
            id: "kafkajs",
            title: "kafkajs (Node.js)",
            note: "kafkajs asks its oauthBearerProvider for a token; this one uses the \
                   client-credentials grant and caches nothing (add caching for production)."
                .into(),
            text: format!(
                "const {{ Kafka }} = require('kafkajs')\n\n\
                 const kafka = new Kafka({{\n\
                 \x20 brokers: ['{bootstrap}'],\n\
                 \x20 ssl: {tls},\n\
                 \x20 sasl: {{\n\
                 \x20   mechanism: 'oauthbearer',\n\
                 \x20   oauthBearerProvider: async () => {{\n\
                 \x20     const basic = Buffer.from('<your client id>:<your client secret>').toString('base64')\n\
                 \x20     const answer = await fetch('{token}', {{\n\
                 \x20       method: 'POST',\n\
                 \x20       headers: {{ authorization: `Basic ${{basic}}`, 'content-type': 'application/x-www-form-urlencoded' }},\n\
                 \x20       body: 'grant_type=client_credentials{js_scope}'\n\
                 \x20     }})\n\
                 \x20     return {{ value: (await answer.json()).access_token }}\n\
                 \x20   }}\n\
                 \x20 }}\n\
                 }})\n",
                tls = entry.tls,
            ),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_the_cluster_the_token_endpoint_and_the_scope() {
        let entry = Entry {
            label: "virtual cluster main".into(),
            bootstrap: "kafka.example.com:9300".into(),
            tls: true,
        };
        let provider = ProviderChoice {
            id: "p".into(),
            identifier: "okta".into(),
            token_endpoint: "https://idp.example/token".into(),
            scope: "kafka".into(),
        };
        let s = snippets(&entry, &provider);
        assert_eq!(s.len(), 3);
        for snippet in &s {
            assert!(
                snippet.text.contains("kafka.example.com:9300"),
                "{}",
                snippet.text
            );
            assert!(
                snippet.text.contains("https://idp.example/token"),
                "{}",
                snippet.text
            );
        }
        assert!(s[0].text.contains("security.protocol=SASL_SSL\n"));
        assert!(s[0].text.contains("sasl.oauthbearer.scope=kafka\n"));
        assert!(
            s[1].text
                .contains("sasl.oauthbearer.client.credentials.client.id=")
        );
        assert!(s[2].text.contains("ssl: true,"));
        assert!(
            s[2].text
                .contains("grant_type=client_credentials&scope=kafka")
        );
    }
}
