//! Compiled code: the instructions the VM runs, with a source position for
//! each, and the static description of lambdas (parameters, formals).

use std::cell::{Cell, UnsafeCell};
use std::path::PathBuf;
use std::ptr::NonNull;
use std::rc::Rc;

use super::counted::Counted;
use super::value::{AttrPos, AttrSet, NixString, Value};

/// A source file (or expression text) and where its lines start, so byte
/// offsets can be reported as `file:line:column`.
pub struct Source {
    /// Shown in messages: the file path, or `«string»` for `-E` text.
    pub name: String,
    /// The directory relative paths in this source resolve against.
    pub dir: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl Source {
    /// The file a position in this source names in values (`__curPos`,
    /// `unsafeGetAttrPos`, `--xml` locations): its path, or for `-E` and
    /// standard input the text itself, as C++ Nix 2.8 names them (newer
    /// Nix says `«string»`).
    pub fn position_file(&self) -> &str {
        if self.name == "«string»" || self.name == "«stdin»" {
            &self.text
        } else {
            &self.name
        }
    }

    /// A source; CR and CR LF line ends become LF, as C++ Nix's lexer
    /// reads them (an escaped `\r` in a string stays).
    pub fn new(name: String, dir: PathBuf, text: String) -> Rc<Source> {
        let text = if text.contains('\r') {
            text.replace("\r\n", "\n").replace('\r', "\n")
        } else {
            text
        };
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Rc::new(Source {
            name,
            dir,
            text,
            line_starts,
        })
    }

    /// 1-based line and column of byte `offset`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line.saturating_sub(1)];
        // Columns count bytes, as C++ Nix counts them.
        let col = offset.min(self.text.len()).saturating_sub(start) + 1;
        (line, col)
    }

    /// The number of lines (a final newline starts an empty last line).
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// The text of line `line` (1-based).
    pub fn line_text(&self, line: usize) -> &str {
        let start = self
            .line_starts
            .get(line.wrapping_sub(1))
            .copied()
            .unwrap_or(0);
        let end = self
            .line_starts
            .get(line)
            .map(|e| e - 1)
            .unwrap_or(self.text.len());
        &self.text[start..end.max(start)]
    }
}

/// A position in a source: the unit of error locations.
#[derive(Clone)]
pub struct Span {
    pub source: Rc<Source>,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn describe(&self) -> String {
        let (l, c) = self.source.line_col(self.start as usize);
        format!("{}:{}:{}", self.source.name, l, c)
    }
}

/// Binary operators that evaluate both operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Less,
    LessEq,
    More,
    MoreEq,
    Eq,
    NotEq,
    Update,
    Concat,
}

/// An operand of [`Code::as_binop`].
#[derive(Clone, Copy, Debug)]
pub enum Operand {
    /// A variable, as [`Op::Var`].
    Var { depth: u32, slot: u32 },
    /// `constants[i]`.
    Constant(u32),
}

/// One VM instruction. Operands index the [`Code`]'s tables.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// Push `constants[i]`.
    Constant(u32),
    /// `trace-function-calls`: a call starts here (its position is this
    /// instruction's span).
    TraceEnter,
    /// `trace-function-calls`: the call begun by the matching `TraceEnter`
    /// returned.
    TraceExit,
    /// Push the variable at `depth` scopes up, slot `slot`.
    Var {
        depth: u32,
        slot: u32,
    },
    /// `Var, Force, SelectConst(name)` (`x.name`), written over the `Var`
    /// of that sequence, which stays in place after it: when the variable
    /// is an evaluated set that has the attribute, push the attribute and
    /// skip the other two (and a `Force` after them, if the attribute is
    /// evaluated); otherwise push the variable as `Var` would and go on to
    /// the `Force`. No reference is counted on the set.
    VarSelect {
        depth: u16,
        slot: u16,
        name: u32,
    },
    /// Push the attribute named `constants[name]` from the innermost `with`
    /// scope that has it (lexical variables were resolved at compile time).
    WithVar {
        name: u32,
        /// How many scopes up the innermost `with` scope is.
        depth: u32,
    },
    /// Push a thunk of `codes[i]` in the current scope.
    Thunk(u32),
    /// Push a thunk of `codes[i]` in the scope enclosing the current one:
    /// a `let`/`rec` binding that names none of its siblings, so that the
    /// scope does not hold a thunk holding the scope (a cycle reference
    /// counting never frees).
    ThunkOuter(u32),
    /// Push a closure of `lambdas[i]` in the current scope.
    Closure(u32),
    /// Enter a new scope of `n` slots.
    PushScope(u32),
    /// Leave the current scope.
    PopScope,
    /// Leave the current scope, a `let` or `rec` scope some binding of
    /// which is a thunk or closure of the scope: empty it when only such
    /// bindings still refer to it (see `eval::cycles`).
    PopCyclicScope,
    /// Pop a value into slot `i` of the current scope.
    SetSlot(u32),
    /// Pop an attribute set (expression) and enter a `with` scope for it;
    /// `next` is how many scopes up from it the next `with` scope out is
    /// (0: none), which the scope keeps for `WithVar`.
    PushWith {
        next: u32,
    },
    /// Pop `n` (name, value) pairs and push the attribute set; `pos`
    /// indexes the code's `attr_pos` table.
    MakeAttrs {
        n: u32,
        pos: u32,
    },
    /// Pop `n` values and push the list.
    MakeList(u32),
    /// Pop name and set; push the attribute, or fail.
    Select,
    /// `Select` with the name `constants[i]` (a name written in the
    /// source): replace the set on top with its attribute, or fail.
    SelectConst(u32),
    /// `SelectOr` with the name `constants[name]`: replace the set on top
    /// with its attribute, or pop it and jump.
    SelectOrConst {
        name: u32,
        target: u32,
    },
    /// `HasAttr` with the name `constants[i]`: replace the value on top
    /// with whether it is a set with that attribute.
    HasAttrConst(u32),
    /// Pop name and set; push the attribute, or jump (popping both).
    SelectOr(u32),
    /// Pop name and value; push whether the value is a set with that name.
    HasAttr,
    /// Pop name and value; if the value is a set with that name push the
    /// attribute, else push `false` and jump.
    HasAttrStep(u32),
    /// Force the value on top of the stack.
    Force,
    Jump(u32),
    /// Pop a Boolean; jump when it is false.
    JumpIfFalse(u32),
    /// Check the top of the stack is a Boolean (for `&&`, `||`, `->`).
    AssertBool,
    /// Pop argument and function; push the result of the call.
    Call,
    /// `f a b`: pop `b`, `a` and `f`; push `f a b` and skip the
    /// `CallSwap` that follows, when `f` takes both at once (`a: b: …`, a
    /// builtin of two arguments whose fast path answers). Otherwise call
    /// `f a`, leaving `b` below its result for the `CallSwap`.
    Call2,
    /// Pop function and (below it) argument; push the result of the call.
    CallSwap,
    BinOp(BinOp),
    Not,
    Negate,
    /// Pop `n` values, coerce each to a string, push their concatenation.
    Interpolate(u32),
    /// Pop `n` path/string parts; push the path (first part resolved
    /// against the source directory).
    MakePath(u32),
    /// Pop a Boolean; fail with "assertion failed" when false.
    Assert,
    /// `rec { __overrides = …; }`: force slot `slot` (a set) and copy its
    /// attributes into the slots named by the list `constants[names]`.
    RecOverrides {
        slot: u32,
        names: u32,
    },
    /// Push `__curPos`-style position attrs for `constants[i]`.
    Return,
}

/// A unit of compiled code: a thunk body, a lambda body, or a file.
///
/// A file makes one per thunk and lambda in it (nixpkgs-style code about
/// one per 40 bytes of text), so the parts are exact-size slices, and an
/// instruction's position is two offsets into the one source.
pub struct Code {
    pub ops: Box<[Op]>,
    /// The source every instruction's position is in.
    source: Rc<Source>,
    /// Per instruction: the start and end of its position.
    spans: Box<[(u32, u32)]>,
    pub constants: Box<[Value]>,
    pub codes: Box<[Rc<Code>]>,
    pub lambdas: Box<[Rc<LambdaInfo>]>,
    /// Attribute positions of the sets `MakeAttrs` instructions make.
    pub attr_pos: Box<[AttrPosInfo]>,
    /// For a lambda's body: the lambda's name and position (for the trace
    /// of an error: "while calling 'f'").
    pub lambda: Option<Box<(Option<NixString>, Span)>>,
    /// What the VM can do with this code without a frame, found once
    /// (see [`Shape`]).
    pub shape: Shape,
    /// One per constant, when an instruction looks a constant name up in
    /// a set (else none): for a name, the large set this code last found
    /// it in (see [`Code::attr`]).
    pub memos: Box<[NameMemo]>,
}

/// The parts of a [`Code`], as a compiler collects them.
#[derive(Default)]
pub struct CodeParts {
    pub ops: Vec<Op>,
    /// One per instruction: the start and end of its position.
    pub spans: Vec<(u32, u32)>,
    pub constants: Vec<Value>,
    pub codes: Vec<Rc<Code>>,
    pub lambdas: Vec<Rc<LambdaInfo>>,
    pub attr_pos: Vec<AttrPosInfo>,
}

/// The large set (see [`super::attrs::SMALL_MAX`]) an instruction last
/// found a name in, and where in it the value is: `lib.foo` in a
/// function's body looks in the same set each time it runs, and a set
/// never changes once made. The memo counts a reference to the set, so
/// the address stays valid and cannot be another set's.
///
/// For a small set, the memo keeps where in it the name was last found:
/// sets an instruction looks into are mostly made by the same code, with
/// the same names in the same places.
#[derive(Default)]
pub struct NameMemo(
    UnsafeCell<Option<(Counted<AttrSet>, NonNull<Value>)>>,
    Cell<u32>,
);

impl NameMemo {
    /// As many empty memos as `code` has constants.
    pub fn for_constants(n: usize) -> Box<[NameMemo]> {
        (0..n).map(|_| NameMemo::default()).collect()
    }
}

/// Code the VM evaluates as a thunk without running it in a frame.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// Anything else.
    General,
    /// Only makes closure `lambdas[i]` ([`Code::as_closure`]).
    Closure(u32),
    /// Only combines two operands ([`Code::as_binop`]).
    BinOp(Operand, Operand, BinOp),
}

/// Writes [`Op::VarSelect`] over the `Var` of each `Var, Force,
/// SelectConst` (scope depth and slot permitting); the instructions it
/// stands for stay, for the slow path and for jumps into them.
pub fn fuse_selects(ops: &mut [Op]) {
    for i in 0..ops.len().saturating_sub(2) {
        if let [Op::Var { depth, slot }, Op::Force, Op::SelectConst(name)] = ops[i..i + 3] {
            if let (Ok(depth), Ok(slot)) = (u16::try_from(depth), u16::try_from(slot)) {
                ops[i] = Op::VarSelect { depth, slot, name };
            }
        }
    }
}

impl Code {
    /// The code made of `parts`, its positions in `source`, with its
    /// [`Shape`].
    pub fn new(source: Rc<Source>, parts: CodeParts) -> Code {
        let CodeParts {
            mut ops,
            spans,
            constants,
            codes,
            lambdas,
            attr_pos,
        } = parts;
        fuse_selects(&mut ops);
        let looks_up = ops.iter().any(|op| {
            matches!(
                op,
                Op::VarSelect { .. }
                    | Op::WithVar { .. }
                    | Op::SelectConst(_)
                    | Op::HasAttrConst(_)
                    | Op::SelectOrConst { .. }
            )
        });
        let memos = if looks_up {
            NameMemo::for_constants(constants.len())
        } else {
            Box::new([])
        };
        Code {
            ops: ops.into_boxed_slice(),
            source,
            spans: spans.into_boxed_slice(),
            constants: constants.into_boxed_slice(),
            codes: codes.into_boxed_slice(),
            lambdas: lambdas.into_boxed_slice(),
            attr_pos: attr_pos.into_boxed_slice(),
            lambda: None,
            shape: Shape::General,
            memos,
        }
        .with_shape()
    }

    /// The position of instruction `ip`.
    pub fn span(&self, ip: usize) -> Option<Span> {
        let &(start, end) = self.spans.get(ip)?;
        Some(Span {
            source: self.source.clone(),
            start,
            end,
        })
    }

    /// The value of attribute `constants[name]` (a string) of `set`. A
    /// large set's lookup is remembered per name, and answered from the
    /// memo while the set is the same one.
    #[inline]
    pub fn attr<'a>(&self, name: u32, set: &'a Counted<AttrSet>) -> Option<&'a Value> {
        let Some(Value::String(key)) = self.constants.get(name as usize) else {
            return None;
        };
        let Some(memo) = self.memos.get(name as usize) else {
            return set.map.get(key);
        };
        if !set.map.is_large() {
            return set.map.get_hinted(key, &memo.1);
        }
        // SAFETY: code is evaluated on one thread (`Rc`), and no reference
        // into the cell outlives this function: a hit reads it, a miss
        // replaces its content (dropping the old one only afterwards).
        let slot = unsafe { &mut *memo.0.get() };
        if let Some((known, at)) = slot {
            if Counted::ptr_eq(known, set) {
                // SAFETY: `at` points into `known`'s (immutable) map, which
                // is `set`'s and lives at least as long as `set`'s borrow.
                return Some(unsafe { at.as_ref() });
            }
        }
        let v = set.map.get(key)?;
        let old = slot.replace((set.clone(), NonNull::from(v)));
        drop(old);
        Some(v)
    }

    /// The same code with its [`Shape`] found (code is made with
    /// `Shape::General` and then given its shape here).
    fn with_shape(mut self) -> Code {
        self.shape = match (self.as_closure(), self.as_binop()) {
            (Some(i), _) => Shape::Closure(i),
            (None, Some((a, b, op))) => Shape::BinOp(a, b, op),
            (None, None) => Shape::General,
        };
        self
    }

    /// The `(depth, slot)` of code that only reads a local variable.
    pub fn as_variable(&self) -> Option<(u32, u32)> {
        match &*self.ops {
            [Op::Var { depth, slot }, Op::Return]
            | [Op::Var { depth, slot }, Op::Force, Op::Return] => Some((*depth, *slot)),
            _ => None,
        }
    }

    /// The lambda (index into `lambdas`) of code that only makes a closure
    /// (a binding `f = x: …;`, or the body of `x: y: …`).
    pub fn as_closure(&self) -> Option<u32> {
        match &*self.ops {
            [Op::Closure(i), Op::Return] => Some(*i),
            _ => None,
        }
    }

    /// The two operands and the operator of code that only combines two
    /// variables or constants with a binary operator (`n - 1`, `i < j`):
    /// such a thunk is evaluated without a frame when both are evaluated
    /// integers.
    pub fn as_binop(&self) -> Option<(Operand, Operand, BinOp)> {
        use Op::{Constant as C, Force as F, Return as R, Var as V};
        let var = |depth: &u32, slot: &u32| Operand::Var {
            depth: *depth,
            slot: *slot,
        };
        let (a, b, op) = match &*self.ops {
            [V { depth, slot }, F, C(c), Op::BinOp(op), F, R]
            | [V { depth, slot }, F, C(c), Op::BinOp(op), R] => {
                (var(depth, slot), Operand::Constant(*c), op)
            }
            [C(c), V { depth, slot }, F, Op::BinOp(op), F, R]
            | [C(c), V { depth, slot }, F, Op::BinOp(op), R] => {
                (Operand::Constant(*c), var(depth, slot), op)
            }
            [V { depth, slot }, F, V {
                depth: d2,
                slot: s2,
            }, F, Op::BinOp(op), F, R]
            | [V { depth, slot }, F, V {
                depth: d2,
                slot: s2,
            }, F, Op::BinOp(op), R] => (var(depth, slot), var(d2, s2), op),
            _ => return None,
        };
        Some((a, b, *op))
    }

    /// The value of code that only pushes a constant (a literal default of
    /// a formal): C++ Nix uses such values directly instead of a thunk, so
    /// they print evaluated.
    pub fn as_constant(&self) -> Option<&Value> {
        match &*self.ops {
            [Op::Constant(i), Op::Return] | [Op::Constant(i), Op::Force, Op::Return] => {
                self.constants.get(*i as usize)
            }
            _ => None,
        }
    }
}

/// Where the attributes made by one `MakeAttrs` instruction are defined.
pub struct AttrPosInfo {
    /// The static names, shared by every set made.
    pub statics: Rc<AttrPos>,
    /// The positions of the dynamic entries (pushed after the static ones).
    pub dynamic: Box<[u32]>,
}

/// One formal argument of a lambda `{ a, b ? e, ... }`.
pub struct Formal {
    pub name: NixString,
    pub slot: u32,
    /// The default's code (runs in the lambda's scope).
    pub default: Option<Rc<Code>>,
    /// Where the name is (byte offset in the lambda's source).
    pub pos: u32,
    /// A default that is just a variable already set when this formal is
    /// filled: its `(depth, slot)`, whose value is used as it is (C++
    /// Nix's `maybeThunk` of a variable), not through a new thunk.
    pub shares: Option<(u32, u32)>,
}

/// How a lambda takes its argument.
pub enum Params {
    /// `x: …`: the argument goes in slot 0.
    Ident,
    /// `{ … } @ x: …`.
    Formals {
        formals: Vec<Formal>,
        ellipsis: bool,
        /// The slot of the `@` name, if any.
        at_slot: Option<u32>,
    },
}

/// A compiled lambda.
pub struct LambdaInfo {
    pub name: Option<NixString>,
    /// The parameter's name: `x` in `x: …`, `args` in `{ … } @ args: …`.
    pub param_name: Option<NixString>,
    pub params: Params,
    /// Slots of the scope a call creates.
    pub scope_size: u32,
    pub body: Rc<Code>,
    pub span: Span,
    /// For `x: y: …` (a body that only makes the inner function): the
    /// inner lambda, so that a call with one argument makes the inner
    /// closure without running the body.
    pub curried: Option<Rc<LambdaInfo>>,
    /// `builtins.functionArgs` of this function, made the first time it is
    /// asked for (a module system asks once per module it loads).
    pub function_args: std::cell::OnceCell<super::value::Value>,
}
