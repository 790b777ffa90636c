//! How the API's answers are shown: tables and fields for people, the API's JSON for scripts,
//! and every refusal with its reason and the fields it names.

use clap::ValueEnum;
use serde_json::Value;

use super::{Act, Answer, Kind};

/// How answers are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables and `field: value` lines.
    Table,
    /// The API's answer as JSON.
    Json,
}

/// What a command prints, and its exit code.
#[derive(Debug, PartialEq, Eq)]
pub struct Shown {
    pub code: u8,
    pub stdout: String,
    pub stderr: String,
}

impl Shown {
    fn ok(stdout: String) -> Self {
        Self {
            code: 0,
            stdout,
            stderr: String::new(),
        }
    }

    pub(super) fn failed(code: u8, stderr: String) -> Self {
        Self {
            code,
            stdout: String::new(),
            stderr: stderr + "\n",
        }
    }
}

/// The columns of a list, each with the item fields that fill it.
fn columns(kind: Kind) -> &'static [(&'static str, &'static [&'static str])] {
    match kind {
        Kind::Providers => &[
            ("ID", &["id"]),
            ("IDENTIFIER", &["identifier"]),
            ("ISSUER", &["issuer"]),
            ("AUDIENCE", &["audience"]),
            ("SCOPE", &["scope"]),
            ("READ-ONLY", &["read_only"]),
        ],
        Kind::Acls => &[
            ("ID", &["id"]),
            ("PRINCIPAL", &["principal"]),
            ("PERMISSION", &["permission"]),
            ("OPERATION", &["operation"]),
            (
                "RESOURCE",
                &["resource_type", "pattern_type", "resource_name"],
            ),
            ("HOST", &["host"]),
            ("READ-ONLY", &["read_only"]),
        ],
        Kind::Clusters => &[
            ("ID", &["id"]),
            ("NAME", &["name"]),
            ("UPSTREAM", &["upstream"]),
            ("NAMESPACE", &["namespace"]),
            ("BOOTSTRAP", &["bootstrap_servers"]),
            ("READ-ONLY", &["read_only"]),
        ],
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The answer to a command about `kind`.
pub(super) fn answer(kind: Kind, act: Act, output: Output, answer: &Answer) -> Shown {
    if answer.status >= 300 {
        return refusal(output, answer);
    }
    match output {
        Output::Json if answer.body.is_null() => Shown::ok(String::new()),
        Output::Json => Shown::ok(pretty(&answer.body)),
        Output::Table => Shown::ok(match act {
            Act::List => table(
                kind,
                answer.body["results"].as_array().map_or(&[], Vec::as_slice),
            ),
            Act::One => fields(&answer.body),
            Act::Deleted => "deleted\n".to_owned(),
        }),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()) + "\n"
}

/// A table of `items`, one line each, with a header; columns as wide as their widest cell.
fn table(kind: Kind, items: &[Value]) -> String {
    let columns = columns(kind);
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|(_, keys)| match keys {
                    ["read_only"] => {
                        if item["read_only"] == Value::Bool(true) {
                            "yes".to_owned()
                        } else {
                            String::new()
                        }
                    }
                    keys => keys
                        .iter()
                        .map(|k| cell(&item[*k]))
                        .collect::<Vec<_>>()
                        .join(":"),
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (title, _))| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([title.len()])
                .max()
                .unwrap_or_default()
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut out = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        out.truncate(out.trim_end().len());
        out + "\n"
    };
    let mut out = line(columns.iter().map(|(t, _)| *t).collect());
    for r in &rows {
        out += &line(r.iter().map(String::as_str).collect());
    }
    out
}

/// One item, a `field: value` line per field.
fn fields(item: &Value) -> String {
    let Some(object) = item.as_object() else {
        return pretty(item);
    };
    let width = object.keys().map(String::len).max().unwrap_or_default();
    object
        .iter()
        .map(|(k, v)| format!("{k:<width$}  {}\n", cell(v)))
        .collect()
}

/// A refusal: exit code 1, the API's reason and each refused field on stderr (and with
/// `--output json`, the API's body on stdout).
fn refusal(output: Output, answer: &Answer) -> Shown {
    let status = reqwest::StatusCode::from_u16(answer.status)
        .map(|s| s.to_string())
        .unwrap_or_else(|_| answer.status.to_string());
    let mut stderr = format!("api: refused: {status}");
    match &answer.body {
        Value::Object(o) if o.contains_key("detail") => {
            stderr += &format!(": {}", cell(&o["detail"]));
        }
        Value::Object(o) => {
            for (field, messages) in o {
                let messages = match messages {
                    Value::Array(list) => list.iter().map(cell).collect(),
                    other => vec![cell(other)],
                };
                for m in messages {
                    stderr += &format!("\n  {field}: {m}");
                }
            }
        }
        Value::Null => {}
        other => stderr += &format!(": {}", cell(other)),
    }
    Shown {
        code: 1,
        stdout: match output {
            Output::Json if !answer.body.is_null() => pretty(&answer.body),
            _ => String::new(),
        },
        stderr: stderr + "\n",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_list_is_a_table_with_columns_as_wide_as_their_cells() {
        let items = [
            json!({"id": "1", "principal": "Group:ops", "permission": "ALLOW", "operation": "READ",
                   "resource_type": "TOPIC", "pattern_type": "PREFIXED", "resource_name": "orders.",
                   "host": "*"}),
            json!({"id": "22", "principal": "User:ann", "permission": "DENY", "operation": "ALL",
                   "resource_type": "GROUP", "pattern_type": "LITERAL", "resource_name": "g",
                   "host": "*", "read_only": true}),
        ];
        assert_eq!(
            table(Kind::Acls, &items),
            "ID  PRINCIPAL  PERMISSION  OPERATION  RESOURCE                HOST  READ-ONLY\n\
             1   Group:ops  ALLOW       READ       TOPIC:PREFIXED:orders.  *\n\
             22  User:ann   DENY        ALL        GROUP:LITERAL:g         *     yes\n"
        );
    }

    #[test]
    fn a_refusal_names_each_field_and_exits_1() {
        let answer = Answer {
            status: 400,
            body: json!({"issuer": ["This field is required."], "audience": ["Must not be null."]}),
        };
        let shown = super::answer(Kind::Providers, Act::One, Output::Table, &answer);
        assert_eq!(shown.code, 1);
        assert_eq!(shown.stdout, "");
        assert_eq!(
            shown.stderr,
            "api: refused: 400 Bad Request\n  audience: Must not be null.\n  issuer: This field is required.\n"
        );
        let shown = super::answer(Kind::Providers, Act::One, Output::Json, &answer);
        assert_eq!(shown.code, 1);
        assert_eq!(
            serde_json::from_str::<Value>(&shown.stdout).expect("json"),
            answer.body
        );
        let answer = Answer {
            status: 403,
            body: json!({"detail": "You do not have permission to perform this action."}),
        };
        let shown = super::answer(Kind::Acls, Act::List, Output::Table, &answer);
        assert_eq!(
            shown.stderr,
            "api: refused: 403 Forbidden: You do not have permission to perform this action.\n"
        );
    }

    #[test]
    fn one_item_is_a_line_per_field() {
        let answer = Answer {
            status: 201,
            body: json!({"id": "c1", "name": "main", "namespace": null}),
        };
        let shown = super::answer(Kind::Clusters, Act::One, Output::Table, &answer);
        assert_eq!(
            shown,
            Shown::ok("id         c1\nname       main\nnamespace  -\n".to_owned())
        );
    }
}
