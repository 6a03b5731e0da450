//! String, regular-expression, version and JSON builtins, with C++ Nix
//! 2.8's behaviour and messages: `replaceStrings`, `match` and `split`
//! (POSIX extended regular expressions as libstdc++'s `std::regex` reads
//! them), `splitVersion`, `compareVersions`, `parseDrvName`, `baseNameOf`,
//! `dirOf`, `toJSON` and `fromJSON`.
//!
//! Where later Nix releases turned a 2.8 quirk into an error (NUL bytes or
//! unsigned overflow in `fromJSON`, invalid UTF-8 in `toJSON`) or made
//! `replaceStrings` lazier, the later behaviour is followed, as upstream's
//! language tests expect it.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::rc::Rc;

use regex_automata::meta;
use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};

use super::core::{arg, list_arg, string_arg, sync};
use crate::eval::error::ErrorKind;
use crate::eval::ops::format_float;
use crate::eval::value::{Attrs, Context, List, NixString, Value};
use crate::eval::vm::{call, force, Co, GenFuture};

builtins! {
    "replaceStrings"/3 => replace_strings,
    "match"/2 => regex_match, "split"/2 => regex_split,
    "splitVersion"/1 => split_version, "compareVersions"/2 => compare_versions,
    "parseDrvName"/1 => parse_drv_name,
    #[global] "baseNameOf"/1 => base_name_of, #[global] "dirOf"/1 => dir_of,
    "toJSON"/1 => to_json, "fromJSON"/1 => from_json,
}

// ---------------------------------------------------------------------
// Coercion without copying to the store
// ---------------------------------------------------------------------

use crate::eval::ops::coerce_no_copy;

// ---------------------------------------------------------------------
// replaceStrings
// ---------------------------------------------------------------------

/// `builtins.replaceStrings from to s`: scanning `s` left to right, at
/// each position the first of `from` that occurs there is replaced by the
/// matching element of `to`; an empty pattern matches at every position
/// (also the end), inserting its replacement before the character there.
/// Replacements are forced only when used.
fn replace_strings(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let from = list_arg(&co, arg(&args, 0)).await?;
        let to = list_arg(&co, arg(&args, 1)).await?;
        if from.len() != to.len() {
            return Err(ErrorKind::Other(
                "'from' and 'to' arguments passed to builtins.replaceStrings have different lengths"
                    .into(),
            ));
        }
        let mut patterns = Vec::with_capacity(from.len());
        for p in from.iter() {
            patterns.push(string_arg(&co, p.clone()).await?);
        }
        let subject = string_arg(&co, arg(&args, 2)).await?;
        let s = subject.as_bytes();
        // The subject's context and that of every replacement used.
        let mut ctx = Context::new();
        subject.add_context_to(&mut ctx);
        let mut replacements: Vec<Option<NixString>> = vec![None; to.len()];
        let mut out = Vec::with_capacity(s.len());
        let mut p = 0;
        while p <= s.len() {
            let found = patterns
                .iter()
                .position(|pat| s[p..].starts_with(pat.as_bytes()));
            match found {
                Some(i) => {
                    let r = match &replacements[i] {
                        Some(r) => r.clone(),
                        None => {
                            let r =
                                string_arg(&co, to.get(i).cloned().unwrap_or(Value::Null)).await?;
                            replacements[i] = Some(r.clone());
                            r
                        }
                    };
                    out.extend_from_slice(r.as_bytes());
                    r.add_context_to(&mut ctx);
                    let len = patterns[i].len();
                    if len == 0 {
                        if let Some(&c) = s.get(p) {
                            out.push(c);
                        }
                        p += 1;
                    } else {
                        p += len;
                    }
                }
                None => {
                    if let Some(&c) = s.get(p) {
                        out.push(c);
                    }
                    p += 1;
                }
            }
        }
        Ok(Value::String(NixString::with_context(out, ctx)))
    })
}

// ---------------------------------------------------------------------
// Regular expressions
// ---------------------------------------------------------------------

/// Translation of POSIX extended regular expressions, as libstdc++'s
/// `std::regex` (flag `extended`, C locale) accepts them, into the syntax
/// of `regex-automata`, working on bytes.
mod ere {
    /// The character classes libstdc++ knows (`[[:alpha:]]`, and its
    /// extra `d`, `w` and `s`), as byte predicates of the C locale.
    fn class(name: &[u8]) -> Option<fn(u8) -> bool> {
        Some(match name {
            b"alnum" => |c: u8| c.is_ascii_alphanumeric(),
            b"alpha" => |c: u8| c.is_ascii_alphabetic(),
            b"blank" => |c: u8| c == b' ' || c == b'\t',
            b"cntrl" => |c: u8| c.is_ascii_control(),
            b"digit" | b"d" => |c: u8| c.is_ascii_digit(),
            b"graph" => |c: u8| c.is_ascii_graphic(),
            b"lower" => |c: u8| c.is_ascii_lowercase(),
            b"print" => |c: u8| c.is_ascii_graphic() || c == b' ',
            b"punct" => |c: u8| c.is_ascii_punctuation(),
            b"space" | b"s" => |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
            b"upper" => |c: u8| c.is_ascii_uppercase(),
            b"xdigit" => |c: u8| c.is_ascii_hexdigit(),
            b"w" => |c: u8| c.is_ascii_alphanumeric() || c == b'_',
            _ => return None,
        })
    }

    /// Appends byte `b` as a literal.
    fn literal(b: u8, out: &mut String) {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }

    /// One element of a bracket expression.
    enum Item {
        Char(u8),
        Class(fn(u8) -> bool),
        Equiv(u8),
    }

    /// Reads a bracket element at `re[*i]`: `[:name:]`, `[.c.]`, `[=c=]`
    /// or a single byte. `None` when malformed.
    fn bracket_item(re: &[u8], i: &mut usize) -> Option<Item> {
        let c = *re.get(*i)?;
        if c == b'[' {
            if let Some(&d @ (b':' | b'.' | b'=')) = re.get(*i + 1) {
                let start = *i + 2;
                let len = re
                    .get(start..)?
                    .windows(2)
                    .position(|w| w[0] == d && w[1] == b']')?;
                let name = &re[start..start + len];
                *i = start + len + 2;
                return match (d, name) {
                    (b':', _) => class(name).map(Item::Class),
                    (b'.', [c]) => Some(Item::Char(*c)),
                    (b'=', [c]) => Some(Item::Equiv(*c)),
                    _ => None,
                };
            }
        }
        *i += 1;
        Some(Item::Char(c))
    }

    /// Parses the bracket expression starting after the `[` at `re[*i]`
    /// into a class; `None` when malformed. Ranges compare bytes as signed
    /// `char`s, as libstdc++ does.
    fn bracket(re: &[u8], i: &mut usize) -> Option<String> {
        let mut set = [false; 256];
        let negate = re.get(*i) == Some(&b'^');
        if negate {
            *i += 1;
        }
        // What the last element was, for ranges: a byte that may start
        // one, or something that may not.
        let mut last: Option<u8> = None;
        let mut first = true;
        loop {
            let c = *re.get(*i)?;
            if c == b']' && !first {
                *i += 1;
                break;
            }
            if c == b'-' && !first && re.get(*i + 1) != Some(&b']') {
                // A range from the previous byte.
                let lo = last.take()?;
                *i += 1;
                let hi = match bracket_item(re, i)? {
                    Item::Char(h) => h,
                    _ => return None,
                };
                let (lo, hi) = (lo as i8, hi as i8);
                if lo > hi {
                    return None;
                }
                for (b, slot) in set.iter_mut().enumerate() {
                    if (lo..=hi).contains(&(b as u8 as i8)) {
                        *slot = true;
                    }
                }
                first = false;
                continue;
            }
            first = false;
            match bracket_item(re, i)? {
                Item::Char(b) => {
                    set[b as usize] = true;
                    last = Some(b);
                }
                Item::Equiv(b) => {
                    set[b as usize] = true;
                    last = None;
                }
                Item::Class(f) => {
                    for (b, slot) in set.iter_mut().enumerate() {
                        if f(b as u8) {
                            *slot = true;
                        }
                    }
                    last = None;
                }
            }
        }
        if negate {
            for slot in set.iter_mut() {
                *slot = !*slot;
            }
        }
        let mut out = String::from("[");
        let mut b = 0;
        let mut any = false;
        while b < 256 {
            if !set[b] {
                b += 1;
                continue;
            }
            let start = b;
            while b < 256 && set[b] {
                b += 1;
            }
            any = true;
            out.push_str(&format!("\\x{start:02X}-\\x{:02X}", b - 1));
        }
        if !any {
            // Matches nothing.
            return Some(super::NEVER.into());
        }
        out.push(']');
        Some(out)
    }

    /// Reads an interval `{m}`, `{m,}` or `{m,n}` after the `{` at
    /// `re[*i]`; `None` when malformed.
    fn interval(re: &[u8], i: &mut usize) -> Option<String> {
        let number = |i: &mut usize| -> Option<u32> {
            let start = *i;
            while re.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            std::str::from_utf8(&re[start..*i]).ok()?.parse().ok()
        };
        let m = number(i)?;
        let q = match re.get(*i)? {
            b'}' => format!("{{{m}}}"),
            b',' => {
                *i += 1;
                if re.get(*i) == Some(&b'}') {
                    format!("{{{m},}}")
                } else {
                    let n = number(i)?;
                    if n < m || re.get(*i) != Some(&b'}') {
                        return None;
                    }
                    format!("{{{m},{n}}}")
                }
            }
            _ => return None,
        };
        *i += 1;
        Some(q)
    }

    /// Translates `re`; `$` becomes `dollar`. `None` when `re` is not a
    /// valid extended regular expression. Capture groups keep their
    /// numbers; repeated quantifiers (`a**`, `a+?`) apply one after the
    /// other, as in POSIX (there are no lazy quantifiers).
    pub(super) fn translate(re: &[u8], dollar: &str) -> Option<String> {
        let mut out = String::with_capacity(re.len() * 2);
        // Where each open group starts in `out`.
        let mut groups: Vec<usize> = Vec::new();
        // Where the last atom starts (when a quantifier may follow), and
        // whether it has one already.
        let mut atom: Option<usize> = None;
        let mut quantified = false;
        let mut i = 0;
        while i < re.len() {
            let c = re[i];
            let start = out.len();
            match c {
                b'(' => {
                    groups.push(out.len());
                    out.push('(');
                    atom = None;
                    i += 1;
                    continue;
                }
                b')' => {
                    let open = groups.pop()?;
                    out.push(')');
                    atom = Some(open);
                    quantified = false;
                    i += 1;
                    continue;
                }
                b'|' | b'^' | b'$' => {
                    match c {
                        b'|' => out.push('|'),
                        b'^' => out.push('^'),
                        _ => out.push_str(dollar),
                    }
                    atom = None;
                    i += 1;
                    continue;
                }
                b'*' | b'+' | b'?' | b'{' => {
                    let q = if c == b'{' {
                        i += 1;
                        interval(re, &mut i)?
                    } else {
                        i += 1;
                        (c as char).to_string()
                    };
                    let from = atom?;
                    if quantified {
                        out.insert_str(from, "(?:");
                        out.push(')');
                    }
                    out.push_str(&q);
                    quantified = true;
                    continue;
                }
                b'.' => {
                    out.push('.');
                    i += 1;
                }
                b'[' => {
                    i += 1;
                    out.push_str(&bracket(re, &mut i)?);
                }
                b'\\' => {
                    let e = *re.get(i + 1)?;
                    if !b"^$\\.*+?()[{|".contains(&e) {
                        return None;
                    }
                    literal(e, &mut out);
                    i += 2;
                }
                _ => {
                    literal(c, &mut out);
                    i += 1;
                }
            }
            atom = Some(start);
            quantified = false;
        }
        if !groups.is_empty() {
            return None;
        }
        Some(out)
    }
}

/// A `$` that never matches: used when the haystack is cut short, where
/// the real end cannot be.
const NEVER: &str = r"[^\x00-\xFF]";

/// A compiled regular expression, with the variants its searches need,
/// each built on first use.
struct Regex {
    /// The translated pattern.
    pattern: String,
    /// Leftmost-first: where matches start, and their groups.
    first: Variant,
    /// All matches: the longest match from a position (POSIX semantics).
    longest: Variant,
    /// The pattern followed by the end of the haystack: whole-string
    /// matches, and groups of a match known to end at the end.
    to_end: Variant,
    /// Like `to_end` with `$` never matching, run on a haystack cut at
    /// the end of a known match.
    to_cut: Variant,
    /// The source.
    source: NixString,
}

/// Why a variant of a pattern could not be built.
#[derive(Clone, Copy)]
enum BuildFailure {
    /// Rejected by the regex engine's syntax or translation.
    Invalid,
    /// Too large (libstdc++ has a limit on states too).
    TooBig,
}

/// Builds one variant of a pattern, matching bytes (`.` matches any byte,
/// newlines too).
fn build(pattern: &str, kind: MatchKind) -> Result<meta::Regex, BuildFailure> {
    meta::Regex::builder()
        .syntax(
            syntax::Config::new()
                .unicode(false)
                .utf8(false)
                .dot_matches_new_line(true),
        )
        .configure(meta::Config::new().utf8_empty(false).match_kind(kind))
        .build(pattern)
        .map_err(|e| {
            if e.size_limit().is_some() {
                BuildFailure::TooBig
            } else {
                BuildFailure::Invalid
            }
        })
}

/// A lazily built variant of a pattern.
type Variant = OnceCell<Result<meta::Regex, BuildFailure>>;

impl Regex {
    /// The variant in `cell`, built by `make` on first use; C++ Nix's
    /// error when it cannot be built.
    fn variant<'a>(
        &self,
        cell: &'a Variant,
        make: impl FnOnce() -> Result<meta::Regex, BuildFailure>,
    ) -> Result<&'a meta::Regex, ErrorKind> {
        cell.get_or_init(make).as_ref().map_err(|e| {
            ErrorKind::Other(match e {
                BuildFailure::Invalid => {
                    format!("invalid regular expression '{}'", self.source)
                }
                BuildFailure::TooBig => format!(
                    "memory limit exceeded by regular expression '{}'",
                    self.source
                ),
            })
        })
    }

    /// The leftmost-first variant.
    fn first(&self) -> Result<&meta::Regex, ErrorKind> {
        self.variant(&self.first, || {
            build(&self.pattern, MatchKind::LeftmostFirst)
        })
    }

    /// The variant finding the longest match from an anchored position.
    fn longest(&self) -> Result<&meta::Regex, ErrorKind> {
        self.variant(&self.longest, || build(&self.pattern, MatchKind::All))
    }

    /// The variant whose matches end at the end of the haystack.
    fn to_end(&self) -> Result<&meta::Regex, ErrorKind> {
        self.variant(&self.to_end, || {
            build(
                &format!("(?:{})\\z", self.pattern),
                MatchKind::LeftmostFirst,
            )
        })
    }

    /// Like [`Regex::to_end`], for a haystack cut short (`$` never
    /// matches).
    fn to_cut(&self) -> Result<&meta::Regex, ErrorKind> {
        self.variant(&self.to_cut, || {
            let source = self.source.as_bytes();
            let p = ere::translate(source, NEVER).ok_or(BuildFailure::Invalid)?;
            build(&format!("(?:{p})\\z"), MatchKind::LeftmostFirst)
        })
    }

    /// The groups of the match of `re` from `start` to the end of `hay`,
    /// anchored at `start`.
    fn groups_to_end(re: &meta::Regex, hay: &[u8], start: usize) -> Option<Captures> {
        let mut caps = re.create_captures();
        let input = Input::new(hay)
            .span(start..hay.len())
            .anchored(Anchored::Yes);
        re.search_captures(&input, &mut caps);
        caps.is_match().then_some(caps)
    }

    /// The groups of a match known to run from `start` to `end`: the
    /// leftmost-first one among those that do.
    fn groups_between(
        &self,
        hay: &[u8],
        start: usize,
        end: usize,
    ) -> Result<Option<Captures>, ErrorKind> {
        if end == hay.len() {
            return Ok(Self::groups_to_end(self.to_end()?, hay, start));
        }
        Ok(Self::groups_to_end(self.to_cut()?, &hay[..end], start))
    }

    /// The match libstdc++ finds searching from `from`: the leftmost, and
    /// of those the longest (with `nonempty`, anchored at `from` and not
    /// empty). Returns its span and groups.
    fn search(
        &self,
        hay: &[u8],
        from: usize,
        nonempty: bool,
    ) -> Result<Option<(usize, usize, Captures)>, ErrorKind> {
        let longest = self.longest()?;
        if nonempty {
            let input = Input::new(hay)
                .span(from..hay.len())
                .anchored(Anchored::Yes);
            return Ok(match longest.search(&input) {
                Some(m) if m.end() > from => self
                    .groups_between(hay, from, m.end())?
                    .map(|c| (from, m.end(), c)),
                _ => None,
            });
        }
        let first = self.first()?;
        let mut caps = first.create_captures();
        first.search_captures(&Input::new(hay).span(from..hay.len()), &mut caps);
        let Some(m) = caps.get_match() else {
            return Ok(None);
        };
        let input = Input::new(hay)
            .span(m.start()..hay.len())
            .anchored(Anchored::Yes);
        let end = longest
            .search(&input)
            .map_or(m.end(), |l| l.end().max(m.end()));
        if end == m.end() {
            return Ok(Some((m.start(), end, caps)));
        }
        Ok(Some(match self.groups_between(hay, m.start(), end)? {
            Some(c) => (m.start(), end, c),
            None => (m.start(), m.end(), caps),
        }))
    }
}

/// How many compiled regular expressions are kept.
const REGEX_CACHE_SIZE: usize = 4096;

thread_local! {
    static REGEX_CACHE: RefCell<HashMap<Vec<u8>, Rc<Regex>>> = RefCell::new(HashMap::new());
}

/// The compiled form of `re` (cached), or C++ Nix's error for an invalid
/// one.
fn compile(re: &NixString) -> Result<Rc<Regex>, ErrorKind> {
    if let Some(r) = REGEX_CACHE.with(|c| c.borrow().get(re.as_bytes()).cloned()) {
        return Ok(r);
    }
    let Some(pattern) = ere::translate(re.as_bytes(), "$") else {
        return Err(ErrorKind::Other(format!(
            "invalid regular expression '{re}'"
        )));
    };
    let r = Rc::new(Regex {
        pattern,
        first: OnceCell::new(),
        longest: OnceCell::new(),
        to_end: OnceCell::new(),
        to_cut: OnceCell::new(),
        source: re.clone(),
    });
    REGEX_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= REGEX_CACHE_SIZE {
            c.clear();
        }
        c.insert(re.as_bytes().to_vec(), r.clone());
    });
    Ok(r)
}

/// The groups of a match as Nix values: strings, or null for groups that
/// did not take part.
fn group_values(caps: &Captures, hay: &[u8]) -> List {
    (1..caps.group_len())
        .map(|i| match caps.get_group(i) {
            Some(span) => Value::string(&hay[span.start..span.end]),
            None => Value::Null,
        })
        .collect()
}

/// `builtins.match regex s`: when the whole of `s` matches, the list of
/// the groups' matches (null for groups that did not take part); else
/// null.
fn regex_match(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let re = string_arg(&co, arg(&args, 0)).await?;
        let re = compile(&re)?;
        let whole = re.to_end()?;
        let s = string_arg(&co, arg(&args, 1)).await?;
        let hay = s.as_bytes();
        Ok(match Regex::groups_to_end(whole, hay, 0) {
            Some(caps) => Value::list(group_values(&caps, hay)),
            None => Value::Null,
        })
    })
}

/// `builtins.split regex s`: the parts of `s` between matches, with the
/// list of each match's groups between them (as `std::regex_iterator`
/// finds them: after an empty match, a non-empty one at the same place,
/// else the search goes on one character later).
fn regex_split(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let re = string_arg(&co, arg(&args, 0)).await?;
        let re = compile(&re)?;
        re.first()?;
        let s_value = force(&co, arg(&args, 1)).await?;
        let s = string_arg(&co, s_value.clone()).await?;
        let hay = s.as_bytes();
        let mut out = List::new();
        let mut prefix = 0;
        let mut next = re.search(hay, 0, false)?;
        while let Some((start, end, caps)) = next {
            out.push_back(Value::string(&hay[prefix..start]));
            out.push_back(Value::list(group_values(&caps, hay)));
            prefix = end;
            next = if start < end {
                re.search(hay, end, false)?
            } else if end == hay.len() {
                None
            } else {
                match re.search(hay, end, true)? {
                    Some(m) => Some(m),
                    None => re.search(hay, end + 1, false)?,
                }
            };
        }
        if out.is_empty() {
            return Ok(Value::list(List::unit(s_value)));
        }
        out.push_back(Value::string(&hay[prefix..]));
        Ok(Value::list(out))
    })
}

// ---------------------------------------------------------------------
// Versions and derivation names
// ---------------------------------------------------------------------

/// The next component of a version string from `*p`: separators (`.`,
/// `-`) are skipped, then a run of digits or a run of other characters.
/// Empty at the end.
fn next_component<'a>(s: &'a [u8], p: &mut usize) -> &'a [u8] {
    while *p < s.len() && (s[*p] == b'.' || s[*p] == b'-') {
        *p += 1;
    }
    let start = *p;
    if *p < s.len() && s[*p].is_ascii_digit() {
        while *p < s.len() && s[*p].is_ascii_digit() {
            *p += 1;
        }
    } else {
        while *p < s.len() && !s[*p].is_ascii_digit() && s[*p] != b'.' && s[*p] != b'-' {
            *p += 1;
        }
    }
    &s[start..*p]
}

/// Whether version component `a` sorts before `b`: numbers (that fit a C
/// `int`) numerically, the empty component before numbers, `pre` before
/// everything else, other strings before numbers, else bytewise.
fn component_less(a: &[u8], b: &[u8]) -> bool {
    let num = |s: &[u8]| -> Option<i32> { std::str::from_utf8(s).ok()?.parse().ok() };
    let (n1, n2) = (num(a), num(b));
    match (n1, n2) {
        (Some(x), Some(y)) => x < y,
        _ if a.is_empty() && n2.is_some() => true,
        _ if a == b"pre" && b != b"pre" => true,
        _ if b == b"pre" => false,
        (_, Some(_)) => true,
        (Some(_), _) => false,
        _ => a < b,
    }
}

/// C++ Nix's `compareVersions`: -1, 0 or 1.
fn compare_version_strings(a: &[u8], b: &[u8]) -> i64 {
    let (mut p, mut q) = (0, 0);
    while p < a.len() || q < b.len() {
        let c1 = next_component(a, &mut p);
        let c2 = next_component(b, &mut q);
        if component_less(c1, c2) {
            return -1;
        }
        if component_less(c2, c1) {
            return 1;
        }
    }
    0
}

/// `builtins.compareVersions a b`: -1, 0 or 1 as version `a` is older
/// than, the same as or newer than `b`.
fn compare_versions(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let a = string_arg(&co, arg(&args, 0)).await?;
        let b = string_arg(&co, arg(&args, 1)).await?;
        Ok(Value::Int(compare_version_strings(
            a.as_bytes(),
            b.as_bytes(),
        )))
    })
}

/// `builtins.splitVersion s`: the components `compareVersions` compares.
fn split_version(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let s = string_arg(&co, arg(&args, 0)).await?;
        let s = s.as_bytes();
        let mut p = 0;
        let mut out = List::new();
        while p < s.len() {
            let c = next_component(s, &mut p);
            if c.is_empty() {
                break;
            }
            out.push_back(Value::string(c));
        }
        Ok(Value::list(out))
    })
}

/// `builtins.parseDrvName s`: `{ name; version; }`, split at the first
/// `-` not followed by a letter (no version when there is none).
fn parse_drv_name(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let s = string_arg(&co, arg(&args, 0)).await?;
        let b = s.as_bytes();
        let split = (0..b.len())
            .find(|&i| b[i] == b'-' && b.get(i + 1).is_some_and(|c| !c.is_ascii_alphabetic()));
        let (name, version) = match split {
            Some(i) => (Value::string(&b[..i]), Value::string(&b[i + 1..])),
            None => (Value::String(s.clone()), Value::string("")),
        };
        Ok(super::attrs_from([("name", name), ("version", version)]))
    })
}

// ---------------------------------------------------------------------
// baseNameOf and dirOf
// ---------------------------------------------------------------------

/// The last component of `path`, ignoring one trailing slash.
fn base_name(path: &[u8]) -> &[u8] {
    if path.is_empty() {
        return path;
    }
    let mut last = path.len() - 1;
    if path[last] == b'/' && last > 0 {
        last -= 1;
    }
    let start = path[..=last]
        .iter()
        .rposition(|&c| c == b'/')
        .map_or(0, |p| p + 1);
    &path[start..=last]
}

/// Everything before the last slash: `.` when there is none, `/` when it
/// is the first character.
fn dir_name(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&c| c == b'/') {
        None => b".",
        Some(0) => b"/",
        Some(p) => &path[..p],
    }
}

/// `baseNameOf x`: the last component of a path or string (without
/// copying paths to the store), as a string.
fn base_name_of(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let s = coerce_no_copy(&co, arg(&args, 0)).await?;
        let mut ctx = Context::new();
        s.add_context_to(&mut ctx);
        Ok(Value::String(NixString::with_context(
            base_name(s.as_bytes()),
            ctx,
        )))
    })
}

/// `dirOf x`: the directory part of a path (a path) or of anything else
/// that coerces to a string (a string).
fn dir_of(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let v = force(&co, arg(&args, 0)).await?;
        let is_path = matches!(v, Value::Path(_));
        let s = coerce_no_copy(&co, v).await?;
        let dir = dir_name(s.as_bytes());
        Ok(if is_path {
            Value::Path(Rc::new(PathBuf::from(OsStr::from_bytes(dir))))
        } else {
            let mut ctx = Context::new();
            s.add_context_to(&mut ctx);
            Value::String(NixString::with_context(dir, ctx))
        })
    })
}

// ---------------------------------------------------------------------
// toJSON
// ---------------------------------------------------------------------

/// How deeply lists and sets may nest in `toJSON` (C++ Nix 2.8 recurses
/// and runs out of stack somewhat beyond 60000 levels; later releases
/// stop at their call-depth limit).
const MAX_JSON_DEPTH: usize = 65_536;

/// Appends `s` as a JSON string, escaping as C++ Nix 2.8 does (`"`, `\`,
/// `\n`, `\r`, `\t`, other control characters as `\u00XX`). Strings that
/// are not UTF-8 are refused, as later Nix releases do.
fn json_string(s: &[u8], out: &mut Vec<u8>) -> Result<(), ErrorKind> {
    if let Err(e) = std::str::from_utf8(s) {
        let i = e.valid_up_to();
        return Err(ErrorKind::Other(format!(
            "JSON serialization error: [json.exception.type_error.316] invalid UTF-8 byte at index {i}: 0x{:02X}",
            s.get(i).copied().unwrap_or(0)
        )));
    }
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
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

/// The JSON text of `v`, forcing it deeply (in order, without recursion);
/// the contexts of its strings go to `ctx`.
pub(crate) async fn to_json_bytes(
    co: &Co,
    v: Value,
    ctx: &mut Context,
) -> Result<Vec<u8>, ErrorKind> {
    let mut out = Vec::new();
    let mut work = vec![JsonWork::Value(v, 0)];
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
        match force(co, v).await? {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
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
                if let Some(f) = a.get(&NixString::from("__toString")) {
                    let r = call(co, f.clone(), Value::Attrs(a.clone())).await?;
                    let s = coerce_no_copy(co, r).await?;
                    json_string(s.as_bytes(), &mut out)?;
                    s.add_context_to(ctx);
                } else if let Some(p) = a.get(&NixString::from("outPath")) {
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
fn to_json(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let mut ctx = Context::new();
        let json = to_json_bytes(&co, arg(&args, 0), &mut ctx).await?;
        Ok(Value::String(NixString::with_context(json, ctx)))
    })
}

// ---------------------------------------------------------------------
// fromJSON
// ---------------------------------------------------------------------

/// A JSON parser producing Nix values, iterative (any nesting depth), with
/// the messages of the nlohmann parser C++ Nix uses.
mod json {
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
                    Value::string(std::mem::take(&mut p.string))
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
        let key = std::mem::take(&mut p.string);
        if key.contains(&0) {
            return Err(nul_error(&key));
        }
        match p.next() {
            Ok(Tok::Colon) => Ok(NixString::from(key)),
            other => Err(p.syntax_error("object separator", other, Some("':'"))),
        }
    }
}

/// `builtins.fromJSON s`: the Nix value of JSON text `s`.
fn from_json(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let s = string_arg(&co, arg(&args, 0)).await?;
        json::parse(s.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_components() {
        let split = |s: &str| {
            let mut p = 0;
            let mut v = Vec::new();
            while p < s.len() {
                let c = next_component(s.as_bytes(), &mut p);
                if c.is_empty() {
                    break;
                }
                v.push(String::from_utf8_lossy(c).into_owned());
            }
            v
        };
        assert_eq!(split("1.2.3"), ["1", "2", "3"]);
        assert_eq!(split("2.3pre1-x"), ["2", "3", "pre", "1", "x"]);
        assert_eq!(compare_version_strings(b"2.3pre1", b"2.3"), -1);
        assert_eq!(compare_version_strings(b"2.3.1", b"2.3a"), 1);
        assert_eq!(compare_version_strings(b"1.0", b"1.0"), 0);
    }

    #[test]
    fn paths() {
        assert_eq!(base_name(b"a//"), b"");
        assert_eq!(base_name(b"/a/b/"), b"b");
        assert_eq!(dir_name(b"a///b"), b"a//");
        assert_eq!(dir_name(b"/"), b"/");
        assert_eq!(dir_name(b"x"), b".");
    }

    #[test]
    fn ere_translation() {
        assert!(ere::translate(b"a**", "$").is_some());
        assert!(ere::translate(b"*a", "$").is_none());
        assert!(ere::translate(b"(a", "$").is_none());
        assert!(ere::translate(b"a)", "$").is_none());
        assert!(ere::translate(br"\d", "$").is_none());
        assert!(ere::translate(b"[a-c-e]", "$").is_none());
        assert!(ere::translate(b"[]-a]", "$").is_some());
        assert!(ere::translate(b"a{2,1}", "$").is_none());
    }

    #[test]
    fn json_parsing() {
        assert!(matches!(json::parse(b" 12 "), Ok(Value::Int(12))));
        assert!(matches!(json::parse(b"1.5"), Ok(Value::Float(f)) if f == 1.5));
        assert!(json::parse(b"[1,]").is_err());
        assert!(json::parse(b"18446744073709551615").is_err());
        // Parsing deep nesting needs no stack. (Dropping the value does
        // recurse: the evaluator runs on a large stack, a test thread does
        // not, so the value is leaked.)
        let deep = [vec![b'['; 200_000], vec![b']'; 200_000]].concat();
        let v = json::parse(&deep);
        assert!(v.is_ok());
        std::mem::forget(v);
    }
}
