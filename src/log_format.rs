//! Field formatting for plain-text logs.
//!
//! tracing-subscriber's `DefaultFields` styles every field name through nu_ansi_term even when
//! colours are off, where each style is empty: about 300 instructions a field, and a login
//! formats some twenty fields (its connection span's, its `principal`, its "authenticated"
//! event's). [`PlainFields`] writes the same bytes without styling, and is used whenever the
//! log is not a terminal. Its output matches `DefaultFields`' byte for byte (tests below), so
//! log readers see no difference.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;

/// `FormatFields` for logs without colours: `name=value` pairs separated by spaces, the message
/// first as written, with terminal control characters in messages and errors escaped.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields;

impl<'a> MakeVisitor<Writer<'a>> for PlainFields {
    type Visitor = PlainVisitor<'a>;

    fn make_visitor(&self, writer: Writer<'a>) -> PlainVisitor<'a> {
        PlainVisitor {
            writer,
            empty: true,
            result: Ok(()),
        }
    }
}

/// Writes one span's or event's fields for [`PlainFields`].
#[derive(Debug)]
pub struct PlainVisitor<'a> {
    writer: Writer<'a>,
    empty: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// Starts a field: a space before every field but the first.
    fn separate(&mut self) -> fmt::Result {
        if std::mem::replace(&mut self.empty, false) {
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }

    fn name_and(&mut self, name: &str, value: fmt::Arguments<'_>) {
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = self
            .separate()
            .and_then(|()| write!(self.writer, "{name}={value}"));
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"))
        } else {
            self.record_debug(field, &value)
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let sanitize = self.writer.sanitizes_ansi_escapes();
        match value.source() {
            Some(source) => {
                let sources = Sources {
                    first: source,
                    sanitize,
                };
                let name = field.name();
                self.record_debug(
                    field,
                    &format_args!("{} {name}.sources={sources}", Escaped::new(value, sanitize)),
                )
            }
            None => self.record_debug(field, &format_args!("{}", Escaped::new(value, sanitize))),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        // Fields that carry a `log` record's metadata, already shown as the event's target.
        if name.starts_with("log.") {
            return;
        }
        if name == "message" {
            let sanitize = self.writer.sanitizes_ansi_escapes();
            self.result = self
                .separate()
                .and_then(|()| write!(self.writer, "{:?}", Escaped::new(value, sanitize)));
        } else {
            self.name_and(name, format_args!("{value:?}"));
        }
    }
}

impl VisitOutput<fmt::Result> for PlainVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for PlainVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// A value whose terminal control characters are written as escapes when `sanitize` is on:
/// ESC, BEL, BS, FF, DEL and the C1 controls, which a terminal could act on.
struct Escaped<T> {
    value: T,
    sanitize: bool,
}

impl<T> Escaped<T> {
    fn new(value: T, sanitize: bool) -> Self {
        Self { value, sanitize }
    }
}

impl<T: fmt::Debug> fmt::Debug for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sanitize {
            write!(Escaping(f), "{:?}", self.value)
        } else {
            write!(f, "{:?}", self.value)
        }
    }
}

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sanitize {
            write!(Escaping(f), "{}", self.value)
        } else {
            write!(f, "{}", self.value)
        }
    }
}

struct Escaping<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut plain = 0;
        for (at, c) in s.char_indices() {
            let escape = match c {
                '\x1b' => "\\x1b",
                '\x07' => "\\x07",
                '\x08' => "\\x08",
                '\x0c' => "\\x0c",
                '\x7f' => "\\x7f",
                '\u{80}'..='\u{9f}' => "",
                _ => continue,
            };
            self.0.write_str(&s[plain..at])?;
            if escape.is_empty() {
                write!(self.0, "\\u{{{:x}}}", c as u32)?;
            } else {
                self.0.write_str(escape)?;
            }
            plain = at + c.len_utf8();
        }
        self.0.write_str(&s[plain..])
    }
}

/// An error and its sources as a list: `["outer", "inner"]`.
struct Sources<'a> {
    first: &'a (dyn std::error::Error + 'static),
    sanitize: bool,
}

impl fmt::Display for Sources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut next = Some(self.first);
        while let Some(error) = next {
            list.entry(&Escaped::new(format_args!("{error}"), self.sanitize));
            next = error.source();
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::fmt::format::DefaultFields;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer \x1b[31mfailure\u{9b}")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner cause")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("alone")]
    struct Alone;

    /// Spans and events covering every kind of field the proxy logs, and the escapes.
    fn log_everything() {
        let peer: std::net::SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let span = tracing::info_span!(
            "conn",
            %peer,
            listener = %"plain",
            target = ?Some(3),
            client_id = tracing::field::Empty,
            principal = tracing::field::Empty
        );
        let _entered = span.enter();
        tracing::info!("no fields");
        tracing::Span::current().record("client_id", "rdkafka \"quoted\"\n\x1b");
        tracing::Span::current().record("principal", "User:alice");
        tracing::info!(
            organization = %"acme",
            provider = %"acme/okta",
            groups = ?vec!["a".to_string(), "b\x1b".to_string()],
            "authenticated"
        );
        tracing::info!(provider = "-", reason = "expired", detail = %"x\u{85}y", "authentication failed");
        tracing::warn!(
            error = &Outer(Inner) as &dyn std::error::Error,
            "with sources"
        );
        tracing::warn!(
            error = &Alone as &dyn std::error::Error,
            count = 3u64,
            flag = true,
            ratio = 0.5f64,
            "an error"
        );
        tracing::info!(
            r#type = "raw name",
            n = -4i64,
            "message \x1b[2J with \x07\x08\x0c\x7f controls \u{80}\u{9f}"
        );
        tracing::info!(message = "message as a field", after = 1);
        tracing::info!(only = 1);
        tracing::info!("{} formatted {:?}", "args", "q\x1b");
        let empty = tracing::info_span!("empty");
        let _inner = empty.enter();
        tracing::info!(inner = true, "nested");
    }

    fn render(plain: bool, sanitize: bool) -> String {
        let out = Captured::default();
        let builder = tracing_subscriber::fmt()
            .with_writer(out.clone())
            .with_ansi(false)
            .with_ansi_sanitization(sanitize)
            .without_time()
            .with_max_level(tracing::Level::INFO);
        if plain {
            tracing::subscriber::with_default(
                builder.fmt_fields(PlainFields).finish(),
                log_everything,
            )
        } else {
            tracing::subscriber::with_default(
                builder.fmt_fields(DefaultFields::new()).finish(),
                log_everything,
            )
        }
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn plain_fields_write_what_the_default_fields_write_without_colours() {
        for sanitize in [true, false] {
            let default = render(false, sanitize);
            let plain = render(true, sanitize);
            assert_eq!(default.lines().count(), 10, "{default}");
            assert_eq!(plain, default, "sanitize {sanitize}");
        }
        let sanitized = render(true, true);
        assert!(sanitized.contains(r"message \x1b[2J with \x07\x08\x0c\x7f controls \u{80}\u{9f}"));
        assert!(
            sanitized.contains("error=outer \\x1b[31mfailure\\u{9b} error.sources=[inner cause]")
        );
        assert!(sanitized.contains(r#"principal="User:alice""#));
    }
}
