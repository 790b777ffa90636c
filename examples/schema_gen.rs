//! Generates `src/kafka/schema/generated.rs`, the walkers that check a message body before
//! anything decodes it, from Kafka's own message definitions
//! (`clients/src/main/resources/common/message/*.json`, shipped in the `kafka-clients` jar
//! of the Kafka release kafka-protocol is generated from). Run through `scripts/schema.sh`,
//! which fetches the definitions, formats the output, and with `--check` fails when the
//! checked-in file is not what the definitions give.
//!
//! Usage: `schema_gen DIR OUT`: reads every `*Request.json` and `*Response.json` in DIR whose
//! API key the proxy forwards (`kafka::versions::SUPPORTED`) and writes OUT.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use kafka_oidc_proxy::kafka::versions::SUPPORTED;
use serde_json::Value;

/// Versions a message, field, nullability or tag applies to: `lo..=hi`, empty when lo > hi.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Range(i16, i16);

const MAX: i16 = i16::MAX;
const NONE: Range = Range(1, 0);

impl Range {
    fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("bad version range {text:?}");
        if text == "none" {
            return Ok(NONE);
        }
        if let Some(lo) = text.strip_suffix('+') {
            return Ok(Range(lo.parse().map_err(|_| bad())?, MAX));
        }
        if let Some((lo, hi)) = text.split_once('-') {
            return Ok(Range(
                lo.parse().map_err(|_| bad())?,
                hi.parse().map_err(|_| bad())?,
            ));
        }
        let v = text.parse().map_err(|_| bad())?;
        Ok(Range(v, v))
    }

    fn is_empty(self) -> bool {
        self.0 > self.1
    }

    /// Within `message`, with the ends that reach the message's own written as open, so that
    /// the same layout in two messages reads the same.
    fn within(self, message: Range) -> Range {
        let r = Range(self.0.max(message.0), self.1.min(message.1));
        if r.is_empty() {
            return NONE;
        }
        Range(
            if r.0 <= message.0 { 0 } else { r.0 },
            if r.1 >= message.1 { MAX } else { r.1 },
        )
    }
}

/// One field of a struct, as the walker needs it.
#[derive(Clone, PartialEq, Eq)]
struct Field {
    name: String,
    kind: Kind,
    array: bool,
    versions: Range,
    nullable: Range,
    tag: Option<(u32, Range)>,
}

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    Primitive(&'static str),
    /// A struct, by the name of its generated layout.
    Struct(String),
}

/// Every struct walker generated so far, deduplicated by content: the same layout in two
/// messages is one function.
#[derive(Default)]
struct Layouts {
    by_content: BTreeMap<String, String>,
    out: String,
}

/// The condition under which something of `range` is on the wire at version `v`, if any.
fn condition(range: Range) -> Option<String> {
    match (range.0, range.1) {
        (0, MAX) => None,
        (lo, MAX) => Some(format!("v >= {lo}")),
        (0, hi) => Some(format!("v <= {hi}")),
        (lo, hi) if lo == hi => Some(format!("v == {lo}")),
        (lo, hi) => Some(format!("({lo}..={hi}).contains(&v)")),
    }
}

fn guarded(range: Range, code: &str) -> String {
    match condition(range) {
        None => code.to_owned(),
        Some(c) => format!("if {c} {{ {code} }}"),
    }
}

/// The walker method of a primitive type.
fn method(primitive: &str) -> &'static str {
    match primitive {
        "I8" => "i8",
        "I16" => "i16",
        "I32" => "i32",
        "I64" => "i64",
        "Uuid" => "uuid",
        "Bool" => "bool",
        "Str" => "string",
        "Topic" => "topic_name",
        "Txn" => "transactional_id",
        _ => "bytes",
    }
}

/// Walks one value of `f` (one element, for an array), as an expression.
fn value(kind: &Kind) -> String {
    match kind {
        Kind::Primitive(p @ ("I8" | "I16" | "I32" | "Str" | "Topic" | "Txn")) => {
            format!("w.{}().map(drop)", method(p))
        }
        Kind::Primitive(p) => format!("w.{}()", method(p)),
        Kind::Struct(s) => format!("{s}(w, v)"),
    }
}

/// Walks `f`, as a statement.
fn statement(f: &Field) -> String {
    if f.array {
        return format!("w.array(|w| {})?;", value(&f.kind));
    }
    let walk = match &f.kind {
        Kind::Primitive(p) => format!("w.{}()?;", method(p)),
        Kind::Struct(s) => format!("{s}(w, v)?;"),
    };
    match (&f.kind, condition(f.nullable)) {
        (Kind::Struct(_), _) if f.nullable.is_empty() => walk,
        // A nullable struct carries an INT8 marker; the struct follows only when it is 1.
        (Kind::Struct(_), None) => format!("if w.i8()? == 1 {{ {walk} }}"),
        (Kind::Struct(_), Some(c)) => {
            format!("if !({c}) || w.i8()? == 1 {{ {walk} }}")
        }
        _ => walk,
    }
}

impl Layouts {
    /// The function walking a struct of `fields`, written once, on one line: a row of the
    /// table of layouts, with each field's name in a comment before the code that walks it.
    fn add(&mut self, name: &str, title: &str, fields: &[Field]) -> String {
        let mut code = Vec::new();
        let mut named = Vec::new();
        let mut tags = Vec::new();
        let mut named_tags = Vec::new();
        for f in fields {
            match f.tag {
                None => {
                    let walk = guarded(f.versions, &statement(f));
                    named.push(format!("/* {} */ {walk}", f.name));
                    code.push(walk);
                }
                Some((tag, r)) => {
                    let both = Range(f.versions.0.max(r.0), f.versions.1.min(r.1));
                    let guard = condition(both)
                        .map(|c| format!(" if {c}"))
                        .unwrap_or_default();
                    let walk = if f.array {
                        format!("w.array(|w| {}).map(|_| true)", value(&f.kind))
                    } else {
                        format!("{}.map(|()| true)", value(&f.kind))
                    };
                    let arm = format!("{tag}{guard} => {walk},");
                    named_tags.push(format!("/* {} */ {arm}", f.name));
                    tags.push(arm);
                }
            }
        }
        // Tags the decoder knows are decoded in place, so they are walked; every other tag is
        // skipped by its size.
        let end = |arms: &[String]| {
            if arms.is_empty() {
                "w.tagged_fields()".to_owned()
            } else {
                format!(
                    "w.tagged_fields_with(|w, tag| match tag {{ {} _ => Ok(false) }})",
                    arms.join(" ")
                )
            }
        };
        let key = format!("{} {}", code.join(" "), end(&tags));
        if let Some(existing) = self.by_content.get(&key) {
            return existing.clone();
        }
        self.by_content.insert(key, name.to_owned());
        let body = named
            .iter()
            .map(String::as_str)
            .chain([end(&named_tags).as_str()])
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            self.out,
            "/// {title}\n#[inline] fn {name}(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {{ {body} }}"
        );
        name.to_owned()
    }
}

/// One API key's layouts and versions.
struct Api {
    name: String,
    request: Option<String>,
    response: Option<String>,
    valid: Range,
    flexible: Range,
}

struct Message {
    api_key: i16,
    name: String,
    valid: Range,
    flexible: Range,
    fields: Vec<Value>,
    common: BTreeMap<String, Vec<Value>>,
}

fn read(path: &Path) -> Result<Option<Message>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // The definitions carry whole-line `//` comments, which JSON does not allow.
    let json: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let v: Value = serde_json::from_str(&json).map_err(|e| format!("{}: {e}", path.display()))?;
    let kind = v["type"].as_str().unwrap_or_default();
    if kind != "request" && kind != "response" {
        return Ok(None);
    }
    let str_of = |key: &str| {
        v[key]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{}: {key} missing", path.display()))
    };
    let common = v["commonStructs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_owned(),
                s["fields"].as_array().cloned().unwrap_or_default(),
            )
        })
        .collect();
    Ok(Some(Message {
        api_key: v["apiKey"]
            .as_i64()
            .and_then(|k| i16::try_from(k).ok())
            .ok_or_else(|| format!("{}: apiKey missing", path.display()))?,
        name: str_of("name")?,
        valid: Range::parse(&str_of("validVersions")?)?,
        flexible: Range::parse(v["flexibleVersions"].as_str().unwrap_or("none"))?,
        fields: v["fields"].as_array().cloned().unwrap_or_default(),
        common,
    }))
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The layout of a struct of `m` (its top level, or a nested one), as a static's name.
fn layout(
    m: &Message,
    path: &str,
    title: &str,
    fields: &[Value],
    layouts: &mut Layouts,
) -> Result<String, String> {
    let mut out = Vec::new();
    for f in fields {
        let name = f["name"].as_str().unwrap_or_default().to_owned();
        let at = format!("{}.{name}", m.name);
        let range = |key: &str| -> Result<Range, String> {
            match f[key].as_str() {
                Some(r) => Ok(Range::parse(r)
                    .map_err(|e| format!("{at}: {e}"))?
                    .within(m.valid)),
                None => Ok(NONE),
            }
        };
        let versions = range("versions")?;
        if versions.is_empty() {
            continue;
        }
        let ty = f["type"]
            .as_str()
            .ok_or_else(|| format!("{at}: type missing"))?;
        let (array, element) = match ty.strip_prefix("[]") {
            Some(e) => (true, e),
            None => (false, ty),
        };
        let kind = match element {
            "int8" => Kind::Primitive("I8"),
            "int16" | "uint16" => Kind::Primitive("I16"),
            "int32" | "uint32" => Kind::Primitive("I32"),
            "int64" | "float64" => Kind::Primitive("I64"),
            "uuid" => Kind::Primitive("Uuid"),
            "bool" => Kind::Primitive("Bool"),
            // Topic names and transactional ids are walked apart, so that a walk can tell
            // where each one is.
            "string" if f["entityType"] == "topicName" => Kind::Primitive("Topic"),
            "string" if f["entityType"] == "transactionalId" => Kind::Primitive("Txn"),
            "string" => Kind::Primitive("Str"),
            "bytes" | "records" => Kind::Primitive("Bytes"),
            s => {
                let nested = match f["fields"].as_array() {
                    Some(inline) => inline.clone(),
                    None => m
                        .common
                        .get(s)
                        .cloned()
                        .ok_or_else(|| format!("{at}: no definition of struct {s}"))?,
                };
                let path = format!("{path}_{}", snake(s));
                let title = format!("{title}.{s}");
                Kind::Struct(layout(m, &path, &title, &nested, layouts)?)
            }
        };
        if f["tag"].is_u64()
            && matches!(kind, Kind::Struct(_))
            && !array
            && f["nullableVersions"].is_string()
        {
            return Err(format!(
                "{at}: a nullable tagged struct, which the walk does not know"
            ));
        }
        let tag = match f["tag"].as_u64() {
            Some(t) => Some((
                u32::try_from(t).map_err(|_| format!("{at}: tag {t}"))?,
                range("taggedVersions")?,
            )),
            None => None,
        };
        out.push(Field {
            name,
            kind,
            array,
            versions,
            nullable: range("nullableVersions")?,
            tag,
        });
    }
    Ok(layouts.add(path, title, &out))
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, out] = args.as_slice() else {
        return Err("usage: schema_gen DIR OUT".into());
    };
    let forwarded: Vec<i16> = SUPPORTED.iter().map(|s| s.api as i16).collect();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{dir}: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut apis: BTreeMap<i16, Api> = BTreeMap::new();
    let mut layouts = Layouts::default();
    for path in &paths {
        let Some(m) = read(path)? else { continue };
        if !forwarded.contains(&m.api_key) {
            continue;
        }
        let top = layout(&m, &snake(&m.name), &m.name, &m.fields, &mut layouts)?;
        let api = m
            .name
            .trim_end_matches("Request")
            .trim_end_matches("Response");
        let entry = apis.entry(m.api_key).or_insert_with(|| Api {
            name: api.to_owned(),
            request: None,
            response: None,
            valid: m.valid,
            flexible: m.flexible,
        });
        if (entry.valid, entry.flexible) != (m.valid, m.flexible) {
            return Err(format!(
                "{}: versions differ from the other direction's",
                m.name
            ));
        }
        if m.name.ends_with("Request") {
            entry.request = Some(top);
        } else {
            entry.response = Some(top);
        }
    }
    let mut code = String::from(
        "// @generated by examples/schema_gen.rs from Kafka's message definitions; do not edit.\n\
         // Regenerate with scripts/schema.sh. One line per message and per struct layout, not\n\
         // formatted by rustfmt (`#[rustfmt::skip]` where the module is declared).\n\n\
         //! Walkers of the messages the proxy forwards, one function per struct layout, for\n\
         //! the check that runs before any body is decoded.\n\n\
         #![allow(unused_variables, clippy::nonminimal_bool)]\n\n\
         use super::Message;\n\
         use crate::kafka::DecodeError;\n\
         use crate::kafka::walk::Walker;\n\n\
         /// The messages, by API key.\n\
         pub(crate) const MESSAGES: &[Message] = &[\n",
    );
    for (key, api) in &apis {
        let Api {
            name,
            request,
            response,
            valid,
            flexible,
        } = api;
        let (Some(request), Some(response)) = (request, response) else {
            return Err(format!(
                "{name}: a request or a response definition is missing"
            ));
        };
        let flexible = if flexible.is_empty() {
            "None".to_owned()
        } else {
            format!("Some({})", flexible.0)
        };
        let _ = writeln!(
            code,
            "    Message {{ api_key: {key}, name: {name:?}, versions: ({}, {}), first_flexible: {flexible}, request: {request}, response: {response} }},",
            valid.0, valid.1
        );
    }
    code.push_str("];\n\n");
    code.push_str(&layouts.out);
    std::fs::write(out, code).map_err(|e| format!("{out}: {e}"))?;
    eprintln!("{} APIs, {} layouts", apis.len(), layouts.by_content.len());
    Ok(())
}
