//! Evaluation errors: what went wrong (with C++ Nix's wording) and where.

use thiserror::Error;

use super::code::Span;

/// What went wrong. `Throw` and `AssertionFailed` are catchable by
/// `builtins.tryEval`, as in C++ Nix.
#[derive(Debug, Clone, Error)]
pub enum ErrorKind {
    #[error("{0}")]
    Parse(String),
    #[error("undefined variable '{0}'")]
    UndefinedVariable(String),
    #[error("attribute '{name}' missing")]
    AttributeMissing { name: String },
    #[error("value is {found} while {expected} was expected")]
    TypeError {
        expected: &'static str,
        found: &'static str,
    },
    #[error("infinite recursion encountered")]
    InfiniteRecursion,
    #[error("{0}")]
    Throw(String),
    #[error("evaluation aborted with the following error message: '{0}'")]
    Abort(String),
    #[error("assertion '{0}' failed")]
    AssertionFailed(String),
    #[error("function '{function}' called without required argument '{name}'")]
    MissingArgument { function: String, name: String },
    #[error("function '{function}' called with unexpected argument '{name}'")]
    UnexpectedArgument { function: String, name: String },
    #[error("attribute '{name}' already defined at {at}")]
    DuplicateAttr { name: String, at: String },
    #[error("dynamic attribute '{name}' already defined at {at}")]
    DuplicateDynamicAttr { name: String, at: String },
    #[error("division by zero")]
    DivisionByZero,
    #[error("integer overflow in {op} {a} {sym} {b}")]
    Overflow {
        op: &'static str,
        a: i64,
        sym: &'static str,
        b: i64,
    },
    #[error("cannot coerce {0} to a string")]
    CannotCoerce(&'static str),
    #[error("cannot compare {0} with {1}")]
    Incomparable(&'static str, &'static str),
    #[error("{0}")]
    Other(String),
    #[error("not yet supported by oxnix: {0}")]
    NotYetSupported(String),
    /// A wrong setting or name (an unknown hash algorithm): C++ Nix's
    /// `UsageError`, shown without a position and with the `--help` hint.
    #[error("{0}")]
    Usage(String),
    /// An error C++ Nix shows without a position: a failed system call
    /// (`SysError`), a missing experimental feature.
    #[error("{0}")]
    Unlocated(String),
}

impl ErrorKind {
    /// Whether `builtins.tryEval` catches this error.
    pub fn is_catchable(&self) -> bool {
        matches!(self, ErrorKind::Throw(_) | ErrorKind::AssertionFailed(_))
    }

    pub fn type_error(expected: &'static str, found: &super::value::Value) -> ErrorKind {
        ErrorKind::TypeError {
            expected,
            found: found.type_desc(),
        }
    }
}

/// An error with the place it happened.
#[derive(Debug, Clone)]
pub struct EvalError {
    pub kind: ErrorKind,
    pub span: Option<Span>,
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl EvalError {
    pub fn new(kind: ErrorKind, span: Option<Span>) -> EvalError {
        EvalError { kind, span }
    }

    /// The message as `nix-instantiate` prints it after `error: `: the
    /// message, the position, and the source lines around it (C++ Nix 2.8's
    /// layout: the line before, the line with a caret under the column, the
    /// line after).
    pub fn render(&self) -> String {
        let mut s = self.kind.to_string();
        let span = match self.kind {
            ErrorKind::Usage(_) | ErrorKind::Unlocated(_) => None,
            _ => self.span.as_ref(),
        };
        if let Some(span) = span {
            let (line, col) = span.source.line_col(span.start as usize);
            s.push_str(&format!(
                "\n\n       at {}:{}:{}:\n",
                span.source.name, line, col
            ));
            if !span.source.text.is_empty() {
                s.push('\n');
                let last = span.source.text.lines().count().max(1);
                let shown = |s: &mut String, n: usize| {
                    let text = span.source.line_text(n);
                    let sep = if text.is_empty() { "" } else { " " };
                    s.push_str(&format!("{n:>13}|{sep}{text}\n"));
                };
                if line > 1 {
                    shown(&mut s, line - 1);
                }
                shown(&mut s, line);
                s.push_str(&format!(
                    "{:>13}| {}^",
                    "",
                    " ".repeat(col.saturating_sub(1))
                ));
                if line < last {
                    s.push('\n');
                    let text = span.source.line_text(line + 1);
                    let sep = if text.is_empty() { "" } else { " " };
                    s.push_str(&format!("{:>13}|{sep}{text}", line + 1));
                }
            }
        }
        s
    }
}
