//! The rules a provider registration must meet, in one place: the configuration file, the
//! management API and the apply of what the store holds all check a [`ProviderSpec`] with
//! [`ProviderSpec::problems`].

use super::ProviderSpec;
use crate::field_errors::FieldErrors;

/// Longest identifier, audience or claim name, in characters.
pub const MAX_NAME_CHARS: usize = 1024;

/// Which provider URLs may be plain `http://` (`identity.allow_http_loopback` and
/// `identity.allow_http_hosts`); every other one must be https.
#[derive(Debug, Clone, Default)]
pub struct PlainHttp {
    /// Loopback hosts: `localhost`, 127.0.0.0/8, ::1.
    pub loopback: bool,
    /// These host names.
    pub hosts: Vec<String>,
}

/// Checks a provider URL: absolute, https (or http where `plain_http` allows it).
pub fn check_url(url: &str, plain_http: &PlainHttp) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let (loopback, listed) = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => (ip.is_loopback(), false),
        Some(url::Host::Ipv6(ip)) => (ip.is_loopback(), false),
        Some(url::Host::Domain(d)) => (
            d == "localhost",
            plain_http.hosts.iter().any(|h| h.eq_ignore_ascii_case(d)),
        ),
        None => return Err(format!("{url:?} has no host")),
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if listed || (loopback && plain_http.loopback) => Ok(()),
        "http" if loopback => Err(format!(
            "{url:?} is http; set identity.allow_http_loopback = true to allow loopback http"
        )),
        _ => Err(format!("{url:?} must be https")),
    }
}

impl ProviderSpec {
    /// What keeps this registration from being used, each with its field (`issuer`, ...).
    pub fn problems(&self, plain_http: &PlainHttp) -> FieldErrors {
        let mut problems = FieldErrors::default();
        let name = |problems: &mut FieldErrors, field: &str, value: &str| {
            if value.trim().is_empty() {
                problems.push(field, "must not be empty");
            } else if value.chars().count() > MAX_NAME_CHARS || value.chars().any(char::is_control)
            {
                problems.push(
                    field,
                    format!(
                        "must be at most {MAX_NAME_CHARS} characters, without control characters"
                    ),
                );
            }
        };
        name(&mut problems, "organization", &self.organization);
        name(&mut problems, "identifier", &self.identifier);
        name(&mut problems, "audience", &self.audience);
        let urls = [
            ("issuer", Some(&self.issuer)),
            ("jwks_endpoint_uri", self.jwks_endpoint_uri.as_ref()),
            ("token_endpoint_uri", self.token_endpoint_uri.as_ref()),
            (
                "authorize_endpoint_uri",
                self.authorize_endpoint_uri.as_ref(),
            ),
        ];
        for (field, url) in urls {
            match url {
                Some(u) if field == "issuer" && u.trim().is_empty() => {
                    problems.push(field, "must not be empty");
                }
                Some(u) => {
                    if let Err(e) = check_url(u, plain_http) {
                        problems.push(field, e);
                    }
                }
                None => {}
            }
        }
        name(&mut problems, "sub_claim_name", &self.sub_claim_name);
        name(&mut problems, "groups_claim_name", &self.groups_claim_name);
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ProviderSpec {
        toml::from_str(
            r#"
            organization = "acme"
            identifier = "okta"
            issuer = "https://idp.example/oauth2/default"
            audience = "kafka"
            "#,
        )
        .expect("spec")
    }

    #[test]
    fn a_valid_registration_has_no_problems() {
        assert!(spec().problems(&PlainHttp::default()).is_empty());
    }

    #[test]
    fn each_problem_names_its_field() {
        let mut p = spec();
        p.identifier = " ".into();
        p.issuer = "http://idp.example".into();
        p.audience = "a\u{7}".into();
        p.groups_claim_name = "g".repeat(MAX_NAME_CHARS + 1);
        p.jwks_endpoint_uri = Some("not a url".into());
        p.token_endpoint_uri = Some("http://127.0.0.1:1/token".into());
        let fields: Vec<String> = p
            .problems(&PlainHttp::default())
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(
            fields,
            [
                "identifier",
                "audience",
                "issuer",
                "jwks_endpoint_uri",
                "token_endpoint_uri",
                "groups_claim_name",
            ]
        );
        let loopback = PlainHttp {
            loopback: true,
            hosts: vec!["IDP.example".into()],
        };
        let fields: Vec<String> = p.problems(&loopback).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "identifier",
                "audience",
                "jwks_endpoint_uri",
                "groups_claim_name",
            ]
        );
    }

    #[test]
    fn an_empty_issuer_is_reported_once() {
        let mut p = spec();
        p.issuer = String::new();
        let problems = p.problems(&PlainHttp::default());
        assert_eq!(
            problems.0,
            [("issuer".to_owned(), "must not be empty".to_owned())]
        );
    }
}
