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
    AttributeMissing {
        name: String,
        /// "Did you mean …?" (or empty), shown after the position.
        hint: String,
    },
    #[error("expected {expected} but found {found}: {value}")]
    TypeError {
        expected: &'static str,
        found: &'static str,
        /// The value, as error messages show it.
        value: String,
    },
    #[error("infinite recursion encountered")]
    InfiniteRecursion,
    #[error("{0}")]
    Throw(String),
    /// `builtins.throw`'s error: a `Throw` C++ Nix 2.8 shows without a
    /// position.
    #[error("{0}")]
    Thrown(String),
    #[error("evaluation aborted with the following error message: '{0}'")]
    Abort(String),
    #[error("assertion '{0}' failed")]
    AssertionFailed(String),
    #[error("function '{function}' called without required argument '{name}'")]
    MissingArgument {
        function: String,
        name: String,
        /// The lambda (the error's position; the call site is a frame).
        lambda: Option<Span>,
    },
    #[error("function '{function}' called with unexpected argument '{name}'")]
    UnexpectedArgument {
        function: String,
        name: String,
        /// The lambda, and "Did you mean …?" (or empty).
        at: Box<(Option<Span>, String)>,
    },
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
    #[error("cannot coerce {0} to a string: {1}")]
    CannotCoerce(&'static str, String),
    #[error("cannot compare {0} with {1}; {2}")]
    Incomparable(&'static str, &'static str, String),
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
    /// What a fetcher downloaded has another hash than the one given:
    /// shown without a position, and the command exits with status 102
    /// (C++ Nix's for a hash mismatch).
    #[error("{0}")]
    HashMismatch(String),
}

impl ErrorKind {
    /// Whether `builtins.tryEval` catches this error.
    pub fn is_catchable(&self) -> bool {
        matches!(
            self,
            ErrorKind::Throw(_) | ErrorKind::Thrown(_) | ErrorKind::AssertionFailed(_)
        )
    }

    pub fn type_error(expected: &'static str, found: &super::value::Value) -> ErrorKind {
        ErrorKind::TypeError {
            expected,
            found: found.type_desc(),
            value: super::print::error_value(found),
        }
    }

    /// "cannot compare a set with a set; values of that type are
    /// incomparable (values are { } and { })".
    pub fn incomparable(a: &super::value::Value, b: &super::value::Value) -> ErrorKind {
        use super::print::error_value;
        let values = format!("values are {} and {}", error_value(a), error_value(b));
        let detail = if a.type_desc() == b.type_desc() {
            format!("values of that type are incomparable ({values})")
        } else {
            values
        };
        ErrorKind::Incomparable(a.type_desc(), b.type_desc(), detail)
    }

    pub fn cannot_coerce(v: &super::value::Value) -> ErrorKind {
        ErrorKind::CannotCoerce(v.type_desc(), super::print::error_value(v))
    }
}

/// One step of an error's trace ("… while calling the 'map' builtin").
#[derive(Debug, Clone)]
pub struct TraceFrame {
    pub msg: String,
    pub span: Option<Span>,
}

/// An error with the place it happened and, innermost first, what the
/// evaluation was doing (recorded only while the error unwinds).
#[derive(Debug, Clone)]
pub struct EvalError {
    pub kind: ErrorKind,
    pub span: Option<Span>,
    pub trace: Vec<TraceFrame>,
    /// The span is the innermost frame's (a builtin's call site): with a
    /// trace shown, the error itself has no position.
    pub span_in_frame: bool,
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Appends `at FILE:L:C:` and the source lines around the position (the
/// line before, the line, a caret under the column, the line after), as
/// newer C++ Nix shows them, each line starting with a newline.
fn push_position(s: &mut String, span: &Span, indent: &str) {
    let (line, col) = span.source.line_col(span.start as usize);
    s.push_str(&format!(
        "\n{indent}at {}:{}:{}:",
        span.source.name, line, col
    ));
    if span.source.text.is_empty() {
        return;
    }
    let last = span.source.line_count();
    let shown = |s: &mut String, n: usize| {
        let text = span.source.line_text(n);
        let sep = if text.is_empty() { "" } else { " " };
        s.push_str(&format!("\n{n:>13}|{sep}{text}"));
    };
    if line > 1 {
        shown(s, line - 1);
    }
    shown(s, line);
    s.push_str(&format!(
        "\n{:>13}| {}^",
        "",
        " ".repeat(col.saturating_sub(1))
    ));
    if line < last {
        shown(s, line + 1);
    }
}

impl EvalError {
    pub fn new(kind: ErrorKind, span: Option<Span>) -> EvalError {
        EvalError {
            kind,
            span,
            trace: Vec::new(),
            span_in_frame: false,
        }
    }

    /// An error that happened at `span`; a call's argument errors are at
    /// the lambda, with the call site as a frame ("from call site").
    pub fn located(kind: ErrorKind, span: Option<Span>) -> EvalError {
        let lambda = match &kind {
            ErrorKind::MissingArgument { lambda, .. } => lambda.clone(),
            ErrorKind::UnexpectedArgument { at, .. } => at.0.clone(),
            _ => None,
        };
        match lambda {
            Some(at) => {
                let mut e = EvalError::new(kind, Some(at));
                e.add_trace("from call site".into(), span);
                e
            }
            None => EvalError::new(kind, span),
        }
    }

    fn push_hint(&self, s: &mut String) {
        let hint = match &self.kind {
            ErrorKind::UnexpectedArgument { at, .. } => &at.1,
            ErrorKind::AttributeMissing { hint, .. } => hint,
            _ => return,
        };
        if !hint.is_empty() {
            s.push_str("\n       ");
            s.push_str(hint);
        }
    }

    /// Adds a frame outside those recorded so far.
    pub fn add_trace(&mut self, msg: String, span: Option<Span>) {
        self.trace.push(TraceFrame { msg, span });
    }

    fn own_span(&self) -> Option<&Span> {
        match self.kind {
            ErrorKind::Usage(_) | ErrorKind::Unlocated(_) | ErrorKind::HashMismatch(_) => None,
            // Code the evaluator made (a builtin's `f x` thunks) has no
            // place in any file.
            _ => self
                .span
                .as_ref()
                .filter(|s| s.source.name != "«nix-internal»"),
        }
    }

    /// The message as `nix-instantiate` prints it after `error: `: the
    /// message and its position with the source lines around it.
    pub fn render(&self) -> String {
        let mut s = self.kind.to_string();
        // C++ Nix 2.8's `throw` and `abort` errors have no position.
        let located = !matches!(self.kind, ErrorKind::Thrown(_) | ErrorKind::Abort(_));
        if let Some(span) = self.own_span().filter(|_| located) {
            push_position(&mut s, span, "       ");
        }
        self.push_hint(&mut s);
        s
    }

    /// The message with the trace (`--show-trace`), as newer C++ Nix
    /// prints it: it starts with a newline (after `error:`), then each
    /// frame, outermost first, then `error: ` and the message.
    pub fn render_with_trace(&self) -> String {
        if self.trace.is_empty() {
            return self.render();
        }
        let mut s = String::new();
        for frame in self.trace.iter().rev() {
            s.push_str("\n       … ");
            s.push_str(&frame.msg);
            if let Some(span) = &frame.span {
                push_position(&mut s, span, "         ");
            }
            s.push('\n');
        }
        s.push_str("\n       error: ");
        s.push_str(&self.kind.to_string());
        if !self.span_in_frame {
            if let Some(span) = self.own_span() {
                push_position(&mut s, span, "       ");
            }
        }
        self.push_hint(&mut s);
        s
    }
}
