//! `nix-instantiate --parse`: prints a parsed expression in C++ Nix's
//! normal form (`Expr::show`), with its desugarings: operators become calls
//! of `__sub`, `__lessThan`, …; nested attribute paths are merged; bindings
//! are sorted with `inherit`s first; relative paths are made absolute.

use std::collections::BTreeMap;
use std::path::Path;

use rnix::ast::{self, AstToken, HasEntry, InterpolPart};
use rowan::ast::AstNode;

use super::compiler::{canonicalise, ident_text as ident, literal_string};
use super::error::{ErrorKind, EvalError};
use super::ops::format_float;
use super::print::escape_string;

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

#[derive(Default)]
struct Bindings {
    named: BTreeMap<String, Binding>,
    dynamic: Vec<(ast::Attr, ast::Expr)>,
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

    fn string_literal(&mut self, t: &str) {
        let mut b = Vec::new();
        escape_string(t.as_bytes(), &mut b);
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
                Some(n) => self.s(&n),
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
            // `${a}.b = v` is `${a} = { b = v; }`.
            let v = if rest.is_empty() {
                value
            } else {
                return fail(
                    "nested dynamic attribute paths are not yet supported by oxnix --parse",
                );
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
                self.s(n);
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
                self.s(n);
            }
            self.s("; ");
        }
        for (name, v) in &b.named {
            match v {
                Binding::Expr(e) => {
                    self.s(name);
                    self.s(" = ");
                    self.expr(e)?;
                    self.s("; ");
                }
                Binding::Nested(sub) => {
                    self.s(name);
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
            self.expr(value)?;
            self.s("; ");
        }
        Ok(())
    }
}
