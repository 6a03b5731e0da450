//! `builtins.toJSON` and `builtins.fromJSON`: a writer forcing values
//! deeply without recursion, and a reader with the messages of the
//! nlohmann parser C++ Nix uses.
//!
//! Where later Nix releases turned a 2.8 quirk into an error (NUL bytes or
//! unsigned overflow in `fromJSON`, invalid UTF-8 in `toJSON`), the later
//! behaviour is followed, as upstream's language tests expect it.

use super::args::{name_arg, sync};
use crate::eval::error::ErrorKind;
use crate::eval::ops::coerce_no_copy;
use crate::eval::print::format_float;
use crate::eval::value::{int_digits, Attrs, Context, List, NixString, Value};
use crate::eval::vm::{call, force, Co, GenFuture};

builtins! {
    "toJSON" => to_json, "fromJSON" => from_json,
}

/// How deeply lists and sets may nest in `toJSON` (C++ Nix 2.8 recurses
/// and runs out of stack somewhat beyond 60000 levels; later releases
/// stop at their call-depth limit).
const MAX_JSON_DEPTH: usize = 65_536;

/// Appends `s` as a JSON string, escaping as C++ Nix 2.8 does (`"`, `\`,
/// `\n`, `\r`, `\t`, other control characters as `\u00XX`). Strings that
/// are not UTF-8 are refused, as later Nix releases do.
fn json_string(s: &[u8], out: &mut Vec<u8>) -> Result<(), ErrorKind> {
    if !s.is_ascii() {
        if let Err(e) = std::str::from_utf8(s) {
            let i = e.valid_up_to();
            return Err(ErrorKind::Other(format!(
                "JSON serialization error: [json.exception.type_error.316] invalid UTF-8 byte at index {i}: 0x{:02X}",
                s.get(i).copied().unwrap_or(0)
            )));
        }
    }
    out.push(b'"');
    // Runs of bytes that need no escape are copied whole.
    let mut plain = 0;
    for (i, &c) in s.iter().enumerate() {
        let escape: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            c if c < 0x20 => {
                out.extend_from_slice(&s[plain..i]);
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
                plain = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&s[plain..i]);
        out.extend_from_slice(escape);
        plain = i + 1;
    }
    out.extend_from_slice(&s[plain..]);
    out.push(b'"');
    Ok(())
}

/// What is left to write in `toJSON`.
enum JsonWork {
    /// A value, at a nesting depth.
    Value(Value, usize),
    /// Punctuation.
    Text(&'static [u8]),
    /// An object key and its colon.
    Key(NixString),
}

/// How deeply [`write_evaluated`] recurses before it leaves the rest to
/// the work stack (it runs on the Rust stack).
const FAST_DEPTH: usize = 64;

/// Writes the set or list `v` when everything in it is already evaluated
/// and plain (no `__toString` or `outPath`, no path, no function, no
/// string that is not UTF-8, no deeper than [`FAST_DEPTH`]), borrowing
/// its values instead of putting each on the work stack: true. False
/// when something in it needs the general path; what it wrote is then
/// the caller's to take back (the contexts it added to `ctx` are ones
/// that path adds again).
fn write_evaluated(
    v: &Value,
    depth: usize,
    budget: usize,
    out: &mut Vec<u8>,
    ctx: &mut Context,
) -> bool {
    if depth > MAX_JSON_DEPTH || budget == 0 {
        return false;
    }
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => out.extend_from_slice(int_digits(*i, &mut [0; 20])),
        Value::Float(f) => out.extend_from_slice(format_float(*f).as_bytes()),
        Value::String(s) => {
            if json_string(s.as_bytes(), out).is_err() {
                return false;
            }
            s.add_context_to(ctx);
        }
        Value::Attrs(a) => {
            if a.get_bytes(b"__toString").is_some() || a.get_bytes(b"outPath").is_some() {
                return false;
            }
            out.push(b'{');
            for (i, (k, v)) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if json_string(k.as_bytes(), out).is_err() {
                    return false;
                }
                out.push(b':');
                if !write_evaluated(v, depth + 1, budget - 1, out, ctx) {
                    return false;
                }
            }
            out.push(b'}');
        }
        Value::List(l) => {
            out.push(b'[');
            for (i, v) in l.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if !write_evaluated(v, depth + 1, budget - 1, out, ctx) {
                    return false;
                }
            }
            out.push(b']');
        }
        Value::Thunk(t) => {
            return t
                .with_value(|v| Some(write_evaluated(v, depth, budget, out, ctx)))
                .unwrap_or(false)
        }
        _ => return false,
    }
    true
}

/// The JSON text of `v`, forcing it deeply (in order, without recursion);
/// the contexts of its strings go to `ctx`.
pub(crate) async fn to_json_bytes(
    co: &Co,
    v: Value,
    ctx: &mut Context,
) -> Result<Vec<u8>, ErrorKind> {
    let mut out = Vec::new();
    let mut work = vec![JsonWork::Value(v, 0)];
    // Bytes [`write_evaluated`] wrote and took back; past the output's own
    // length it is no longer tried, so a value is written at most about
    // twice however its thunks lie.
    let mut wasted = 0usize;
    while let Some(item) = work.pop() {
        let (v, depth) = match item {
            JsonWork::Text(t) => {
                out.extend_from_slice(t);
                continue;
            }
            JsonWork::Key(k) => {
                json_string(k.as_bytes(), &mut out)?;
                out.push(b':');
                continue;
            }
            JsonWork::Value(v, depth) => (v, depth),
        };
        if depth > MAX_JSON_DEPTH {
            return Err(ErrorKind::Other(
                "stack overflow (possible infinite recursion)".into(),
            ));
        }
        let v = force(co, v).await?;
        if matches!(v, Value::Attrs(_) | Value::List(_)) && wasted <= out.len() + (1 << 16) {
            let start = out.len();
            if write_evaluated(&v, depth, FAST_DEPTH, &mut out, ctx) {
                continue;
            }
            wasted += out.len() - start;
            out.truncate(start);
        }
        match v {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            Value::Int(i) => out.extend_from_slice(int_digits(i, &mut [0; 20])),
            Value::Float(f) => out.extend_from_slice(format_float(f).as_bytes()),
            Value::String(s) => {
                json_string(s.as_bytes(), &mut out)?;
                s.add_context_to(ctx);
            }
            Value::Path(p) => {
                let s = crate::eval::ops::copy_to_store(co, &p).await?;
                json_string(s.as_bytes(), &mut out)?;
                s.add_context_to(ctx);
            }
            Value::Attrs(a) => {
                if let Some(f) = a.get_bytes(b"__toString") {
                    let r = call(co, f.clone(), Value::Attrs(a.clone())).await?;
                    let s = coerce_no_copy(co, r).await?;
                    json_string(s.as_bytes(), &mut out)?;
                    s.add_context_to(ctx);
                } else if let Some(p) = a.get_bytes(b"outPath") {
                    work.push(JsonWork::Value(p.clone(), depth + 1));
                } else {
                    out.push(b'{');
                    work.push(JsonWork::Text(b"}"));
                    for (i, (k, v)) in a.iter().enumerate().rev() {
                        work.push(JsonWork::Value(v.clone(), depth + 1));
                        work.push(JsonWork::Key(k.clone()));
                        if i > 0 {
                            work.push(JsonWork::Text(b","));
                        }
                    }
                }
            }
            Value::List(l) => {
                out.push(b'[');
                work.push(JsonWork::Text(b"]"));
                for (i, v) in l.iter().enumerate().rev() {
                    work.push(JsonWork::Value(v.clone(), depth + 1));
                    if i > 0 {
                        work.push(JsonWork::Text(b","));
                    }
                }
            }
            Value::Closure(_) => {
                return Err(ErrorKind::Other("cannot convert a function to JSON".into()))
            }
            Value::Builtin(b) => {
                let partially = if b.args.is_empty() {
                    ""
                } else {
                    "partially applied "
                };
                return Err(ErrorKind::Other(format!(
                    "cannot convert the {partially}built-in function '{}' to JSON",
                    b.name
                )));
            }
            Value::Thunk(_) => {
                return Err(ErrorKind::Other(
                    "internal error: toJSON met an unevaluated value".into(),
                ))
            }
        }
    }
    Ok(out)
}

/// `builtins.toJSON x`: `x` as JSON text. Sets with `__toString` become
/// strings, sets with `outPath` that value's JSON; functions are refused.
fn to_json(co: Co, [v]: [Value; 1]) -> GenFuture {
    sync(async move {
        let mut ctx = Context::new();
        let json = to_json_bytes(&co, v, &mut ctx).await?;
        Ok(Value::String(NixString::with_context(json, ctx)))
    })
}

/// A JSON parser producing Nix values, iterative (any nesting depth), with
/// the messages of the nlohmann parser C++ Nix uses.
mod reader {
    use super::{Attrs, ErrorKind, List, NixString, Value};

    /// The tokens of JSON text.
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        BeginArray,
        EndArray,
        BeginObject,
        EndObject,
        Colon,
        Comma,
        True,
        False,
        Null,
        String,
        Number,
        End,
    }

    impl Tok {
        fn name(self) -> &'static str {
            match self {
                Tok::BeginArray => "'['",
                Tok::EndArray => "']'",
                Tok::BeginObject => "'{'",
                Tok::EndObject => "'}'",
                Tok::Colon => "':'",
                Tok::Comma => "','",
                Tok::True => "true literal",
                Tok::False => "false literal",
                Tok::Null => "null literal",
                Tok::String => "string literal",
                Tok::Number => "number literal",
                Tok::End => "end of input",
            }
        }
    }

    /// What the parser expects, for messages.
    const LITERAL_OR_VALUE: &str = "'[', '{', or a literal";

    /// A lexical error: message and the offset of the byte where it was
    /// found (the length for the end of input).
    struct LexError {
        message: String,
        at: usize,
        token_start: usize,
    }

    /// A container being built.
    enum Frame {
        Array(List),
        Object(Attrs, NixString),
    }

    /// The names nlohmann gives control characters in messages.
    const CONTROL_NAMES: [&str; 32] = [
        "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR",
        "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB",
        "ESC", "FS", "GS", "RS", "US",
    ];

    struct Parser<'a> {
        s: &'a [u8],
        pos: usize,
        /// The last token's start and end offsets.
        tok_start: usize,
        /// Where the last string or number token started: nlohmann's
        /// "last read" text runs from there.
        read_start: usize,
        tok_end: usize,
        /// The last string token's contents.
        string: Vec<u8>,
        /// The last number token's value.
        number: Value,
        /// Object keys and short strings already read, shared instead of
        /// made again (C++ Nix shares keys as symbols): a large document's
        /// repeated keys are then one string each.
        shared: std::collections::HashMap<Box<[u8]>, NixString, ShortHash>,
    }

    /// A multiply-rotate hash of short strings (the shared strings are at
    /// most [`SHARED_MAX_LEN`] bytes, and at most [`SHARED_MAX_ENTRIES`]
    /// of them, which bounds what colliding keys could cost).
    type ShortHash = std::hash::BuildHasherDefault<ShortHasher>;

    #[derive(Default)]
    struct ShortHasher(u64);

    impl std::hash::Hasher for ShortHasher {
        fn write(&mut self, mut bytes: &[u8]) {
            while let Some((word, rest)) = bytes.split_first_chunk::<8>() {
                self.mix(u64::from_le_bytes(*word));
                bytes = rest;
            }
            if !bytes.is_empty() {
                // The tail byte by byte (a copy of variable length would
                // call `memcpy`).
                self.mix(bytes.iter().fold(0, |w, &b| (w << 8) | u64::from(b)));
            }
        }

        fn write_usize(&mut self, n: usize) {
            self.mix(n as u64);
        }

        fn finish(&self) -> u64 {
            // A product's low bits depend on its factors' low bits only:
            // bring the well-mixed high bits down, where the table looks.
            self.0.rotate_left(26)
        }
    }

    impl ShortHasher {
        #[inline]
        fn mix(&mut self, word: u64) {
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    /// Strings up to this length are shared ([`Parser::shared`])...
    const SHARED_MAX_LEN: usize = 32;
    /// ...until this many are.
    const SHARED_MAX_ENTRIES: usize = 4096;

    impl Parser<'_> {
        /// The last string token's contents as a string, shared with an
        /// equal one read before when short.
        fn take_string(&mut self) -> NixString {
            let bytes = std::mem::take(&mut self.string);
            if bytes.len() > SHARED_MAX_LEN {
                return NixString::from(bytes);
            }
            if let Some(s) = self.shared.get(bytes.as_slice()) {
                return s.clone();
            }
            let s = NixString::from(bytes);
            if self.shared.len() < SHARED_MAX_ENTRIES {
                self.shared.insert(s.as_bytes().into(), s.clone());
            }
            s
        }
    }

    /// Line and column as nlohmann counts them once the byte at `at` (or
    /// the end of input, at the length) is read: a newline read moves to
    /// column 0 of the next line.
    fn line_col(s: &[u8], at: usize) -> (usize, usize) {
        let read = &s[..(at + 1).min(s.len())];
        let line = 1 + read.iter().filter(|&&c| c == b'\n').count();
        let line_start = read.iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
        (line, at + 1 - line_start)
    }

    /// The text of a token as nlohmann shows it after "last read".
    fn shown(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        for &c in bytes {
            if c < 0x20 {
                out.extend_from_slice(format!("<U+{c:04X}>").as_bytes());
            } else {
                out.push(c);
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The length of the UTF-8 sequence at `s[i]` (whose first byte is not
    /// ASCII), or the offset of the first byte that makes it ill-formed.
    fn utf8_len(s: &[u8], i: usize) -> Result<usize, usize> {
        let lead = s[i];
        let (len, second): (usize, std::ops::RangeInclusive<u8>) = match lead {
            0xC2..=0xDF => (2, 0x80..=0xBF),
            0xE0 => (3, 0xA0..=0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (3, 0x80..=0xBF),
            0xED => (3, 0x80..=0x9F),
            0xF0 => (4, 0x90..=0xBF),
            0xF1..=0xF3 => (4, 0x80..=0xBF),
            0xF4 => (4, 0x80..=0x8F),
            _ => return Err(i),
        };
        for k in 1..len {
            let ok = match s.get(i + k) {
                Some(c) if k == 1 => second.contains(c),
                Some(c) => (0x80..=0xBF).contains(c),
                None => false,
            };
            if !ok {
                return Err(i + k);
            }
        }
        Ok(len)
    }

    impl Parser<'_> {
        fn lex_error(&self, message: impl Into<String>, at: usize) -> LexError {
            LexError {
                message: message.into(),
                at,
                token_start: self.read_start,
            }
        }

        /// Reads the next token.
        fn next(&mut self) -> Result<Tok, LexError> {
            while self
                .s
                .get(self.pos)
                .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
            {
                self.pos += 1;
            }
            self.tok_start = self.pos;
            let Some(&c) = self.s.get(self.pos) else {
                self.tok_end = self.s.len();
                return Ok(Tok::End);
            };
            let tok = match c {
                b'[' => Tok::BeginArray,
                b']' => Tok::EndArray,
                b'{' => Tok::BeginObject,
                b'}' => Tok::EndObject,
                b':' => Tok::Colon,
                b',' => Tok::Comma,
                b't' => self.literal(b"true", Tok::True)?,
                b'f' => self.literal(b"false", Tok::False)?,
                b'n' => self.literal(b"null", Tok::Null)?,
                b'"' => {
                    self.read_start = self.pos;
                    self.string()?
                }
                b'-' | b'0'..=b'9' => {
                    self.read_start = self.pos;
                    self.number()?
                }
                _ => return Err(self.lex_error("invalid literal", self.pos)),
            };
            if matches!(
                tok,
                Tok::BeginArray
                    | Tok::EndArray
                    | Tok::BeginObject
                    | Tok::EndObject
                    | Tok::Colon
                    | Tok::Comma
            ) {
                self.pos += 1;
            }
            self.tok_end = self.pos.saturating_sub(1);
            Ok(tok)
        }

        fn literal(&mut self, word: &[u8], tok: Tok) -> Result<Tok, LexError> {
            for (k, &w) in word.iter().enumerate() {
                if self.s.get(self.pos + k) != Some(&w) {
                    return Err(self.lex_error("invalid literal", self.pos + k));
                }
            }
            self.pos += word.len();
            Ok(tok)
        }

        /// Four hex digits after `\u`.
        fn hex4(&mut self) -> Result<u32, LexError> {
            let mut v = 0;
            for _ in 0..4 {
                let d = self
                    .s
                    .get(self.pos)
                    .and_then(|&c| (c as char).to_digit(16))
                    .ok_or_else(|| {
                        self.lex_error(
                            "invalid string: '\\u' must be followed by 4 hex digits",
                            self.pos,
                        )
                    })?;
                v = v * 16 + d;
                self.pos += 1;
            }
            Ok(v)
        }

        /// The code point of a `\u` escape (the `\u` just read), joining
        /// surrogate pairs.
        fn unicode_escape(&mut self) -> Result<char, LexError> {
            const HIGH: &str =
                "invalid string: surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF";
            const LOW: &str = "invalid string: surrogate U+DC00..U+DFFF must follow U+D800..U+DBFF";
            let mut cp = self.hex4()?;
            if (0xD800..=0xDBFF).contains(&cp) {
                if self.s.get(self.pos) != Some(&b'\\') {
                    return Err(self.lex_error(HIGH, self.pos));
                }
                if self.s.get(self.pos + 1) != Some(&b'u') {
                    return Err(self.lex_error(HIGH, self.pos + 1));
                }
                self.pos += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(self.lex_error(HIGH, self.pos - 1));
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else if (0xDC00..=0xDFFF).contains(&cp) {
                return Err(self.lex_error(LOW, self.pos - 1));
            }
            Ok(char::from_u32(cp).unwrap_or('\u{FFFD}'))
        }

        /// The error for control character `c` in a string.
        fn control_error(&self, c: u8) -> LexError {
            let name = CONTROL_NAMES[usize::from(c & 0x1f)];
            let short = match c {
                0x08 => " or \\b",
                0x09 => " or \\t",
                0x0a => " or \\n",
                0x0c => " or \\f",
                0x0d => " or \\r",
                _ => "",
            };
            self.lex_error(
                format!(
                    "invalid string: control character U+{c:04X} ({name}) \
                     must be escaped to \\u{c:04X}{short}"
                ),
                self.pos,
            )
        }

        /// Reads a string token (at its opening quote) into `self.string`,
        /// checking escapes and UTF-8.
        fn string(&mut self) -> Result<Tok, LexError> {
            self.pos += 1;
            let mut out = Vec::new();
            loop {
                let Some(&c) = self.s.get(self.pos) else {
                    return Err(self.lex_error("invalid string: missing closing quote", self.pos));
                };
                match c {
                    b'"' => {
                        self.pos += 1;
                        break;
                    }
                    b'\\' => {
                        let e = self.s.get(self.pos + 1).copied();
                        self.pos += 2;
                        let unescaped = match e {
                            Some(b'"') => b'"',
                            Some(b'\\') => b'\\',
                            Some(b'/') => b'/',
                            Some(b'b') => 0x08,
                            Some(b'f') => 0x0c,
                            Some(b'n') => b'\n',
                            Some(b'r') => b'\r',
                            Some(b't') => b'\t',
                            Some(b'u') => {
                                let ch = self.unicode_escape()?;
                                let mut buf = [0; 4];
                                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                                continue;
                            }
                            _ => {
                                return Err(self.lex_error(
                                    "invalid string: forbidden character after backslash",
                                    self.pos - 1,
                                ))
                            }
                        };
                        out.push(unescaped);
                    }
                    c if c < 0x20 => return Err(self.control_error(c)),
                    c if c < 0x80 => {
                        out.push(c);
                        self.pos += 1;
                    }
                    _ => match utf8_len(self.s, self.pos) {
                        Ok(n) => {
                            out.extend_from_slice(&self.s[self.pos..self.pos + n]);
                            self.pos += n;
                        }
                        Err(at) => {
                            return Err(self.lex_error("invalid string: ill-formed UTF-8 byte", at))
                        }
                    },
                }
            }
            self.string = out;
            Ok(Tok::String)
        }

        fn digits(&mut self) {
            while self.s.get(self.pos).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            }
        }

        fn expect_digit(&mut self, message: &str) -> Result<(), LexError> {
            if !self.s.get(self.pos).is_some_and(u8::is_ascii_digit) {
                return Err(self.lex_error(message, self.pos));
            }
            self.digits();
            Ok(())
        }

        fn number(&mut self) -> Result<Tok, LexError> {
            let start = self.pos;
            let mut integer = true;
            if self.s[self.pos] == b'-' {
                self.pos += 1;
                self.expect_digit("invalid number; expected digit after '-'")?;
                // A leading zero ends the integer part.
                if self.s[start + 1] == b'0' {
                    self.pos = start + 2;
                }
            } else if self.s[self.pos] == b'0' {
                self.pos += 1;
            } else {
                self.digits();
            }
            if self.s.get(self.pos) == Some(&b'.') {
                integer = false;
                self.pos += 1;
                self.expect_digit("invalid number; expected digit after '.'")?;
            }
            if matches!(self.s.get(self.pos), Some(b'e' | b'E')) {
                integer = false;
                self.pos += 1;
                if matches!(self.s.get(self.pos), Some(b'+' | b'-')) {
                    self.pos += 1;
                    self.expect_digit("invalid number; expected digit after exponent sign")?;
                } else {
                    self.expect_digit(
                        "invalid number; expected '+', '-', or digit after exponent",
                    )?;
                }
            }
            let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
            if integer {
                if let Ok(i) = text.parse::<i64>() {
                    self.number = Value::Int(i);
                    return Ok(Tok::Number);
                }
                if !text.starts_with('-') && text.parse::<u64>().is_ok() {
                    return Err(LexError {
                        message: format!(
                            "unsigned json number {text} outside of Nix integer range"
                        ),
                        at: usize::MAX,
                        token_start: start,
                    });
                }
            }
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() => {
                    self.number = Value::Float(f);
                    Ok(Tok::Number)
                }
                _ => Err(LexError {
                    message: format!(
                        "[json.exception.out_of_range.406] number overflow parsing '{text}'"
                    ),
                    at: usize::MAX,
                    token_start: start,
                }),
            }
        }

        /// The message for a syntax error while parsing `context`, at the
        /// token just read (or the lexical error `lex`).
        fn syntax_error(
            &self,
            context: &str,
            found: Result<Tok, LexError>,
            expected: Option<&str>,
        ) -> ErrorKind {
            let (what, at) = match found {
                Ok(tok) => (format!("unexpected {}", tok.name()), self.tok_end_for(tok)),
                Err(e) if e.at == usize::MAX => return ErrorKind::Other(e.message),
                Err(e) => {
                    let end = e.at.min(self.s.len().saturating_sub(1)) + 1;
                    let read = if e.at < self.s.len() {
                        &self.s[e.token_start..end]
                    } else {
                        &self.s[e.token_start.min(self.s.len())..]
                    };
                    (format!("{}; last read: '{}'", e.message, shown(read)), e.at)
                }
            };
            let (line, col) = line_col(self.s, at);
            let expected = expected
                .map(|e| format!("; expected {e}"))
                .unwrap_or_default();
            ErrorKind::Other(format!(
                "[json.exception.parse_error.101] parse error at line {line}, column {col}: syntax error while parsing {context} - {what}{expected}"
            ))
        }

        /// The offset nlohmann reports for a token: its last byte, or the
        /// end for the end of input.
        fn tok_end_for(&self, tok: Tok) -> usize {
            if tok == Tok::End {
                self.s.len()
            } else {
                self.tok_end
            }
        }
    }

    /// The error for a string holding a NUL byte.
    fn nul_error(s: &[u8]) -> ErrorKind {
        let shown = String::from_utf8_lossy(s).replace('\0', "\u{2400}");
        ErrorKind::Other(format!(
            "input string '{shown}' cannot be represented as Nix string because it contains null bytes"
        ))
    }

    /// Parses JSON text into a Nix value: integers stay integers (those
    /// beyond the 64-bit range become floats, or an error when positive
    /// and below 2^64), objects become sets (a repeated key: the last
    /// wins).
    pub(super) fn parse(text: &[u8]) -> Result<Value, ErrorKind> {
        let mut p = Parser {
            s: text,
            pos: if text.starts_with(b"\xEF\xBB\xBF") {
                3
            } else {
                0
            },
            tok_start: 0,
            read_start: 0,
            tok_end: 0,
            string: Vec::new(),
            number: Value::Null,
            shared: std::collections::HashMap::default(),
        };
        let mut stack: Vec<Frame> = Vec::new();
        // Parse a value, then attach it to the innermost container.
        'value: loop {
            let tok = p.next();
            let mut value = match tok {
                Ok(Tok::True) => Value::Bool(true),
                Ok(Tok::False) => Value::Bool(false),
                Ok(Tok::Null) => Value::Null,
                Ok(Tok::Number) => p.number.clone(),
                Ok(Tok::String) => {
                    if p.string.contains(&0) {
                        return Err(nul_error(&p.string));
                    }
                    Value::String(p.take_string())
                }
                Ok(Tok::BeginArray) => {
                    let after = p.next();
                    if let Ok(Tok::EndArray) = after {
                        Value::list(List::new())
                    } else {
                        stack.push(Frame::Array(List::new()));
                        // Re-read the token as the first element.
                        p.pos = p.tok_start;
                        if let Err(e) = after {
                            return Err(p.syntax_error("value", Err(e), None));
                        }
                        continue 'value;
                    }
                }
                Ok(Tok::BeginObject) => match p.next() {
                    Ok(Tok::EndObject) => Value::attrs(Attrs::new()),
                    Ok(Tok::String) => {
                        let key = object_key(&mut p)?;
                        stack.push(Frame::Object(Attrs::new(), key));
                        continue 'value;
                    }
                    other => {
                        return Err(p.syntax_error("object key", other, Some("string literal")))
                    }
                },
                other => {
                    let expected = if other.is_ok() {
                        Some(LITERAL_OR_VALUE)
                    } else {
                        None
                    };
                    return Err(p.syntax_error("value", other, expected));
                }
            };
            // Close containers as far as the input says.
            loop {
                match stack.pop() {
                    None => {
                        let end = p.next();
                        return match end {
                            Ok(Tok::End) => Ok(value),
                            other => Err(p.syntax_error("value", other, Some("end of input"))),
                        };
                    }
                    Some(Frame::Array(mut items)) => {
                        items.push_back(value);
                        match p.next() {
                            Ok(Tok::Comma) => {
                                stack.push(Frame::Array(items));
                                continue 'value;
                            }
                            Ok(Tok::EndArray) => value = Value::list(items),
                            other => return Err(p.syntax_error("array", other, Some("']'"))),
                        }
                    }
                    Some(Frame::Object(mut attrs, key)) => {
                        attrs.insert(key, value);
                        match p.next() {
                            Ok(Tok::Comma) => match p.next() {
                                Ok(Tok::String) => {
                                    let key = object_key(&mut p)?;
                                    stack.push(Frame::Object(attrs, key));
                                    continue 'value;
                                }
                                other => {
                                    return Err(p.syntax_error(
                                        "object key",
                                        other,
                                        Some("string literal"),
                                    ))
                                }
                            },
                            Ok(Tok::EndObject) => value = Value::attrs(attrs),
                            other => return Err(p.syntax_error("object", other, Some("'}'"))),
                        }
                    }
                }
            }
        }
    }

    /// Takes the key just read and the colon after it.
    fn object_key(p: &mut Parser<'_>) -> Result<NixString, ErrorKind> {
        if p.string.contains(&0) {
            return Err(nul_error(&p.string));
        }
        let key = p.take_string();
        match p.next() {
            Ok(Tok::Colon) => Ok(key),
            other => Err(p.syntax_error("object separator", other, Some("':'"))),
        }
    }
}

/// `builtins.fromJSON s`: the Nix value of JSON text `s`.
fn from_json(co: Co, [s]: [Value; 1]) -> GenFuture {
    sync(async move {
        let s = name_arg(&co, s).await?;
        reader::parse(s.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_parsing() {
        assert!(matches!(reader::parse(b" 12 "), Ok(Value::Int(12))));
        assert!(matches!(reader::parse(b"1.5"), Ok(Value::Float(f)) if f == 1.5));
        assert!(reader::parse(b"[1,]").is_err());
        assert!(reader::parse(b"18446744073709551615").is_err());
        // Parsing deep nesting needs no stack. (Dropping the value does
        // recurse: the evaluator runs on a large stack, a test thread does
        // not, so the value is leaked.)
        let deep = [vec![b'['; 200_000], vec![b']'; 200_000]].concat();
        let v = reader::parse(&deep);
        assert!(v.is_ok());
        std::mem::forget(v);
    }

    /// Repeated keys and short strings are one string each; long ones
    /// are not shared, and a document with more distinct strings than are
    /// shared still parses whole.
    #[test]
    fn repeated_strings_are_shared() {
        let long = "x".repeat(40);
        let text = format!(r#"[{{"key":"v","l":"{long}"}},{{"key":"v","l":"{long}"}}]"#);
        let Ok(Value::List(items)) = reader::parse(text.as_bytes()) else {
            panic!("a list");
        };
        let field = |i: usize, name: &str| {
            let Some(Value::Attrs(a)) = items.get(i) else {
                panic!("a set");
            };
            let (k, v) = a
                .iter()
                .find(|(k, _)| k.as_bytes() == name.as_bytes())
                .expect("the key");
            let Value::String(v) = v else {
                panic!("a string");
            };
            (k.as_bytes().as_ptr(), v.as_bytes().as_ptr())
        };
        assert_eq!(field(0, "key"), field(1, "key"));
        assert_eq!(field(0, "l").0, field(1, "l").0);
        assert_ne!(field(0, "l").1, field(1, "l").1);
        let many: Vec<String> = (0..10_000).map(|i| format!(r#""k{i}":"{i}""#)).collect();
        let text = format!("{{{}}}", many.join(","));
        let Ok(Value::Attrs(a)) = reader::parse(text.as_bytes()) else {
            panic!("a set");
        };
        assert_eq!(a.len(), 10_000);
        let found = a.iter().find(|(k, _)| k.as_bytes() == b"k9999");
        assert!(matches!(found, Some((_, Value::String(s))) if s.as_bytes() == b"9999"));
    }
}
