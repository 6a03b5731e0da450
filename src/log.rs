//! Messages on stderr (errors, warnings, traces, progress notes) in the
//! format `--log-format` chose: plain lines (`raw`, `bar`, …; `error:` and
//! `warning:` coloured on a terminal), or C++ Nix's `internal-json`, one
//! `@nix {"action":"msg",…}` object a line, as tools such as
//! nix-output-monitor read it.
//!
//! Every layer writes its messages through here, so that the format is
//! chosen once, by the command line.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// C++ Nix's verbosity levels, as `internal-json` numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 3,
}

static JSON: AtomicBool = AtomicBool::new(false);

/// Chooses the format: `internal-json` or plain lines (every other format).
pub fn set_internal_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// C++ Nix's `verbosity` (0 error … 3 info, the default, … 7 vomit),
/// which a client of the Nix daemon passes on so that the daemon sends
/// the messages of that level and below.
static VERBOSITY: AtomicU64 = AtomicU64::new(3);

/// The verbosity level (C++ Nix's numbering; 3 is `info`).
pub fn verbosity() -> u64 {
    VERBOSITY.load(Ordering::Relaxed)
}

/// Sets the verbosity level, as `-v`, `--quiet` and `--debug` do.
pub fn set_verbosity(level: u64) {
    VERBOSITY.store(level, Ordering::Relaxed);
}

/// An error message (`error:` and `msg`), as the commands end with.
pub fn error(msg: &str) {
    if json() {
        // A message with a trace starts on the next line.
        let sep = if msg.starts_with('\n') { "" } else { " " };
        let (file, line, column) = position_of(msg);
        let raw = msg.trim_start_matches('\n').lines().next().unwrap_or("");
        let mut o = String::from("{\"action\":\"msg\",\"column\":");
        o.push_str(&column.map_or("null".into(), |c| c.to_string()));
        o.push_str(",\"file\":");
        o.push_str(&file.map_or("null".into(), |f| json_string(&f)));
        o.push_str(",\"level\":0,\"line\":");
        o.push_str(&line.map_or("null".into(), |l| l.to_string()));
        o.push_str(",\"msg\":");
        o.push_str(&json_string(&format!("\x1b[31;1merror:\x1b[0m{sep}{msg}")));
        o.push_str(",\"raw_msg\":");
        o.push_str(&json_string(raw));
        o.push('}');
        emit_json(&o);
    } else {
        let sep = if msg.starts_with('\n') { "" } else { " " };
        labelled("error:", "31", sep, msg);
    }
}

/// A warning (`warning:` and `msg`).
pub fn warning(msg: &str) {
    if json() {
        message(Level::Warn, &format!("\x1b[35;1mwarning:\x1b[0m {msg}"));
    } else {
        labelled("warning:", "33", " ", msg);
    }
}

/// A line at `level`, as it is (`trace: …`, progress notes).
pub fn message(level: Level, text: &str) {
    if json() {
        emit_json(&format!(
            "{{\"action\":\"msg\",\"level\":{},\"msg\":{}}}",
            level as u8,
            json_string(text)
        ));
    } else {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}

fn emit_json(object: &str) {
    let _ = writeln!(std::io::stderr().lock(), "@nix {object}");
}

/// `label` (bold, in ANSI colour `colour` on a terminal without
/// `NO_COLOR`), `sep`, `msg` on stderr.
fn labelled(label: &str, colour: &str, sep: &str, msg: &str) {
    let stderr = std::io::stderr();
    let _ = if stderr.is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        writeln!(stderr.lock(), "\x1b[{colour};1m{label}\x1b[0m{sep}{msg}")
    } else {
        writeln!(stderr.lock(), "{label}{sep}{msg}")
    };
}

/// The file, line and column of an error's first `at FILE:LINE:COL:` line
/// (the place the error is reported at), if it names a file.
fn position_of(msg: &str) -> (Option<String>, Option<u32>, Option<u32>) {
    for l in msg.lines() {
        let Some(rest) = l.trim_start().strip_prefix("at ") else {
            continue;
        };
        let Some(rest) = rest.strip_suffix(':') else {
            continue;
        };
        let mut parts = rest.rsplitn(3, ':');
        let (Some(c), Some(ln), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if let (Ok(ln), Ok(c)) = (ln.parse(), c.parse()) {
            if file.starts_with('/') {
                return (Some(file.to_owned()), Some(ln), Some(c));
            }
            return (None, Some(ln), Some(c));
        }
    }
    (None, None, None)
}

/// `s` as a JSON string, escaped as C++ Nix's JSON library does (control
/// characters as `\uXXXX` but for the short forms; other text as it is).
pub fn json_string(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    crate::derivation::json::write_json_string(&mut out, s.as_bytes());
    // Only ASCII was replaced, so the text stays UTF-8.
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped_as_cpp_nix_does() {
        assert_eq!(
            json_string("a\"b\n\u{1}é\x1b"),
            "\"a\\\"b\\n\\u0001é\\u001b\""
        );
    }

    #[test]
    fn an_error_position_comes_from_its_first_at_line() {
        let m = "x\n       at /a/b.nix:3:7:\n            3| y\n       at /c.nix:1:1:";
        assert_eq!(position_of(m), (Some("/a/b.nix".into()), Some(3), Some(7)));
        assert_eq!(position_of("no position"), (None, None, None));
    }
}
