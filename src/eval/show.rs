//! `nix-instantiate --parse`: prints a parsed expression in C++ Nix's
//! normal form (`Expr::show`), with its desugarings: operators become calls
//! of `__sub`, `__lessThan`, …; nested attribute paths are merged; bindings
//! are sorted with `inherit`s first (newer Nix's form, which the upstream
//! suite expects); names that are not identifiers are quoted (C++ Nix's
//! `printIdentifier`); relative paths are made absolute.

use std::collections::BTreeMap;
use std::path::Path;

use rnix::ast::{self, AstToken, HasEntry, InterpolPart};
use rowan::ast::AstNode;

use super::error::{ErrorKind, EvalError};
use super::paths::canonicalise;
use super::print::{attr_name, escape_literal, format_float};
use super::syntax::{ident_text as ident, literal_string};
use super::value::NixString;

type R<T> = Result<T, EvalError>;

fn fail<T>(msg: &str) -> R<T> {
    Err(EvalError::new(ErrorKind::Parse(msg.to_owned()), None))
}

/// Prints `expr`; relative paths resolve against `dir`, `~` against `home`.
pub fn show(expr: &ast::Expr, dir: &Path, home: Option<&Path>) -> R<String> {
    let mut p = Printer {
        out: String::new(),
        dir,
        home,
    };
    p.expr(expr)?;
    Ok(p.out)
}

struct Printer<'a> {
    out: String,
    dir: &'a Path,
    home: Option<&'a Path>,
}

/// A binding after merging attribute paths.
enum Binding {
    Expr(ast::Expr),
    Nested(Bindings),
    Inherit,
    InheritFrom(usize),
}

/// The value of a dynamic attribute: `${a}.b = v` is `${a} = { b = v; }`.
enum Dynamic {
    Expr(ast::Expr),
    Nested(Bindings),
}

#[derive(Default)]
struct Bindings {
    named: BTreeMap<String, Binding>,
    dynamic: Vec<(ast::Attr, Dynamic)>,
    /// `inherit (e) …` sources, in order.
    froms: Vec<ast::Expr>,
}

fn static_name(attr: &ast::Attr) -> Option<String> {
    match attr {
        ast::Attr::Ident(i) => Some(ident(i)),
        ast::Attr::Str(s) => literal_string(s),
        ast::Attr::Dynamic(d) => match d.expr()? {
            ast::Expr::Str(s) => literal_string(&s),
            _ => None,
        },
    }
}

impl Printer<'_> {
    fn s(&mut self, t: &str) {
        self.out.push_str(t);
    }

    /// An attribute name, quoted unless it is an identifier.
    fn name(&mut self, n: &str) {
        let mut b = Vec::new();
        attr_name(&NixString::from(n), &mut b);
        self.out.push_str(&String::from_utf8_lossy(&b));
    }

    fn string_literal(&mut self, t: &str) {
        let mut b = Vec::new();
        escape_literal(t.as_bytes(), &mut b);
        self.out.push_str(&String::from_utf8_lossy(&b));
    }

    fn expr(&mut self, e: &ast::Expr) -> R<()> {
        match e {
            ast::Expr::Literal(l) => match l.kind() {
                ast::LiteralKind::Integer(i) => self.s(i.syntax().text()),
                ast::LiteralKind::Float(f) => {
                    let v = f.value().or_else(|_| fail("invalid float"))?;
                    self.s(&format_float(v))
                }
                ast::LiteralKind::Uri(u) => self.string_literal(u.syntax().text()),
            },
            ast::Expr::Ident(i) => self.s(&ident(i)),
            ast::Expr::Str(s) => self.string(s)?,
            ast::Expr::PathAbs(_)
            | ast::Expr::PathRel(_)
            | ast::Expr::PathHome(_)
            | ast::Expr::PathSearch(_) => {
                let Some(p) = ast::Path::cast(e.syntax().clone()) else {
                    return fail("path");
                };
                self.path(&p)?
            }
            ast::Expr::Paren(p) => match p.expr() {
                Some(inner) => self.expr(&inner)?,
                None => return fail("empty parentheses"),
            },
            ast::Expr::Root(r) => match r.expr() {
                Some(inner) => self.expr(&inner)?,
                None => return fail("empty expression"),
            },
            ast::Expr::List(l) => {
                self.s("[ ");
                for item in l.items() {
                    self.s("(");
                    self.expr(&item)?;
                    self.s(") ");
                }
                self.s("]");
            }
            ast::Expr::AttrSet(set) => {
                if set.rec_token().is_some() {
                    self.s("rec ");
                }
                let b = self.gather(set.entries())?;
                self.s("{ ");
                self.bindings(&b)?;
                self.s("}");
            }
            ast::Expr::LetIn(l) => {
                let b = self.gather(l.entries())?;
                self.s("(let ");
                self.bindings(&b)?;
                self.s("in ");
                self.child(l.body())?;
                self.s(")");
            }
            ast::Expr::LegacyLet(l) => {
                let b = self.gather(l.entries())?;
                self.s("(rec { ");
                self.bindings(&b)?;
                self.s("}).body");
            }
            ast::Expr::With(w) => {
                self.s("(with ");
                self.child(w.namespace())?;
                self.s("; ");
                self.child(w.body())?;
                self.s(")");
            }
            ast::Expr::Select(sel) => {
                self.s("(");
                self.child(sel.expr())?;
                self.s(").");
                self.attrpath(sel.attrpath())?;
                if let Some(d) = sel.default_expr() {
                    self.s(" or (");
                    self.expr(&d)?;
                    self.s(")");
                }
            }
            ast::Expr::HasAttr(h) => {
                self.s("((");
                self.child(h.expr())?;
                self.s(") ? ");
                self.attrpath(h.attrpath())?;
                self.s(")");
            }
            ast::Expr::IfElse(i) => {
                self.s("(if ");
                self.child(i.condition())?;
                self.s(" then ");
                self.child(i.body())?;
                self.s(" else ");
                self.child(i.else_body())?;
                self.s(")");
            }
            ast::Expr::Assert(a) => {
                self.s("assert ");
                self.child(a.condition())?;
                self.s("; ");
                self.child(a.body())?;
            }
            ast::Expr::Lambda(l) => self.lambda(l)?,
            ast::Expr::Apply(a) => {
                // `f a b` is one call with two arguments.
                let mut args = Vec::new();
                let mut f = ast::Expr::Apply(a.clone());
                while let ast::Expr::Apply(app) = &f {
                    let (Some(func), Some(arg)) = (app.lambda(), app.argument()) else {
                        return fail("incomplete application");
                    };
                    args.push(arg);
                    f = func;
                }
                self.s("(");
                self.expr(&f)?;
                for arg in args.iter().rev() {
                    self.s(" ");
                    self.expr(arg)?;
                }
                self.s(")");
            }
            ast::Expr::BinOp(b) => self.binop(b)?,
            ast::Expr::UnaryOp(u) => match u.operator() {
                Some(ast::UnaryOpKind::Invert) => {
                    self.s("(! ");
                    self.child(u.expr())?;
                    self.s(")");
                }
                _ => {
                    self.s("(__sub 0 ");
                    self.child(u.expr())?;
                    self.s(")");
                }
            },
            ast::Expr::CurPos(_) => self.s("__curPos"),
            ast::Expr::Error(_) => return fail("syntax error"),
        }
        Ok(())
    }

    fn child(&mut self, e: Option<ast::Expr>) -> R<()> {
        match e {
            Some(e) => self.expr(&e),
            None => fail("incomplete expression"),
        }
    }

    fn string(&mut self, s: &ast::Str) -> R<()> {
        let indented = s.syntax().first_token().is_some_and(|t| t.text() == "''");
        if indented {
            return self.indented_string(s);
        }
        let parts = s.normalized_parts();
        if parts.iter().all(|p| matches!(p, InterpolPart::Literal(_))) {
            let text = literal_string(s).unwrap_or_default();
            self.string_literal(&text);
            return Ok(());
        }
        self.s("(");
        let mut first = true;
        for p in parts {
            match p {
                InterpolPart::Literal(t) if t.is_empty() => continue,
                InterpolPart::Literal(t) => {
                    if !first {
                        self.s(" + ");
                    }
                    self.string_literal(&t);
                }
                InterpolPart::Interpolation(i) => {
                    if !first {
                        self.s(" + ");
                    }
                    self.child(i.expr())?;
                }
            }
            first = false;
        }
        self.s(")");
        Ok(())
    }

    /// An indented string as C++ Nix 2.8 parses it: its lexer makes
    /// `''$`, `'''`, `''\x` and a lone `$` or `'` parts of their own, and
    /// the indentation is stripped part by part (`stripIndentation`), so
    /// `--parse` shows each part.
    fn indented_string(&mut self, s: &ast::Str) -> R<()> {
        let mut parts = Vec::new();
        let mut raw = String::new();
        let mut first = true;
        for p in s.parts() {
            match p {
                InterpolPart::Literal(t) => {
                    let mut text = t.syntax().text();
                    // The opening `''` takes the spaces and newline after it.
                    if first {
                        let spaces = text.bytes().take_while(|&c| c == b' ').count();
                        if text.as_bytes().get(spaces) == Some(&b'\n') {
                            text = &text[spaces + 1..];
                        }
                    }
                    first = false;
                    raw.push_str(text);
                }
                InterpolPart::Interpolation(i) => {
                    first = false;
                    split_ind_lexemes(&raw, &mut parts);
                    raw.clear();
                    parts.push(IndPart::Interpolation(i.expr()));
                }
            }
        }
        split_ind_lexemes(&raw, &mut parts);
        if parts.is_empty() {
            self.string_literal("");
            return Ok(());
        }
        // The smallest indentation (whitespace-only last lines aside).
        let mut at_start = true;
        let mut min_indent = usize::MAX;
        let mut cur = 0;
        for p in &parts {
            match p {
                IndPart::Text { text, indent: true } => {
                    for c in text.bytes() {
                        if at_start {
                            match c {
                                b' ' => cur += 1,
                                b'\n' => cur = 0,
                                _ => {
                                    at_start = false;
                                    min_indent = min_indent.min(cur);
                                }
                            }
                        } else if c == b'\n' {
                            at_start = true;
                            cur = 0;
                        }
                    }
                }
                _ => {
                    if at_start {
                        at_start = false;
                        min_indent = min_indent.min(cur);
                    }
                }
            }
        }
        // Strip it from each line.
        let mut out: Vec<Result<String, &Option<ast::Expr>>> = Vec::new();
        at_start = true;
        let mut dropped = 0;
        let n = parts.len();
        for (k, p) in parts.iter().enumerate() {
            match p {
                IndPart::Interpolation(e) => {
                    at_start = false;
                    dropped = 0;
                    out.push(Err(e));
                }
                IndPart::Text { text, .. } => {
                    let mut s2 = String::new();
                    for c in text.chars() {
                        if at_start {
                            if c == ' ' {
                                if dropped >= min_indent {
                                    s2.push(c);
                                }
                                dropped += 1;
                            } else if c == '\n' {
                                dropped = 0;
                                s2.push(c);
                            } else {
                                at_start = false;
                                dropped = 0;
                                s2.push(c);
                            }
                        } else {
                            s2.push(c);
                            if c == '\n' {
                                at_start = true;
                            }
                        }
                    }
                    if k + 1 == n {
                        if let Some(nl) = s2.rfind('\n') {
                            if s2[nl + 1..].bytes().all(|c| c == b' ') {
                                s2.truncate(nl + 1);
                            }
                        }
                    }
                    out.push(Ok(s2));
                }
            }
        }
        // Newer C++ Nix drops empty parts (2.8 shows them as `""`; the
        // upstream suite expects newer Nix's form).
        if out.len() > 1 {
            out.retain(|o| !matches!(o, Ok(t) if t.is_empty()));
            if out.is_empty() {
                out.push(Ok(String::new()));
            }
        }
        if let [Ok(only)] = &out[..] {
            self.string_literal(only);
            return Ok(());
        }
        self.s("(");
        for (k, o) in out.iter().enumerate() {
            if k > 0 {
                self.s(" + ");
            }
            match o {
                Ok(t) => self.string_literal(t),
                Err(e) => self.child((*e).clone())?,
            }
        }
        self.s(")");
        Ok(())
    }

    fn path(&mut self, p: &ast::Path) -> R<()> {
        if let ast::Path::PathSearch(s) = p {
            let text = s.syntax().text().to_string();
            let name = text.trim_start_matches('<').trim_end_matches('>');
            self.s("(__findFile __nixPath ");
            self.string_literal(name);
            self.s(")");
            return Ok(());
        }
        let parts = p.parts();
        let (dir, home) = (self.dir, self.home);
        let anchor = |text: &str| -> R<String> {
            if let Some(rest) = text.strip_prefix("~/") {
                let Some(home) = home else {
                    return fail("HOME is not set");
                };
                return Ok(format!("{}/{rest}", home.display()));
            }
            if text.starts_with('/') {
                return Ok(text.to_owned());
            }
            Ok(format!("{}/{text}", dir.display()))
        };
        if parts.len() == 1 {
            if let Some(InterpolPart::Literal(l)) = parts.first() {
                let abs = anchor(l.text())?;
                self.s(&canonicalise(Path::new(&abs)).display().to_string());
                return Ok(());
            }
        }
        self.s("(");
        for (i, part) in parts.into_iter().enumerate() {
            if i > 0 {
                self.s(" + ");
            }
            match part {
                InterpolPart::Literal(l) if i == 0 => {
                    let abs = anchor(l.text())?;
                    let mut c = canonicalise(Path::new(&abs)).display().to_string();
                    if l.text().ends_with('/') && !c.ends_with('/') {
                        c.push('/');
                    }
                    self.s(&c)
                }
                InterpolPart::Literal(l) => self.string_literal(l.text()),
                InterpolPart::Interpolation(e) => self.child(e.expr())?,
            }
        }
        self.s(")");
        Ok(())
    }

    fn attrpath(&mut self, path: Option<ast::Attrpath>) -> R<()> {
        let Some(path) = path else {
            return fail("missing attribute path");
        };
        for (i, attr) in path.attrs().enumerate() {
            if i > 0 {
                self.s(".");
            }
            match static_name(&attr) {
                Some(n) => self.name(&n),
                None => {
                    self.s("\"${");
                    match &attr {
                        ast::Attr::Dynamic(d) => self.child(d.expr())?,
                        ast::Attr::Str(s) => self.string(s)?,
                        ast::Attr::Ident(_) => {}
                    }
                    self.s("}\"");
                }
            }
        }
        Ok(())
    }

    fn lambda(&mut self, l: &ast::Lambda) -> R<()> {
        self.s("(");
        match l.param() {
            Some(ast::Param::IdentParam(p)) => {
                let Some(id) = p.ident() else {
                    return fail("missing parameter");
                };
                self.s(&ident(&id));
            }
            Some(ast::Param::Pattern(pat)) => {
                let mut entries: Vec<(String, Option<ast::Expr>)> = pat
                    .pat_entries()
                    .filter_map(|e| e.ident().map(|i| (ident(&i), e.default())))
                    .collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                self.s("{ ");
                let mut first = true;
                for (name, default) in entries {
                    if !first {
                        self.s(", ");
                    }
                    first = false;
                    self.s(&name);
                    if let Some(d) = default {
                        self.s(" ? ");
                        self.expr(&d)?;
                    }
                }
                if pat.ellipsis_token().is_some() {
                    if !first {
                        self.s(", ");
                    }
                    self.s("...");
                }
                self.s(" }");
                if let Some(id) = pat.pat_bind().and_then(|b| b.ident()) {
                    self.s(" @ ");
                    self.s(&ident(&id));
                }
            }
            None => return fail("missing parameter"),
        }
        self.s(": ");
        self.child(l.body())?;
        self.s(")");
        Ok(())
    }

    fn binop(&mut self, b: &ast::BinOp) -> R<()> {
        use ast::BinOpKind as K;
        let (Some(l), Some(r), Some(op)) = (b.lhs(), b.rhs(), b.operator()) else {
            return fail("incomplete operator");
        };
        let call = |p: &mut Self, f: &str, x: &ast::Expr, y: &ast::Expr| -> R<()> {
            p.s("(");
            p.s(f);
            p.s(" ");
            p.expr(x)?;
            p.s(" ");
            p.expr(y)?;
            p.s(")");
            Ok(())
        };
        let infix = |p: &mut Self, sym: &str| -> R<()> {
            p.s("(");
            p.expr(&l)?;
            p.s(" ");
            p.s(sym);
            p.s(" ");
            p.expr(&r)?;
            p.s(")");
            Ok(())
        };
        match op {
            K::Add => infix(self, "+"),
            K::Sub => call(self, "__sub", &l, &r),
            K::Mul => call(self, "__mul", &l, &r),
            K::Div => call(self, "__div", &l, &r),
            K::Less => call(self, "__lessThan", &l, &r),
            K::More => call(self, "__lessThan", &r, &l),
            K::LessOrEq => {
                self.s("(! ");
                call(self, "__lessThan", &r, &l)?;
                self.s(")");
                Ok(())
            }
            K::MoreOrEq => {
                self.s("(! ");
                call(self, "__lessThan", &l, &r)?;
                self.s(")");
                Ok(())
            }
            K::Equal => infix(self, "=="),
            K::NotEqual => infix(self, "!="),
            K::And => infix(self, "&&"),
            K::Or => infix(self, "||"),
            K::Implication => infix(self, "->"),
            K::Update => infix(self, "//"),
            K::Concat => infix(self, "++"),
            K::PipeLeft | K::PipeRight => {
                fail("experimental Nix feature 'pipe-operators' is disabled")
            }
        }
    }

    fn gather(&self, entries: impl Iterator<Item = ast::Entry>) -> R<Bindings> {
        let mut b = Bindings::default();
        for entry in entries {
            match entry {
                ast::Entry::Inherit(inh) => {
                    let from = match inh.from().and_then(|f| f.expr()) {
                        Some(e) => {
                            b.froms.push(e);
                            Some(b.froms.len() - 1)
                        }
                        None => None,
                    };
                    for attr in inh.attrs() {
                        let Some(name) = static_name(&attr) else {
                            return fail("dynamic inherit");
                        };
                        let binding = match from {
                            Some(i) => Binding::InheritFrom(i),
                            None => Binding::Inherit,
                        };
                        b.named.insert(name, binding);
                    }
                }
                ast::Entry::AttrpathValue(av) => {
                    let (Some(path), Some(value)) = (av.attrpath(), av.value()) else {
                        return fail("incomplete binding");
                    };
                    let attrs: Vec<ast::Attr> = path.attrs().collect();
                    self.insert(&mut b, &attrs, value)?;
                }
            }
        }
        Ok(b)
    }

    fn insert(&self, b: &mut Bindings, attrs: &[ast::Attr], value: ast::Expr) -> R<()> {
        let Some((first, rest)) = attrs.split_first() else {
            return fail("empty attribute path");
        };
        let Some(name) = static_name(first) else {
            // `${a}.b = v` is `${a} = { b = v; }`, never merged.
            let v = if rest.is_empty() {
                Dynamic::Expr(value)
            } else {
                let mut sub = Bindings::default();
                self.insert(&mut sub, rest, value)?;
                Dynamic::Nested(sub)
            };
            b.dynamic.push((first.clone(), v));
            return Ok(());
        };
        if rest.is_empty() {
            if let Some(Binding::Nested(sub)) = b.named.get_mut(&name) {
                if let ast::Expr::AttrSet(set) = &value {
                    if set.rec_token().is_none() {
                        let more = self.gather(set.entries())?;
                        sub.named.extend(more.named);
                        sub.dynamic.extend(more.dynamic);
                        return Ok(());
                    }
                }
            }
            b.named.insert(name, Binding::Expr(value));
            return Ok(());
        }
        let sub = match b.named.remove(&name) {
            Some(Binding::Nested(sub)) => sub,
            Some(Binding::Expr(ast::Expr::AttrSet(set))) if set.rec_token().is_none() => {
                self.gather(set.entries())?
            }
            Some(_) => return fail("attribute already defined"),
            None => Bindings::default(),
        };
        let mut sub = sub;
        self.insert(&mut sub, rest, value)?;
        b.named.insert(name, Binding::Nested(sub));
        Ok(())
    }

    /// The bindings, sorted by name, as newer C++ Nix shows them (the
    /// upstream suite's `--parse` cases expect it; 2.8 shows `inherit a ;`
    /// and `a = (e).a;` in place, and a `let`'s in no fixed order):
    /// `inherit a b;`, then `inherit (e) c d;` per source, then the rest.
    fn bindings(&mut self, b: &Bindings) -> R<()> {
        let inherits: Vec<&String> = b
            .named
            .iter()
            .filter(|(_, v)| matches!(v, Binding::Inherit))
            .map(|(k, _)| k)
            .collect();
        if !inherits.is_empty() {
            self.s("inherit");
            for n in inherits {
                self.s(" ");
                self.name(n);
            }
            self.s("; ");
        }
        for (i, from) in b.froms.iter().enumerate() {
            let names: Vec<&String> = b
                .named
                .iter()
                .filter(|(_, v)| matches!(v, Binding::InheritFrom(j) if *j == i))
                .map(|(k, _)| k)
                .collect();
            if names.is_empty() {
                continue;
            }
            self.s("inherit (");
            self.expr(from)?;
            self.s(")");
            for n in names {
                self.s(" ");
                self.name(n);
            }
            self.s("; ");
        }
        for (name, v) in &b.named {
            match v {
                Binding::Expr(e) => {
                    self.name(name);
                    self.s(" = ");
                    self.expr(e)?;
                    self.s("; ");
                }
                Binding::Nested(sub) => {
                    self.name(name);
                    self.s(" = { ");
                    self.bindings(sub)?;
                    self.s("}; ");
                }
                _ => {}
            }
        }
        for (attr, value) in &b.dynamic {
            self.s("\"${");
            match attr {
                ast::Attr::Dynamic(d) => self.child(d.expr())?,
                ast::Attr::Str(s) => self.string(s)?,
                ast::Attr::Ident(i) => self.s(&ident(i)),
            }
            self.s("}\" = ");
            match value {
                Dynamic::Expr(e) => self.expr(e)?,
                Dynamic::Nested(sub) => {
                    self.s("{ ");
                    self.bindings(sub)?;
                    self.s("}");
                }
            }
            self.s("; ");
        }
        Ok(())
    }
}

/// A piece of an indented string as C++ Nix's lexer reads it.
enum IndPart {
    /// Text: plain (`indent`: it counts for the indentation), or the value
    /// of `''$`, `'''`, `''\x`, a lone `$` or `'` (which only ends a line's
    /// indentation); both are stripped of it.
    Text {
        text: String,
        indent: bool,
    },
    Interpolation(Option<ast::Expr>),
}

/// Splits the raw text between an indented string's delimiters and
/// interpolations into C++ Nix's lexemes, with their values.
fn split_ind_lexemes(raw: &str, parts: &mut Vec<IndPart>) {
    let b = raw.as_bytes();
    let literal = |t: &str| IndPart::Text {
        text: t.to_owned(),
        indent: false,
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let next = b.get(i + 1).copied();
        if rest.starts_with(b"''$") {
            parts.push(literal("$"));
            i += 3;
        } else if rest.starts_with(b"'''") {
            parts.push(literal("''"));
            i += 3;
        } else if rest.starts_with(b"''\\") && rest.len() > 3 {
            let c = raw[i + 3..].chars().next().unwrap_or(' ');
            let v = match c {
                'n' => "\n".to_owned(),
                'r' => "\r".to_owned(),
                't' => "\t".to_owned(),
                c => c.to_string(),
            };
            parts.push(literal(&v));
            i += 3 + c.len_utf8();
        } else if (b[i] == b'$' && !next.is_some_and(|c| c != b'{' && c != b'\''))
            || (b[i] == b'\'' && !next.is_some_and(|c| c != b'\'' && c != b'$'))
        {
            parts.push(literal(&raw[i..i + 1]));
            i += 1;
        } else {
            // `([^$']|\$[^{']|'[^'$])+`
            let start = i;
            while let Some(&c) = b.get(i) {
                let next = b.get(i + 1).copied();
                match c {
                    b'$' if next.is_some_and(|n| n != b'{' && n != b'\'') => i += 2,
                    b'\'' if next.is_some_and(|n| n != b'\'' && n != b'$') => i += 2,
                    b'$' | b'\'' => break,
                    _ => i += 1,
                }
            }
            // A pair may end inside a multi-byte character.
            while i < b.len() && !raw.is_char_boundary(i) {
                i += 1;
            }
            parts.push(IndPart::Text {
                text: raw[start..i].to_owned(),
                indent: true,
            });
        }
    }
}
