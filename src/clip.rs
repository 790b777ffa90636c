//! Client-supplied text in log lines, cut to a bounded length (DESIGN.md decision 14): a
//! client must not be able to make one log line as large as its frame.

use std::fmt;

/// The most bytes of one client-supplied string that a log line carries.
pub const MAX_LOGGED_BYTES: usize = 256;

/// Displays a string cut to [`MAX_LOGGED_BYTES`] (on a character boundary), marked with the
/// length it had when it was cut.
#[derive(Debug, Clone, Copy)]
pub struct Clip<'a>(pub &'a str);

impl fmt::Display for Clip<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s.len() <= MAX_LOGGED_BYTES {
            return f.write_str(s);
        }
        let mut end = MAX_LOGGED_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        write!(f, "{}…[truncated, {} bytes]", &s[..end], s.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_pass_unchanged() {
        assert_eq!(Clip("orders").to_string(), "orders");
        let exact = "a".repeat(MAX_LOGGED_BYTES);
        assert_eq!(Clip(&exact).to_string(), exact);
    }

    #[test]
    fn long_strings_are_cut_and_marked() {
        let long = "x".repeat(32 * 1024);
        let shown = Clip(&long).to_string();
        assert!(shown.starts_with(&"x".repeat(MAX_LOGGED_BYTES)));
        assert!(shown.ends_with("…[truncated, 32768 bytes]"), "{shown}");
        assert!(shown.len() < MAX_LOGGED_BYTES + 40);
    }

    #[test]
    fn cuts_on_a_character_boundary() {
        // 'é' is two bytes: 255 ASCII bytes then 'é' straddles the limit.
        let s = format!("{}é{}", "a".repeat(MAX_LOGGED_BYTES - 1), "b".repeat(10));
        let shown = Clip(&s).to_string();
        assert!(shown.starts_with(&"a".repeat(MAX_LOGGED_BYTES - 1)));
        assert!(shown.contains("…[truncated, "), "{shown}");
    }
}
