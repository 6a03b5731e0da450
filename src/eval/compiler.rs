//! The compiler: turns an rnix syntax tree into [`Code`]. Variables are
//! resolved here to (scope depth, slot); names only a `with` can provide
//! become dynamic lookups; unknown names are reported before evaluation, as
//! C++ Nix does. Nested attribute paths (`a.b = 1; a.c = 2;`) are merged at
//! compile time.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rnix::ast::{self, AstToken, HasEntry, InterpolPart};
use rowan::ast::AstNode;

use super::code::{
    AttrPosInfo, BinOp, Code, CodeParts, Formal, LambdaInfo, Op, Params, Source, Span,
};
use super::error::{ErrorKind, EvalError};
use super::syntax::{ident_text, literal_string};
use super::value::{AttrPos, NixString, Value};
// Kept here for the builtins that name it so (moved to `paths`).
use super::config::{LintLevel, Lints};
pub use super::paths::canonicalise;

/// Names visible everywhere (`builtins`, `map`, `true`, …).
pub type Globals = HashMap<String, Value>;

enum ScopeKind {
    Names(HashMap<String, u32>),
    With,
}

struct Scope {
    kind: ScopeKind,
    /// False while a `let`/`rec` scope is being filled: its slots may not be
    /// read eagerly yet, except those in `filled` (set, holding a thunk).
    initialized: bool,
    filled: HashSet<u32>,
    /// How many code builders were open when the scope began: code in a
    /// builder opened since (a thunk or lambda body) runs only once the
    /// scope is filled, so it may read every slot.
    builders: usize,
}

#[derive(Default)]
struct Builder {
    parts: CodeParts,
    /// The last position a jump was patched to land on (jumps only go
    /// forward, and are patched when their target is the next op).
    label: Option<usize>,
}

impl Builder {
    /// Emits `Force`, unless the op before it always leaves a value that
    /// is evaluated already (a closure, a set, a list, a constant that is
    /// not a thunk, a forced value) and no jump lands here.
    fn force(&mut self, span: &Span) {
        let evaluated = match self.parts.ops.last() {
            Some(Op::Closure(_) | Op::MakeAttrs { .. } | Op::MakeList(_) | Op::Force) => true,
            Some(Op::Constant(i)) => {
                !matches!(self.parts.constants.get(*i as usize), Some(Value::Thunk(_)))
            }
            _ => false,
        };
        if evaluated && self.label != Some(self.parts.ops.len()) {
            return;
        }
        self.push(Op::Force, span);
    }

    /// The code built, its positions in `source`.
    fn finish(self, source: &Rc<Source>) -> Rc<Code> {
        Rc::new(Code::new(source.clone(), self.parts))
    }

    /// Appends `op` at `span`.
    fn push(&mut self, op: Op, span: &Span) {
        self.parts.ops.push(op);
        self.parts.spans.push((span.start, span.end));
    }
}

/// Where a name was found.
enum Resolved {
    Local {
        depth: u32,
        slot: u32,
        initialized: bool,
    },
    /// Only a `with` scope can have it; the innermost is `depth` up.
    With {
        depth: u32,
    },
    Global(Value),
    Unknown,
}

/// Compiles a parsed expression of `source`.
pub struct Compiler<'g> {
    source: Rc<Source>,
    globals: &'g Globals,
    home: Option<PathBuf>,
    lints: Lints,
    /// `trace-function-calls`: bracket each call with trace instructions.
    trace_calls: bool,
    scopes: Vec<Scope>,
    builders: Vec<Builder>,
}

type R<T> = Result<T, EvalError>;

/// One entry of an attribute set or `let` being compiled.
enum Entry {
    Value {
        expr: ast::Expr,
        span: Span,
    },
    /// An attribute set built from attribute paths and/or set literals
    /// bound to the same name; `rec` when the first literal was `rec`.
    Nested {
        tree: AttrTree,
        span: Span,
        rec: bool,
    },
    /// `inherit x;` (from the enclosing scope) or `inherit (e) x;` (`from`
    /// indexes the tree's `froms`); the name is the entry's key.
    Inherit {
        from: Option<usize>,
        span: Span,
    },
}

#[derive(Default)]
struct AttrTree {
    /// The `e` of each `inherit (e) …`, evaluated once per set.
    froms: Vec<ast::Expr>,
    order: Vec<String>,
    statics: HashMap<String, Entry>,
    /// Where each static name was defined (byte offsets: the start of its
    /// attribute path, or the name in an `inherit`).
    positions: HashMap<String, u32>,
    dynamics: Vec<(ast::Attr, Vec<ast::Attr>, ast::Expr, Span)>,
}

impl<'g> Compiler<'g> {
    pub fn new(
        source: Rc<Source>,
        globals: &'g Globals,
        home: Option<PathBuf>,
        lints: Lints,
    ) -> Self {
        Compiler {
            source,
            globals,
            home,
            lints,
            trace_calls: false,
            scopes: Vec::new(),
            builders: vec![Builder::default()],
        }
    }

    /// Parses `source.text`, or the syntax error at its position.
    pub fn parse_source(source: &Rc<Source>) -> R<rnix::Root> {
        super::parser::parse(&source.text).map_err(|e| {
            EvalError::new(
                ErrorKind::Parse(e.message),
                Some(Span {
                    source: source.clone(),
                    start: e.offset as u32,
                    end: e.offset as u32,
                }),
            )
        })
    }

    /// Compiles `root`, what [`Compiler::parse_source`] made of `source`;
    /// the result is code that leaves the forced value of the whole
    /// expression.
    pub fn compile_root(
        source: Rc<Source>,
        root: &rnix::Root,
        globals: &Globals,
        home: Option<PathBuf>,
        lints: Lints,
        base: &[String],
        trace_calls: bool,
    ) -> R<Rc<Code>> {
        intern_names(root);
        let expr = root.expr().expect("a parsed expression has an expression");
        let mut c = Compiler::new(source, globals, home, lints);
        c.trace_calls = trace_calls;
        if !base.is_empty() {
            // `scopedImport`: the given names are variables of the file's
            // outermost scope, shadowing the builtins.
            c.scopes.push(Scope {
                kind: ScopeKind::Names(
                    base.iter()
                        .enumerate()
                        .map(|(i, n)| (n.clone(), i as u32))
                        .collect(),
                ),
                initialized: true,
                filled: HashSet::default(),
                builders: c.builders.len(),
            });
        }
        c.expr(&expr)?;
        c.emit(Op::Force, &expr);
        c.emit(Op::Return, &expr);
        let root = c.builders.pop().expect("the root builder");
        Ok(root.finish(&c.source))
    }

    fn span_of(&self, node: &rowan::SyntaxNode<rnix::NixLanguage>) -> Span {
        let r = node.text_range();
        Span {
            source: self.source.clone(),
            start: r.start().into(),
            end: r.end().into(),
        }
    }

    fn span(&self, node: &impl AstNode<Language = rnix::NixLanguage>) -> Span {
        self.span_of(node.syntax())
    }

    fn err<T>(&self, kind: ErrorKind, node: &impl AstNode<Language = rnix::NixLanguage>) -> R<T> {
        Err(EvalError::new(kind, Some(self.span(node))))
    }

    fn b(&mut self) -> &mut Builder {
        self.builders.last_mut().expect("a builder is active")
    }

    /// The function of `f a b …` (`a`) and its applications, the
    /// innermost (`f a`) first.
    fn apply_chain(&self, a: &ast::Apply) -> R<(ast::Expr, Vec<ast::Apply>)> {
        let mut chain = vec![a.clone()];
        let mut head = a.lambda().ok_or_else(|| self.missing(a))?;
        while let ast::Expr::Apply(inner) = head {
            head = inner.lambda().ok_or_else(|| self.missing(&inner))?;
            chain.push(inner);
        }
        chain.reverse();
        Ok((head, chain))
    }

    /// With `trace-function-calls`: a chain of applications `f a b` is one
    /// call (as C++ Nix's `ExprCall`), between `TraceEnter` (after `f` is
    /// evaluated) and `TraceExit`.
    fn traced_call(&mut self, a: &ast::Apply) -> R<()> {
        let (head, chain) = self.apply_chain(a)?;
        self.expr(&head)?;
        self.emit(Op::TraceEnter, a);
        for app in &chain {
            let arg = app.argument().ok_or_else(|| self.missing(app))?;
            self.lazy(&arg)?;
            self.emit(Op::Call, app);
        }
        self.emit(Op::TraceExit, a);
        Ok(())
    }

    /// A chain of applications `f a b c …`: the function, then the
    /// arguments two at a time (`Call2`, which calls `f a b` at once when
    /// it can, followed by the `CallSwap` it falls back on), the last one
    /// alone with `Call`.
    fn call(&mut self, a: &ast::Apply) -> R<()> {
        let (head, chain) = self.apply_chain(a)?;
        self.expr(&head)?;
        let mut apps = chain.iter();
        while let Some(app) = apps.next() {
            let arg = app.argument().ok_or_else(|| self.missing(app))?;
            self.lazy(&arg)?;
            if apps.len() == 0 {
                self.emit(Op::Call, app);
                break;
            }
            if let Some(second) = apps.next() {
                let arg = second.argument().ok_or_else(|| self.missing(second))?;
                self.lazy(&arg)?;
                self.emit(Op::Call2, second);
                self.emit(Op::CallSwap, second);
            }
        }
        Ok(())
    }

    fn emit(&mut self, op: Op, at: &impl AstNode<Language = rnix::NixLanguage>) -> usize {
        let span = self.span(at);
        self.emit_span(op, span)
    }

    fn emit_span(&mut self, op: Op, span: Span) -> usize {
        let b = self.b();
        if let Op::Force = op {
            b.force(&span);
        } else {
            b.push(op, &span);
        }
        b.parts.ops.len() - 1
    }

    fn constant(&mut self, v: Value) -> u32 {
        let b = self.b();
        b.parts.constants.push(v);
        (b.parts.constants.len() - 1) as u32
    }

    fn emit_constant(&mut self, v: Value, span: Span) {
        let i = self.constant(v);
        self.emit_span(Op::Constant(i), span);
    }

    /// Patches the jump at `at` to land at the next instruction.
    fn patch(&mut self, at: usize) {
        let target = self.b().parts.ops.len() as u32;
        self.b().label = Some(target as usize);
        match &mut self.b().parts.ops[at] {
            Op::Jump(t)
            | Op::JumpIfFalse(t)
            | Op::SelectOr(t)
            | Op::HasAttrStep(t)
            | Op::SelectOrConst { target: t, .. } => *t = target,
            _ => unreachable!("patching a jump"),
        }
    }

    fn resolve(&self, name: &str, skip: usize) -> Resolved {
        let mut innermost_with = None;
        for (depth, scope) in self.scopes.iter().rev().skip(skip).enumerate() {
            let depth = depth as u32;
            match &scope.kind {
                ScopeKind::Names(names) => {
                    if let Some(&slot) = names.get(name) {
                        return Resolved::Local {
                            depth,
                            slot,
                            initialized: scope.initialized
                                || scope.filled.contains(&slot)
                                || self.builders.len() > scope.builders,
                        };
                    }
                }
                ScopeKind::With => {
                    innermost_with.get_or_insert(depth);
                }
            }
        }
        if let Some(v) = self.globals.get(name) {
            return Resolved::Global(v.clone());
        }
        match innermost_with {
            Some(depth) => Resolved::With { depth },
            None => Resolved::Unknown,
        }
    }

    /// Emits code that pushes variable `name`, looked up from `skip` scopes
    /// out (1 for `inherit` inside `let`/`rec`).
    fn variable(&mut self, name: &str, skip: usize, at: Span) -> R<()> {
        match self.resolve(name, skip) {
            Resolved::Local { depth, slot, .. } => {
                self.emit_span(
                    Op::Var {
                        depth: depth + skip as u32,
                        slot,
                    },
                    at,
                );
            }
            Resolved::With { depth } => {
                let i = self.constant(Value::String(super::symbols::name_string(name)));
                let depth = depth + skip as u32;
                self.emit_span(Op::WithVar { name: i, depth }, at);
            }
            Resolved::Global(v) => self.emit_constant(v, at),
            Resolved::Unknown => {
                return Err(EvalError::new(
                    ErrorKind::UndefinedVariable(name.to_owned()),
                    Some(at),
                ))
            }
        }
        Ok(())
    }

    /// Compiles `expr` in a new code unit and returns its index in the
    /// current builder's code table.
    fn sub_code(&mut self, expr: &ast::Expr) -> R<u32> {
        self.builders.push(Builder::default());
        let result = self.expr(expr);
        let mut b = self.builders.pop().expect("pushed above");
        result?;
        let span = self.span(expr);
        b.force(&span);
        b.push(Op::Return, &span);
        let code = b.finish(&self.source);
        let cur = self.b();
        cur.parts.codes.push(code);
        Ok((cur.parts.codes.len() - 1) as u32)
    }

    /// Pushes `expr` without evaluating it: cheap expressions directly,
    /// everything else as a thunk.
    fn lazy(&mut self, expr: &ast::Expr) -> R<()> {
        match expr {
            // Constants are pushed as they are (like C++ Nix, which makes
            // thunks of everything else, lambdas included: an unforced
            // lambda prints as `<CODE>`, a forced one as `<LAMBDA>`).
            ast::Expr::Literal(_) => return self.expr(expr),
            ast::Expr::PathAbs(_) | ast::Expr::PathRel(_) | ast::Expr::PathHome(_)
                if expr.syntax().children().next().is_none() =>
            {
                return self.expr(expr)
            }
            ast::Expr::Str(s) if !interpolates(s) => return self.expr(expr),
            ast::Expr::Ident(id) => {
                let name = ident_text(id);
                if let Resolved::Local {
                    initialized: true, ..
                }
                | Resolved::Global(_) = self.resolve(&name, 0)
                {
                    return self.expr(expr);
                }
            }
            ast::Expr::Paren(p) => {
                if let Some(inner) = p.expr() {
                    return self.lazy(&inner);
                }
            }
            _ => {}
        }
        let i = self.sub_code(expr)?;
        self.emit(Op::Thunk(i), expr);
        Ok(())
    }

    /// Emits code that pushes the value of `expr` (possibly unforced).
    fn expr(&mut self, expr: &ast::Expr) -> R<()> {
        match expr {
            ast::Expr::Literal(l) => self.literal(l),
            ast::Expr::Ident(id) => {
                let name = ident_text(id);
                self.variable(&name, 0, self.span(id))
            }
            ast::Expr::Str(s) => self.string(s),
            ast::Expr::PathAbs(_)
            | ast::Expr::PathRel(_)
            | ast::Expr::PathHome(_)
            | ast::Expr::PathSearch(_) => {
                let p = ast::Path::cast(expr.syntax().clone()).expect("a path node");
                self.path(&p)
            }
            ast::Expr::Paren(p) => match p.expr() {
                Some(e) => self.expr(&e),
                None => self.err(ErrorKind::Parse("empty parentheses".into()), p),
            },
            ast::Expr::Root(r) => match r.expr() {
                Some(e) => self.expr(&e),
                None => self.err(ErrorKind::Parse("empty expression".into()), r),
            },
            ast::Expr::List(l) => {
                let mut n = 0;
                for item in l.items() {
                    self.lazy(&item)?;
                    n += 1;
                }
                self.emit(Op::MakeList(n), l);
                Ok(())
            }
            ast::Expr::AttrSet(set) => {
                if set.rec_token().is_some() {
                    self.rec_attrs(set)
                } else {
                    let tree = self.attr_tree(set.entries(), false)?;
                    self.plain_attrs(tree, &self.span(set))
                }
            }
            ast::Expr::LetIn(l) => {
                let body = l.body().ok_or_else(|| self.missing(l))?;
                self.let_in(l.entries(), &self.span(l), |c| c.expr(&body))
            }
            ast::Expr::LegacyLet(l) => {
                // `let { a = …; body = …; }` is `(rec { … }).body`.
                let span = self.span(l);
                let tree = self.attr_tree(l.entries(), true)?;
                self.rec_attrs_tree(tree, &span)?;
                self.emit_constant(Value::string("body"), span.clone());
                self.emit_span(Op::Select, span);
                Ok(())
            }
            ast::Expr::With(w) => {
                let ns = w.namespace().ok_or_else(|| self.missing(w))?;
                let body = w.body().ok_or_else(|| self.missing(w))?;
                self.lazy(&ns)?;
                let next = self
                    .scopes
                    .iter()
                    .rev()
                    .position(|s| matches!(s.kind, ScopeKind::With))
                    .map_or(0, |p| p as u32 + 1);
                self.emit(Op::PushWith { next }, w);
                self.scopes.push(Scope {
                    kind: ScopeKind::With,
                    initialized: true,
                    filled: HashSet::default(),
                    builders: self.builders.len(),
                });
                let r = self.expr(&body);
                self.scopes.pop();
                r?;
                self.emit(Op::PopScope, w);
                Ok(())
            }
            ast::Expr::Select(s) => self.select(s),
            ast::Expr::HasAttr(h) => self.has_attr(h),
            ast::Expr::IfElse(i) => {
                let cond = i.condition().ok_or_else(|| self.missing(i))?;
                let then = i.body().ok_or_else(|| self.missing(i))?;
                let els = i.else_body().ok_or_else(|| self.missing(i))?;
                self.expr(&cond)?;
                let j = self.emit(Op::JumpIfFalse(0), &cond);
                self.expr(&then)?;
                let end = self.emit(Op::Jump(0), i);
                self.patch(j);
                self.expr(&els)?;
                self.patch(end);
                Ok(())
            }
            ast::Expr::Assert(a) => {
                let cond = a.condition().ok_or_else(|| self.missing(a))?;
                let body = a.body().ok_or_else(|| self.missing(a))?;
                self.expr(&cond)?;
                // The message shows the condition in C++ Nix's normal form.
                let shown = super::show::show(&cond, &self.source.dir, self.home.as_deref())
                    .unwrap_or_else(|_| cond.syntax().text().to_string());
                let text = self.constant(Value::string(shown));
                self.emit(Op::Constant(text), &cond);
                self.emit(Op::Assert, a);
                self.expr(&body)
            }
            ast::Expr::Lambda(l) => self.lambda(l, None),
            ast::Expr::Apply(a) if self.trace_calls => self.traced_call(a),
            ast::Expr::Apply(a) => self.call(a),
            ast::Expr::BinOp(b) => self.binop(b),
            ast::Expr::UnaryOp(u) => {
                let e = u.expr().ok_or_else(|| self.missing(u))?;
                self.expr(&e)?;
                match u.operator() {
                    Some(ast::UnaryOpKind::Invert) => self.emit(Op::Not, u),
                    Some(ast::UnaryOpKind::Negate) => self.emit(Op::Negate, u),
                    None => return self.err(ErrorKind::Parse("unknown operator".into()), u),
                };
                Ok(())
            }
            ast::Expr::CurPos(p) => {
                let span = self.span(p);
                let v = position_attrs(&span);
                self.emit_constant(v, span);
                Ok(())
            }
            ast::Expr::Error(e) => self.err(ErrorKind::Parse("syntax error".into()), e),
        }
    }

    /// Reports a lint at `span`: a warning on stderr, or an error.
    fn lint(&self, level: LintLevel, warn: String, fatal: String, span: &Span) -> R<()> {
        match level {
            LintLevel::Off => Ok(()),
            LintLevel::Warn => {
                let e = EvalError::new(ErrorKind::Other(warn), Some(span.clone()));
                crate::log::warning(&e.render());
                Ok(())
            }
            LintLevel::Fatal => Err(EvalError::new(ErrorKind::Other(fatal), Some(span.clone()))),
        }
    }

    fn missing(&self, node: &impl AstNode<Language = rnix::NixLanguage>) -> EvalError {
        EvalError::new(
            ErrorKind::Parse("syntax error: incomplete expression".into()),
            Some(self.span(node)),
        )
    }

    fn literal(&mut self, l: &ast::Literal) -> R<()> {
        let span = self.span(l);
        let v = match l.kind() {
            ast::LiteralKind::Integer(i) => match i.value() {
                Ok(n) => Value::Int(n),
                Err(_) => {
                    return self.err(
                        ErrorKind::Parse(format!("invalid integer '{}'", i.syntax().text())),
                        l,
                    )
                }
            },
            ast::LiteralKind::Float(f) => match f.value() {
                Ok(x) => Value::Float(x),
                Err(_) => {
                    return self.err(
                        ErrorKind::Parse(format!("invalid float '{}'", f.syntax().text())),
                        l,
                    )
                }
            },
            ast::LiteralKind::Uri(u) => {
                let text = u.syntax().text().to_owned();
                self.lint(
                    self.lints.url,
                    format!("URL literals are discouraged. Consider using a string literal \"{text}\" instead (lint-url-literals)"),
                    format!("URL literals are disallowed. Consider using a string literal \"{text}\" instead (lint-url-literals)"),
                    &span,
                )?;
                Value::string(text)
            }
        };
        self.emit_constant(v, span);
        Ok(())
    }

    fn string(&mut self, s: &ast::Str) -> R<()> {
        let parts = s.normalized_parts();
        let span = self.span(s);
        for p in &parts {
            if let InterpolPart::Literal(t) = p {
                if t.contains('\0') {
                    return Err(EvalError::new(
                        ErrorKind::Other(format!(
                            "input string '{}' cannot be represented as Nix string because it contains null bytes",
                            t.replace('\0', "\u{2400}")
                        )),
                        Some(span),
                    ));
                }
            }
        }
        if parts.iter().all(|p| matches!(p, InterpolPart::Literal(_))) {
            let text: String = parts
                .into_iter()
                .map(|p| match p {
                    InterpolPart::Literal(t) => t,
                    InterpolPart::Interpolation(_) => String::new(),
                })
                .collect();
            self.emit_constant(Value::string(text), span);
            return Ok(());
        }
        let n = parts.len() as u32;
        for p in parts {
            match p {
                InterpolPart::Literal(t) => self.emit_constant(Value::string(t), span.clone()),
                InterpolPart::Interpolation(i) => {
                    let e = i.expr().ok_or_else(|| self.missing(&i))?;
                    self.expr(&e)?;
                }
            }
        }
        self.emit_span(Op::Interpolate(n), span);
        Ok(())
    }

    fn path(&mut self, p: &ast::Path) -> R<()> {
        let span = self.span(p);
        if let ast::Path::PathSearch(s) = p {
            // `<x>` is `__findFile __nixPath "x"`.
            let text = s.syntax().text().to_string();
            let name = text
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned();
            self.variable("__findFile", 0, span.clone())?;
            self.variable("__nixPath", 0, span.clone())?;
            self.emit_span(Op::Call, span.clone());
            self.emit_constant(Value::string(name), span.clone());
            self.emit_span(Op::Call, span);
            return Ok(());
        }
        let parts = p.parts();
        let mut n = 0u32;
        for (i, part) in parts.into_iter().enumerate() {
            match part {
                InterpolPart::Literal(lit) => {
                    let mut text = lit.text().to_owned();
                    if i == 0 {
                        self.lint_path(&p.syntax().text().to_string(), &text, &span)?;
                        text = self.anchor_path(&text, &span)?;
                    }
                    self.emit_constant(Value::string(text), span.clone());
                }
                InterpolPart::Interpolation(interp) => {
                    if i == 0 {
                        return self.err(
                            ErrorKind::Parse("a path cannot start with an interpolation".into()),
                            &interp,
                        );
                    }
                    let e = interp.expr().ok_or_else(|| self.missing(&interp))?;
                    self.expr(&e)?;
                }
            }
            n += 1;
        }
        if n == 1 {
            // A plain literal path: fold it now.
            let b = self.b();
            if let Some(Op::Constant(i)) = b.parts.ops.last().copied() {
                if let Value::String(s) = &b.parts.constants[i as usize] {
                    let p = canonicalise(Path::new(&*s.to_str_lossy()));
                    b.parts.constants[i as usize] = Value::Path(Rc::new(p));
                    return Ok(());
                }
            }
        }
        self.emit_span(Op::MakePath(n), span);
        Ok(())
    }

    fn lint_path(&self, literal: &str, first: &str, span: &Span) -> R<()> {
        let portable = |kind: &str| {
            format!("{kind} path literals are not portable. Consider replacing path literal '{literal}' by a string, relative path, or parameter (lint-absolute-path-literals)")
        };
        if first.starts_with('/') {
            let m = portable("absolute");
            self.lint(self.lints.absolute_path, m.clone(), m, span)
        } else if first.starts_with("~/") {
            let m = portable("home");
            self.lint(self.lints.absolute_path, m.clone(), m, span)
        } else if !first.starts_with("./") && !first.starts_with("../") {
            let m = format!("relative path literal '{literal}' should be prefixed with '.' for clarity: './{literal}' (lint-short-path-literals)");
            self.lint(self.lints.short_path, m.clone(), m, span)
        } else {
            Ok(())
        }
    }

    /// Makes the first literal part of a path absolute.
    fn anchor_path(&self, text: &str, span: &Span) -> R<String> {
        if let Some(rest) = text.strip_prefix("~/") {
            let home = self.home.clone().ok_or_else(|| {
                EvalError::new(
                    ErrorKind::Other("the environment variable HOME is not set".into()),
                    Some(span.clone()),
                )
            })?;
            return Ok(format!("{}/{rest}", home.display()));
        }
        if text.starts_with('/') {
            return Ok(text.to_owned());
        }
        Ok(format!("{}/{text}", self.source.dir.display()))
    }

    fn binop(&mut self, b: &ast::BinOp) -> R<()> {
        let lhs = b.lhs().ok_or_else(|| self.missing(b))?;
        let rhs = b.rhs().ok_or_else(|| self.missing(b))?;
        let kind = b.operator().ok_or_else(|| {
            EvalError::new(
                ErrorKind::Parse("unknown operator".into()),
                Some(self.span(b)),
            )
        })?;
        use ast::BinOpKind as K;
        let simple = match kind {
            K::Add => BinOp::Add,
            K::Sub => BinOp::Sub,
            K::Mul => BinOp::Mul,
            K::Div => BinOp::Div,
            K::Less => BinOp::Less,
            K::LessOrEq => BinOp::LessEq,
            K::More => BinOp::More,
            K::MoreOrEq => BinOp::MoreEq,
            K::Equal => BinOp::Eq,
            K::NotEqual => BinOp::NotEq,
            K::Update => BinOp::Update,
            K::Concat => BinOp::Concat,
            K::And | K::Or | K::Implication => {
                // Short-circuit: `a && b`, `a || b`, `a -> b`.
                self.expr(&lhs)?;
                let short_value = !matches!(kind, K::And);
                if kind == K::Or {
                    self.emit(Op::Not, &lhs);
                }
                let j = self.emit(Op::JumpIfFalse(0), &lhs);
                self.expr(&rhs)?;
                self.emit(Op::AssertBool, &rhs);
                let end = self.emit(Op::Jump(0), b);
                self.patch(j);
                self.emit_constant(Value::Bool(short_value), self.span(b));
                self.patch(end);
                return Ok(());
            }
            K::PipeLeft | K::PipeRight => {
                return Err(EvalError::new(
                    ErrorKind::Other("experimental Nix feature 'pipe-operators' is disabled; add '--extra-experimental-features pipe-operators' to enable it".into()),
                    Some(self.operator_span(b)),
                ))
            }
        };
        self.strict_operand(&lhs)?;
        self.strict_operand(&rhs)?;
        // C++ Nix reports `+` (string concatenation and addition) at the
        // operand that failed, which is the right one for an overflow;
        // the other operators at the operator.
        let at = if simple == BinOp::Add {
            self.span(&rhs)
        } else {
            self.operator_span(b)
        };
        self.emit_span(Op::BinOp(simple), at);
        Ok(())
    }

    /// Pushes `e`, an operand that will be forced; a variable is forced
    /// right away at its own position, as C++ Nix's `ExprVar::eval` forces
    /// it (so an infinite recursion is reported at the variable).
    fn strict_operand(&mut self, e: &ast::Expr) -> R<()> {
        self.expr(e)?;
        let mut inner = e.clone();
        while let ast::Expr::Paren(p) = &inner {
            match p.expr() {
                Some(x) => inner = x,
                None => break,
            }
        }
        if let ast::Expr::Ident(id) = &inner {
            self.emit(Op::Force, id);
        }
        Ok(())
    }

    /// The position of a binary operator's token (where C++ Nix places
    /// the operation), or of the whole expression.
    fn operator_span(&self, b: &ast::BinOp) -> Span {
        let token = b
            .syntax()
            .children_with_tokens()
            .filter_map(|e| e.into_token())
            .find(|t| ast::BinOpKind::from_kind(t.kind()).is_some());
        match token {
            Some(t) => {
                let r = t.text_range();
                Span {
                    source: self.source.clone(),
                    start: r.start().into(),
                    end: r.end().into(),
                }
            }
            None => self.span(b),
        }
    }

    /// Pushes the name of attribute `attr` (a constant for static names).
    fn attr_name(&mut self, attr: &ast::Attr) -> R<()> {
        if let Some(name) = self.static_name(attr) {
            let span = self.span(attr);
            self.emit_constant(Value::String(super::symbols::name_string(name)), span);
            return Ok(());
        }
        match attr {
            ast::Attr::Dynamic(d) => {
                let e = d.expr().ok_or_else(|| self.missing(d))?;
                self.expr(&e)
            }
            ast::Attr::Str(s) => self.string(s),
            ast::Attr::Ident(_) => unreachable!("identifiers are static names"),
        }
    }

    /// The name of `attr` when it is known at compile time.
    fn static_name(&self, attr: &ast::Attr) -> Option<String> {
        match attr {
            ast::Attr::Ident(id) => Some(ident_text(id)),
            ast::Attr::Str(s) => literal_string(s),
            ast::Attr::Dynamic(d) => match d.expr()? {
                ast::Expr::Str(s) => literal_string(&s),
                _ => None,
            },
        }
    }

    fn select(&mut self, s: &ast::Select) -> R<()> {
        let e = s.expr().ok_or_else(|| self.missing(s))?;
        let path = s.attrpath().ok_or_else(|| self.missing(s))?;
        self.strict_operand(&e)?;
        let default = s.default_expr();
        let mut fails = Vec::new();
        for attr in path.attrs() {
            if let Some(name) = self.static_name(&attr) {
                let i = self.constant(Value::String(super::symbols::name_string(name)));
                if default.is_some() {
                    let op = Op::SelectOrConst { name: i, target: 0 };
                    fails.push(self.emit(op, &attr));
                } else {
                    self.emit(Op::SelectConst(i), s);
                }
                continue;
            }
            self.attr_name(&attr)?;
            if default.is_some() {
                fails.push(self.emit(Op::SelectOr(0), &attr));
            } else {
                self.emit(Op::Select, s);
            }
        }
        if let Some(d) = default {
            let end = self.emit(Op::Jump(0), s);
            for f in fails {
                self.patch(f);
            }
            self.expr(&d)?;
            self.patch(end);
        }
        Ok(())
    }

    fn has_attr(&mut self, h: &ast::HasAttr) -> R<()> {
        let e = h.expr().ok_or_else(|| self.missing(h))?;
        let path = h.attrpath().ok_or_else(|| self.missing(h))?;
        self.expr(&e)?;
        let attrs: Vec<_> = path.attrs().collect();
        let mut steps = Vec::new();
        for (i, attr) in attrs.iter().enumerate() {
            if i + 1 == attrs.len() {
                if let Some(name) = self.static_name(attr) {
                    let c = self.constant(Value::String(super::symbols::name_string(name)));
                    self.emit(Op::HasAttrConst(c), attr);
                    continue;
                }
            }
            self.attr_name(attr)?;
            if i + 1 == attrs.len() {
                self.emit(Op::HasAttr, attr);
            } else {
                steps.push(self.emit(Op::HasAttrStep(0), attr));
            }
        }
        for s in steps {
            self.patch(s);
        }
        Ok(())
    }

    fn lambda(&mut self, l: &ast::Lambda, name: Option<&str>) -> R<()> {
        let param = l.param().ok_or_else(|| self.missing(l))?;
        let body = l.body().ok_or_else(|| self.missing(l))?;
        let span = self.span(l);
        let mut names = HashMap::default();
        let mut formals_info = None;
        let mut param_name = None;
        match &param {
            ast::Param::IdentParam(p) => {
                let id = p.ident().ok_or_else(|| self.missing(p))?;
                param_name = Some(NixString::from(ident_text(&id)));
                names.insert(ident_text(&id), 0);
            }
            ast::Param::Pattern(pat) => {
                let mut list = Vec::new();
                for entry in pat.pat_entries() {
                    let id = entry.ident().ok_or_else(|| self.missing(&entry))?;
                    let n = ident_text(&id);
                    if names.contains_key(&n) {
                        return self.err(
                            ErrorKind::Parse(format!("duplicate formal function argument '{n}'")),
                            &entry,
                        );
                    }
                    let slot = names.len() as u32;
                    names.insert(n.clone(), slot);
                    let pos = self.span(&id).start;
                    list.push((n, slot, entry.default(), pos));
                }
                let at_slot = match pat.pat_bind().and_then(|b| b.ident()) {
                    Some(id) => {
                        let n = ident_text(&id);
                        param_name = Some(NixString::from(n.as_str()));
                        if names.contains_key(&n) {
                            return self.err(
                                ErrorKind::Parse(format!(
                                    "duplicate formal function argument '{n}'"
                                )),
                                pat,
                            );
                        }
                        let slot = names.len() as u32;
                        names.insert(n, slot);
                        Some(slot)
                    }
                    None => None,
                };
                formals_info = Some((list, pat.ellipsis_token().is_some(), at_slot));
            }
        }
        let scope_size = names.len() as u32;
        self.scopes.push(Scope {
            kind: ScopeKind::Names(names),
            initialized: true,
            filled: HashSet::default(),
            builders: self.builders.len(),
        });
        let result = (|| -> R<LambdaInfo> {
            let params = match formals_info {
                None => Params::Ident,
                Some((list, ellipsis, at_slot)) => {
                    let mut formals = Vec::new();
                    for (n, slot, default, pos) in list {
                        let default = match default {
                            Some(d) => {
                                let i = self.sub_code(&d)?;
                                let code = self.b().parts.codes.remove(i as usize);
                                Some(code)
                            }
                            None => None,
                        };
                        formals.push(Formal {
                            name: NixString::from(n.as_str()),
                            slot,
                            default,
                            pos,
                            shares: None,
                        });
                    }
                    // C++ Nix fills the formals in its symbol order (see
                    // `symbols`), after the `@` name; a default that is
                    // just a variable set by then shares its value.
                    formals.sort_by_cached_key(|f| super::symbols::intern(f.name.as_bytes()));
                    let mut set: HashSet<u32> = at_slot.into_iter().collect();
                    for f in &mut formals {
                        if let Some((depth, slot)) =
                            f.default.as_ref().and_then(|c| c.as_variable())
                        {
                            if depth > 0 || set.contains(&slot) {
                                f.shares = Some((depth, slot));
                            }
                        }
                        set.insert(f.slot);
                    }
                    Params::Formals {
                        formals,
                        ellipsis,
                        at_slot,
                    }
                }
            };
            let i = self.sub_code(&body)?;
            let mut code = self.b().parts.codes.remove(i as usize);
            if let Some(c) = Rc::get_mut(&mut code) {
                c.lambda = Some(Box::new((name.map(NixString::from), span.clone())));
            }
            let curried = match params {
                Params::Ident => code
                    .as_closure()
                    .and_then(|i| code.lambdas.get(i as usize).cloned()),
                Params::Formals { .. } => None,
            };
            Ok(LambdaInfo {
                name: name.map(NixString::from),
                param_name: param_name.clone(),
                params,
                scope_size,
                body: code,
                span: span.clone(),
                curried,
                function_args: Default::default(),
            })
        })();
        self.scopes.pop();
        let info = result?;
        let b = self.b();
        b.parts.lambdas.push(Rc::new(info));
        let i = (b.parts.lambdas.len() - 1) as u32;
        self.emit_span(Op::Closure(i), span);
        Ok(())
    }

    /// Gathers `entries` into a tree, merging nested attribute paths.
    fn attr_tree(&self, entries: impl Iterator<Item = ast::Entry>, in_let: bool) -> R<AttrTree> {
        let mut tree = AttrTree::default();
        for entry in entries {
            match entry {
                ast::Entry::Inherit(inh) => {
                    let from = match inh.from() {
                        // `inherit (e);` binds nothing, and C++ Nix drops
                        // `e` unchecked.
                        Some(_) if inh.attrs().next().is_none() => continue,
                        Some(f) => {
                            tree.froms.push(f.expr().ok_or_else(|| self.missing(&f))?);
                            Some(tree.froms.len() - 1)
                        }
                        None => None,
                    };
                    for attr in inh.attrs() {
                        let name = self.static_name(&attr).ok_or_else(|| {
                            EvalError::new(
                                ErrorKind::Parse(
                                    "dynamic attributes not allowed in inherit".into(),
                                ),
                                Some(self.span(&attr)),
                            )
                        })?;
                        let span = self.span(&attr);
                        let pos = span.start;
                        self.insert_static(
                            &mut tree,
                            name,
                            Entry::Inherit { from, span },
                            &attr,
                            pos,
                        )?;
                    }
                }
                ast::Entry::AttrpathValue(av) => {
                    let path = av.attrpath().ok_or_else(|| self.missing(&av))?;
                    let value = av.value().ok_or_else(|| self.missing(&av))?;
                    let attrs: Vec<ast::Attr> = path.attrs().collect();
                    self.insert_path(&mut tree, &attrs, value, in_let, &path)?;
                }
            }
        }
        Ok(tree)
    }

    fn insert_static(
        &self,
        tree: &mut AttrTree,
        name: String,
        entry: Entry,
        at: &ast::Attr,
        pos: u32,
    ) -> R<()> {
        if let Some(old) = tree.statics.get(&name) {
            let old_span = match old {
                Entry::Value { span, .. }
                | Entry::Nested { span, .. }
                | Entry::Inherit { span, .. } => span,
            };
            return self.err(
                ErrorKind::DuplicateAttr {
                    name,
                    at: old_span.describe(),
                },
                at,
            );
        }
        tree.order.push(name.clone());
        tree.positions.insert(name.clone(), pos);
        tree.statics.insert(name, entry);
        Ok(())
    }

    fn insert_path(
        &self,
        tree: &mut AttrTree,
        attrs: &[ast::Attr],
        value: ast::Expr,
        in_let: bool,
        path: &ast::Attrpath,
    ) -> R<()> {
        let Some((first, rest)) = attrs.split_first() else {
            return Err(self.missing(path));
        };
        let Some(name) = self.static_name(first) else {
            if in_let {
                return self.err(
                    ErrorKind::Parse("dynamic attributes not allowed in let".into()),
                    first,
                );
            }
            tree.dynamics
                .push((first.clone(), rest.to_vec(), value, self.span(path)));
            return Ok(());
        };
        if rest.is_empty() {
            // `a = { … }` merges with `a.b = …` or another `a = { … }`
            // written elsewhere (as C++ Nix's parser does).
            if let ast::Expr::AttrSet(set) = &value {
                if self.make_nested(tree, &name)? {
                    let extra = self.attr_tree(set.entries(), false)?;
                    if let Some(Entry::Nested { tree: sub, .. }) = tree.statics.get_mut(&name) {
                        return self.merge(sub, extra, first);
                    }
                }
            }
            return self.insert_static(
                tree,
                name,
                Entry::Value {
                    expr: value,
                    span: self.span(first),
                },
                first,
                self.span(path).start,
            );
        }
        self.make_nested(tree, &name)?;
        match tree.statics.get_mut(&name) {
            Some(Entry::Nested { tree: sub, .. }) => {
                self.insert_path(sub, rest, value, false, path)
            }
            Some(_) => {
                let old = tree.statics.get(&name).map(|e| match e {
                    Entry::Value { span, .. }
                    | Entry::Nested { span, .. }
                    | Entry::Inherit { span, .. } => span.describe(),
                });
                self.err(
                    ErrorKind::DuplicateAttr {
                        name,
                        at: old.unwrap_or_default(),
                    },
                    first,
                )
            }
            None => {
                let mut sub = AttrTree::default();
                self.insert_path(&mut sub, rest, value, false, path)?;
                tree.order.push(name.clone());
                tree.positions.insert(name.clone(), self.span(path).start);
                tree.statics.insert(
                    name,
                    Entry::Nested {
                        tree: sub,
                        span: self.span(first),
                        rec: false,
                    },
                );
                Ok(())
            }
        }
    }

    /// Turns an entry bound to a set literal into a tree that more
    /// bindings can be merged into. True when `name` is (now) such a tree.
    fn make_nested(&self, tree: &mut AttrTree, name: &str) -> R<bool> {
        match tree.statics.get(name) {
            Some(Entry::Nested { .. }) => Ok(true),
            Some(Entry::Value {
                expr: ast::Expr::AttrSet(set),
                span,
            }) => {
                let rec = set.rec_token().is_some();
                let sub = self.attr_tree(set.entries(), false)?;
                let span = span.clone();
                tree.statics.insert(
                    name.to_owned(),
                    Entry::Nested {
                        tree: sub,
                        span,
                        rec,
                    },
                );
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn merge(&self, into: &mut AttrTree, from: AttrTree, at: &ast::Attr) -> R<()> {
        let AttrTree {
            froms,
            order,
            mut statics,
            positions,
            dynamics,
        } = from;
        let offset = into.froms.len();
        into.froms.extend(froms);
        for name in order {
            if let Some(mut entry) = statics.remove(&name) {
                if let Entry::Inherit { from: Some(i), .. } = &mut entry {
                    *i += offset;
                }
                // Two literals never define the same name (C++ Nix).
                match (into.statics.get_mut(&name), entry) {
                    (None, entry) => {
                        if let Some(&p) = positions.get(&name) {
                            into.positions.insert(name.clone(), p);
                        }
                        into.order.push(name.clone());
                        into.statics.insert(name, entry);
                    }
                    (Some(_), _) => {
                        return self.err(
                            ErrorKind::DuplicateAttr {
                                name,
                                at: self.span(at).describe(),
                            },
                            at,
                        )
                    }
                }
            }
        }
        into.dynamics.extend(dynamics);
        Ok(())
    }

    /// Pushes the value of one tree entry (lazily).
    fn entry_value(&mut self, name: &str, entry: Entry, inherit_skip: usize) -> R<()> {
        match entry {
            Entry::Value { expr, span } => {
                if let ast::Expr::Lambda(l) = &expr {
                    // A thunk of the closure (as C++ Nix), named after the
                    // attribute for error messages.
                    return self.delayed(&span, |c| c.lambda(l, Some(name)));
                }
                self.lazy(&expr)
            }
            Entry::Nested {
                tree,
                span,
                rec: false,
            } => self.delayed(&span, |c| c.plain_attrs(tree, &span)),
            Entry::Nested {
                tree,
                span,
                rec: true,
            } => self.rec_attrs_tree(tree, &span),
            Entry::Inherit { from: None, span } => {
                // Inheriting what only a `with` provides stays lazy.
                if let Resolved::With { .. } = self.resolve(name, inherit_skip) {
                    let at = span.clone();
                    return self.delayed(&at, |c| c.variable(name, inherit_skip, span));
                }
                self.variable(name, inherit_skip, span)
            }
            Entry::Inherit {
                from: Some(i),
                span,
            } => {
                // `inherit (e) x;` is `x = e.x;`, evaluated lazily; `e`
                // itself sits in a hidden slot, evaluated once.
                self.builders.push(Builder::default());
                let r = (|| {
                    self.variable(&hidden_from(i), 0, span.clone())?;
                    self.emit_constant(
                        Value::String(super::symbols::name_string(name)),
                        span.clone(),
                    );
                    self.emit_span(Op::Select, span.clone());
                    self.emit_span(Op::Force, span.clone());
                    self.emit_span(Op::Return, span.clone());
                    Ok(())
                })();
                let b = self.builders.pop().expect("pushed above");
                r?;
                let code = b.finish(&self.source);
                let cur = self.b();
                cur.parts.codes.push(code);
                let i = (cur.parts.codes.len() - 1) as u32;
                self.emit_span(Op::Thunk(i), span.clone());
                Ok(())
            }
        }
    }

    /// Emits a thunk whose code is what `body` compiles (in the current
    /// scopes), as C++ Nix delays nested sets and lambdas.
    fn delayed(&mut self, span: &Span, body: impl FnOnce(&mut Self) -> R<()>) -> R<()> {
        let i = self.delayed_code(span, body)?;
        self.emit_span(Op::Thunk(i), span.clone());
        Ok(())
    }

    /// The code of a thunk whose body is what `body` compiles.
    fn delayed_code(&mut self, span: &Span, body: impl FnOnce(&mut Self) -> R<()>) -> R<u32> {
        self.builders.push(Builder::default());
        let r = body(self);
        let mut b = self.builders.pop().expect("pushed above");
        r?;
        b.force(span);
        b.push(Op::Return, span);
        let code = b.finish(&self.source);
        let cur = self.b();
        cur.parts.codes.push(code);
        Ok((cur.parts.codes.len() - 1) as u32)
    }

    /// Emits the value of a `let`/`rec` binding that names none of its
    /// siblings and would be a thunk: a thunk in the enclosing scope
    /// ([`Op::ThunkOuter`]), compiled without the innermost scope. Answers
    /// false (emitting nothing) for other bindings.
    fn outer_binding(&mut self, name: &str, entry: &Entry, siblings: &HashSet<&str>) -> R<bool> {
        let Entry::Value { expr, span } = entry else {
            return Ok(false);
        };
        if !makes_thunk(expr) || names_any(expr, siblings) {
            return Ok(false);
        }
        let Some(scope) = self.scopes.pop() else {
            return Ok(false);
        };
        let (i, at) = match expr {
            ast::Expr::Lambda(l) => (
                self.delayed_code(span, |c| c.lambda(l, Some(name))),
                span.clone(),
            ),
            _ => (self.sub_code(expr), self.span(expr)),
        };
        self.scopes.push(scope);
        self.emit_span(Op::ThunkOuter(i?), at);
        Ok(true)
    }

    fn dynamic_entries(
        &mut self,
        dynamics: Vec<(ast::Attr, Vec<ast::Attr>, ast::Expr, Span)>,
    ) -> R<Vec<u32>> {
        let mut positions = Vec::new();
        for (key, rest, value, span) in dynamics {
            positions.push(span.start);
            self.attr_name(&key)?;
            if rest.is_empty() {
                self.lazy(&value)?;
            } else {
                let mut sub = AttrTree::default();
                let path = ast::Attrpath::cast(key.syntax().parent().expect("attr has a path"))
                    .expect("an attrpath");
                self.insert_path(&mut sub, &rest, value, false, &path)?;
                self.plain_attrs(sub, &span)?;
            }
        }
        Ok(positions)
    }

    /// Emits `MakeAttrs` for `statics` (name and position, in the order
    /// pushed) followed by dynamic entries at `dynamic` positions.
    fn make_attrs(&mut self, statics: Vec<(NixString, u32)>, dynamic: Vec<u32>, span: &Span) {
        let n = (statics.len() + dynamic.len()) as u32;
        let info = AttrPosInfo {
            statics: AttrPos::table(self.source.clone(), statics),
            dynamic: dynamic.into_boxed_slice(),
        };
        let b = self.b();
        b.parts.attr_pos.push(info);
        let pos = (b.parts.attr_pos.len() - 1) as u32;
        self.emit_span(Op::MakeAttrs { n, pos }, span.clone());
    }

    fn plain_attrs(&mut self, mut tree: AttrTree, span: &Span) -> R<()> {
        let froms = std::mem::take(&mut tree.froms);
        if froms.is_empty() {
            return self.plain_attrs_entries(tree, span);
        }
        // A hidden scope holding the `inherit (e)` sources.
        for e in &froms {
            self.lazy(e)?;
        }
        let k = froms.len() as u32;
        self.emit_span(Op::PushScope(k), span.clone());
        for slot in (0..k).rev() {
            self.emit_span(Op::SetSlot(slot), span.clone());
        }
        self.scopes.push(Scope {
            kind: ScopeKind::Names(
                (0..froms.len())
                    .map(|i| (hidden_from(i), i as u32))
                    .collect(),
            ),
            initialized: true,
            filled: HashSet::default(),
            builders: self.builders.len(),
        });
        let r = self.plain_attrs_entries(tree, span);
        self.scopes.pop();
        r?;
        self.emit_span(Op::PopScope, span.clone());
        Ok(())
    }

    fn plain_attrs_entries(&mut self, mut tree: AttrTree, span: &Span) -> R<()> {
        let mut statics = Vec::new();
        for name in std::mem::take(&mut tree.order) {
            let entry = tree.statics.remove(&name).expect("ordered names exist");
            self.emit_constant(
                Value::String(super::symbols::name_string(name.as_str())),
                span.clone(),
            );
            self.entry_value(&name, entry, 0)?;
            let pos = tree.positions.get(&name).copied().unwrap_or(span.start);
            statics.push((NixString::from(name), pos));
        }
        let dynamic = self.dynamic_entries(std::mem::take(&mut tree.dynamics))?;
        self.make_attrs(statics, dynamic, span);
        Ok(())
    }

    /// Opens a scope holding the static names of `tree`, fills it, runs
    /// `inside`, and closes it.
    fn recursive_scope(
        &mut self,
        tree: &mut AttrTree,
        span: &Span,
        is_rec_set: bool,
        inside: impl FnOnce(&mut Self, &[String]) -> R<()>,
    ) -> R<()> {
        let names: Vec<String> = tree.order.clone();
        // A `rec` set with `__overrides` makes every attribute a thunk of
        // its own, sharing nothing (as C++ Nix), so that an override
        // reaches every use of the name.
        let overridable = is_rec_set && names.iter().any(|n| n == "__overrides");
        let froms = std::mem::take(&mut tree.froms);
        // The `inherit (e)` sources get hidden slots after the names.
        let map: HashMap<String, u32> = names
            .iter()
            .cloned()
            .chain((0..froms.len()).map(hidden_from))
            .enumerate()
            .map(|(i, n)| (n, i as u32))
            .collect();
        self.emit_span(
            Op::PushScope((names.len() + froms.len()) as u32),
            span.clone(),
        );
        self.scopes.push(Scope {
            kind: ScopeKind::Names(map),
            initialized: false,
            filled: HashSet::default(),
            builders: self.builders.len(),
        });
        let bindings_start = self.b().parts.ops.len();
        // Whether a binding is a thunk or closure of the scope itself,
        // which the scope then holds: a cycle to look at when leaving.
        let mut holds_itself = false;
        let r = (|| {
            for (i, e) in froms.iter().enumerate() {
                self.lazy(e)?;
                self.emit_span(Op::SetSlot((names.len() + i) as u32), span.clone());
            }
            // C++ Nix fills the slots in its symbol order (see
            // `symbols`); a later binding that is just an earlier-filled
            // name shares its value, as `maybeThunk` makes it (so `==`
            // sees the same value, `--eval` shows a shared constant, and
            // infinite recursion is found where C++ Nix finds it).
            let mut fill: Vec<(u32, usize)> = names
                .iter()
                .enumerate()
                .map(|(slot, n)| (super::symbols::intern(n.as_bytes()), slot))
                .collect();
            fill.sort_unstable();
            let siblings: HashSet<&str> = names.iter().map(String::as_str).collect();
            for (_, slot) in fill {
                let name = &names[slot];
                let entry = tree.statics.remove(name).expect("ordered names exist");
                match entry {
                    Entry::Value { expr, .. } if overridable => {
                        let i = self.sub_code(&expr)?;
                        self.emit(Op::Thunk(i), &expr);
                    }
                    entry => {
                        if !self.outer_binding(name, &entry, &siblings)? {
                            self.entry_value(name, entry, 1)?;
                        }
                    }
                }
                self.emit_span(Op::SetSlot(slot as u32), span.clone());
                if !overridable {
                    if let Some(s) = self.scopes.last_mut() {
                        s.filled.insert(slot as u32);
                    }
                }
            }
            if let Some(s) = self.scopes.last_mut() {
                s.initialized = true;
            }
            holds_itself = self.b().parts.ops[bindings_start..]
                .iter()
                .any(|op| matches!(op, Op::Thunk(_) | Op::Closure(_)));
            inside(self, &names)
        })();
        self.scopes.pop();
        r?;
        let leave = if holds_itself {
            Op::PopCyclicScope
        } else {
            Op::PopScope
        };
        self.emit_span(leave, span.clone());
        Ok(())
    }

    fn let_in(
        &mut self,
        entries: impl Iterator<Item = ast::Entry>,
        span: &Span,
        body: impl FnOnce(&mut Self) -> R<()>,
    ) -> R<()> {
        let mut tree = self.attr_tree(entries, true)?;
        self.recursive_scope(&mut tree, span, false, |c, _| body(c))
    }

    fn rec_attrs(&mut self, set: &ast::AttrSet) -> R<()> {
        let span = self.span(set);
        let tree = self.attr_tree(set.entries(), false)?;
        self.rec_attrs_tree(tree, &span)
    }

    fn rec_attrs_tree(&mut self, mut tree: AttrTree, span: &Span) -> R<()> {
        let dynamics = std::mem::take(&mut tree.dynamics);
        let positions = std::mem::take(&mut tree.positions);
        self.recursive_scope(&mut tree, span, true, |c, names| {
            // `__overrides` replaces attributes, also for recursive uses.
            let overrides = names
                .iter()
                .position(|n| n == "__overrides")
                .map(|i| i as u32);
            if let Some(slot) = overrides {
                let list = Value::list(
                    names
                        .iter()
                        .map(|n| Value::String(super::symbols::name_string(n.as_str())))
                        .collect(),
                );
                let names = c.constant(list);
                c.emit_span(Op::RecOverrides { slot, names }, span.clone());
            }
            for (slot, name) in names.iter().enumerate() {
                c.emit_constant(
                    Value::String(super::symbols::name_string(name.as_str())),
                    span.clone(),
                );
                c.emit_span(
                    Op::Var {
                        depth: 0,
                        slot: slot as u32,
                    },
                    span.clone(),
                );
            }
            let statics = names
                .iter()
                .map(|n| {
                    let pos = positions.get(n).copied().unwrap_or(span.start);
                    (NixString::from(n.as_str()), pos)
                })
                .collect();
            let dynamic = c.dynamic_entries(dynamics)?;
            c.make_attrs(statics, dynamic, span);
            if let Some(slot) = overrides {
                c.emit_span(Op::Var { depth: 0, slot }, span.clone());
                c.emit_span(Op::BinOp(BinOp::Update), span.clone());
            }
            Ok(())
        })
    }
}

/// Whether string `s` has an interpolation (`"${x}"`), else it is a
/// constant. (Its parts are not unescaped to find out.)
fn interpolates(s: &ast::Str) -> bool {
    s.syntax()
        .green()
        .children()
        .any(|c| kind(c.kind()) == rnix::SyntaxKind::NODE_INTERPOL)
}

/// rnix's kind of a green tree element (whose kind rowan keeps raw).
fn kind(raw: rowan::SyntaxKind) -> rnix::SyntaxKind {
    <rnix::NixLanguage as rowan::Language>::kind_from_raw(raw)
}

/// Whether [`Compiler::lazy`] (or a binding's lambda) makes a thunk of
/// `expr`, rather than pushing a constant or a variable's value.
fn makes_thunk(expr: &ast::Expr) -> bool {
    match expr {
        ast::Expr::Literal(_) | ast::Expr::Ident(_) => false,
        ast::Expr::PathAbs(_) | ast::Expr::PathRel(_) | ast::Expr::PathHome(_) => {
            expr.syntax().children().next().is_some()
        }
        ast::Expr::Str(s) => interpolates(s),
        ast::Expr::Paren(p) => p.expr().is_none_or(|e| makes_thunk(&e)),
        _ => true,
    }
}

/// Whether `expr` may name one of `names` as a variable: any identifier
/// but an attribute name in a path (`x.a`, `{ a = …; }`, `x ? a`). An
/// over-approximation (a lambda's own argument of that name counts too),
/// which is safe: such a binding just stays in its scope.
fn names_any(expr: &ast::Expr, names: &HashSet<&str>) -> bool {
    use rnix::SyntaxKind::{NODE_ATTRPATH, NODE_IDENT, TOKEN_IDENT};
    use rowan::NodeOrToken;
    let syntax = expr.syntax();
    let outer = syntax.parent().map(|p| p.kind());
    // The green tree, walked with a stack of (node, its parent's kind): no
    // syntax node is made, and nesting costs heap, not Rust stack.
    let mut stack = vec![(syntax.green(), outer)];
    while let Some((node, parent)) = stack.pop() {
        let here = kind(node.kind());
        for child in node.children() {
            match child {
                NodeOrToken::Node(n) => stack.push((n, Some(here))),
                NodeOrToken::Token(t) => {
                    if kind(t.kind()) == TOKEN_IDENT
                        && names.contains(t.text())
                        && (here != NODE_IDENT || parent != Some(NODE_ATTRPATH))
                    {
                        return true;
                    }
                }
            }
        }
    }
    false
}

/// The hidden variable holding the source of the `i`th `inherit (e)` of a
/// set (a name no Nix identifier can have).
fn hidden_from(i: usize) -> String {
    format!("\0inherit-from-{i}")
}

/// `{ file, line, column }` for `__curPos` and `unsafeGetAttrPos`.
pub fn position_attrs(span: &Span) -> Value {
    offset_attrs(&span.source, span.start)
}

/// `{ file, line, column }` of byte `offset` in `source`.
pub fn offset_attrs(source: &Source, offset: u32) -> Value {
    let (line, col) = source.line_col(offset as usize);
    let mut a = super::value::Attrs::new();
    a.insert(
        NixString::from("file"),
        Value::string(source.position_file()),
    );
    a.insert(NixString::from("line"), Value::Int(line as i64));
    a.insert(NixString::from("column"), Value::Int(col as i64));
    Value::attrs(a)
}

/// Interns the names of a parsed file in source order, as C++ Nix's parser
/// does (see [`super::symbols`]): identifiers and static string attribute
/// names. (A walk of the green tree: no syntax node is made but for the
/// few string attribute names.)
fn intern_names(root: &rnix::Root) {
    use rnix::SyntaxKind::{NODE_ATTRPATH, NODE_STRING, TOKEN_IDENT};
    use rowan::NodeOrToken;
    let green = root.syntax().green();
    let mut stack = vec![(green.children(), kind(green.kind()))];
    while let Some((children, here)) = stack.last_mut() {
        let here = *here;
        match children.next() {
            None => {
                stack.pop();
            }
            Some(NodeOrToken::Token(t)) => {
                if kind(t.kind()) == TOKEN_IDENT {
                    super::symbols::intern(t.text().as_bytes());
                }
            }
            Some(NodeOrToken::Node(n)) => {
                let k = kind(n.kind());
                if k == NODE_STRING && here == NODE_ATTRPATH {
                    let node = rowan::SyntaxNode::<rnix::NixLanguage>::new_root(n.to_owned());
                    if let Some(s) = ast::Str::cast(node) {
                        if let [InterpolPart::Literal(text)] = s.normalized_parts().as_slice() {
                            super::symbols::intern(text.as_bytes());
                        }
                    }
                }
                stack.push((n.children(), k));
            }
        }
    }
}

/// The code of `text` (a file `test` in `/`, no globals), for unit tests.
#[cfg(test)]
pub(crate) fn compile_test_text(text: &str) -> Rc<Code> {
    let source = Source::new("test".into(), PathBuf::from("/"), text.into());
    let root = Compiler::parse_source(&source).expect("parses");
    let globals = Globals::default();
    Compiler::compile_root(source, &root, &globals, None, Lints::default(), &[], false)
        .expect("compiles")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compiled body of the lambda `text`.
    fn lambda_body(text: &str) -> Rc<Code> {
        let code = compile_test_text(text);
        code.lambdas.first().expect("a lambda").body.clone()
    }

    /// The thunk-making ops of the body of the lambda `text`, in order.
    fn thunk_ops(text: &str) -> Vec<&'static str> {
        lambda_body(text)
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Thunk(_) => Some("in"),
                Op::ThunkOuter(_) => Some("outer"),
                _ => None,
            })
            .collect()
    }

    /// The thunks the VM evaluates without a frame when their operands
    /// are evaluated integers: two variables or constants and an operator.
    #[test]
    fn binop_thunks_are_recognised() {
        let code = compile_test_text("n: m: [ (n - 1) (2 * n) (n < m) (n - m - 1) (-n) ]");
        let outer = &code.lambdas.first().expect("a lambda").body;
        let inner = &outer.lambdas.first().expect("the inner lambda").body;
        let shapes: Vec<Option<BinOp>> = inner
            .codes
            .iter()
            .map(|c| c.as_binop().map(|(_, _, op)| op))
            .collect();
        assert!(matches!(
            shapes.as_slice(),
            [
                Some(BinOp::Sub),
                Some(BinOp::Mul),
                Some(BinOp::Less),
                None,
                None
            ]
        ));
    }

    /// How the lambda `text`'s body leaves its scopes.
    fn scope_exits(text: &str) -> Vec<&'static str> {
        lambda_body(text)
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::PopScope => Some("plain"),
                Op::PopCyclicScope => Some("cyclic"),
                _ => None,
            })
            .collect()
    }

    /// Only a scope some binding of which is a thunk or closure of the
    /// scope itself is checked for a cycle when left.
    #[test]
    fn scopes_holding_themselves_are_marked() {
        assert_eq!(scope_exits("x: let a = x + 1; in a"), ["plain"]);
        assert_eq!(scope_exits("x: let a = x + 1; b = a + 1; in b"), ["cyclic"]);
        // (A binding that is just a sibling shares its value: no thunk.)
        assert_eq!(scope_exits("x: let a = x + 1; b = a; in b"), ["plain"]);
        assert_eq!(scope_exits("x: let f = n: f n; in f"), ["cyclic"]);
        assert_eq!(scope_exits("x: rec { a = 1; b = a + 1; }"), ["cyclic"]);
        assert_eq!(scope_exits("x: rec { a = 1; b = x; }"), ["plain"]);
        // (The body's thunks of the scope are not held by it.)
        assert_eq!(scope_exits("x: let a = x; in { y = a; }"), ["plain"]);
    }

    /// Bindings naming no sibling are made in the enclosing scope (no
    /// scope holding a thunk holding the scope); others stay.
    #[test]
    fn bindings_naming_no_sibling_are_made_outside() {
        // Filled in name order: a, b, f, g.
        assert_eq!(
            thunk_ops("x: let a = x + 1; b = a + 1; f = n: n; g = n: b; in g"),
            ["outer", "in", "outer", "in"]
        );
        // An attribute name is not a variable; `inherit` and a lambda's
        // argument of a sibling's name count (over-approximated).
        assert_eq!(
            thunk_ops("x: let a = x.b + 1; b = { a = 1; }; c = { inherit a; }; d = a: a; in d"),
            ["outer", "outer", "in", "in"]
        );
        // `rec` sets alike, but not those with `__overrides`.
        assert_eq!(
            thunk_ops("x: rec { p = x + 1; q = p + 1; }"),
            ["outer", "in"]
        );
        assert_eq!(
            thunk_ops("x: rec { __overrides = {}; p = x + 1; }"),
            ["in", "in"]
        );
    }

    /// `x.a` of a variable is fused into one instruction over the `Var`,
    /// the instructions it stands for staying after it; a dynamic name or
    /// a select of something else is not.
    #[test]
    fn selects_of_a_variable_are_fused() {
        let ops = |text: &str| -> Vec<String> {
            lambda_body(text)
                .ops
                .iter()
                .map(|op| {
                    format!("{op:?}")
                        .split([' ', '('])
                        .next()
                        .unwrap_or("")
                        .to_string()
                })
                .collect()
        };
        assert_eq!(
            ops("s: s.a"),
            ["VarSelect", "Force", "SelectConst", "Force", "Return"]
        );
        assert_eq!(
            ops("s: s.a.b")[..5],
            ["VarSelect", "Force", "SelectConst", "SelectConst", "Force"]
        );
        assert!(!ops("s: let n = \"a\"; in s.${n}").contains(&"VarSelect".to_string()));
        assert!(!ops("s: (s 1).a").contains(&"VarSelect".to_string()));
    }
}
