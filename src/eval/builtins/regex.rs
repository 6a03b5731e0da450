//! `builtins.match` and `builtins.split`: POSIX extended regular
//! expressions as libstdc++'s `std::regex` reads them (C++ Nix 2.8),
//! translated to `regex-automata` and searched as libstdc++ searches.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use regex_automata::meta;
use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};

use super::args::{name_arg, string_arg, sync};
use crate::eval::error::ErrorKind;
use crate::eval::value::{List, NixString, Value};
use crate::eval::vm::{force, Co, GenFuture};

builtins! {
    "match" => regex_match, "split" => regex_split,
}

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
            return Some(crate::eval::builtins::regex::NEVER.into());
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
fn regex_match(co: Co, [re, s]: [Value; 2]) -> GenFuture {
    sync(async move {
        let re = name_arg(&co, re).await?;
        let re = compile(&re)?;
        let whole = re.to_end()?;
        let s = string_arg(&co, s).await?;
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
fn regex_split(co: Co, [re, s_value]: [Value; 2]) -> GenFuture {
    sync(async move {
        let re = name_arg(&co, re).await?;
        let re = compile(&re)?;
        re.first()?;
        let s_value = force(&co, s_value).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
