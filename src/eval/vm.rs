//! The virtual machine. Frames live on a heap stack, so deep Nix recursion
//! never recurses in Rust. An instruction that needs an operand that is
//! still a thunk pushes the thunk's frame and runs again when it returns.
//! Builtins and other operations that must force or call values from the
//! inside run as generators: they yield a [`Request`] and the VM answers.

use std::rc::Rc;

use genawaiter::GeneratorState;

use super::code::{BinOp, Code, CodeParts, LambdaInfo, Op, Operand, Params, Shape, Span};
use super::error::{ErrorKind, EvalError};
pub use super::host::{
    generator, with_evaluator, Co, EvaluatorTask, Gen, GenFuture, Host, ListLoop, Request, Response,
};

mod loops;
use super::counted::Counted;
use super::cycles;
use super::ops;
use super::value::{
    AttrPos, AttrSet, Attrs, Builtin, Closure, Context, Env, List, NixString, PartialArgs, Thunk,
    ThunkState, Value,
};
use loops::{direct_loop, loop_forces_list_first, LoopFrame};

/// Forces `v` from inside a generator.
pub async fn force(co: &Co, v: Value) -> Result<Value, ErrorKind> {
    if v.is_evaluated() {
        return Ok(v.resolved());
    }
    match co.yield_(Request::Force(v)).await {
        Response::Value(v) => Ok(v),
        Response::Error(e) => Err(e),
    }
}

/// Calls `f` with `arg` from inside a generator (the result may be lazy).
pub async fn call(co: &Co, f: Value, arg: Value) -> Result<Value, ErrorKind> {
    match co.yield_(Request::Call(f, arg)).await {
        Response::Value(v) => Ok(v),
        Response::Error(e) => Err(e),
    }
}

/// Where a finished frame's value goes.
enum Done {
    /// Onto the value stack (the frame below is code that called).
    Push,
    /// Into a thunk; the frame below runs its instruction again.
    Thunk(Thunk),
    /// Back into the generator below.
    Resume,
    /// The whole evaluation's result.
    Top,
}

struct CodeFrame {
    code: Rc<Code>,
    ip: usize,
    env: Counted<Env>,
    base: usize,
    done: Done,
}

struct GenFrame {
    gen: Gen,
    done: Done,
    span: Option<Span>,
    /// The answer to give on the next resume.
    reply: Option<Response>,
    /// Whether the pending request was a `TryForce`.
    catching: bool,
    /// The builtin this frame runs and its last argument (for the trace).
    builtin: Option<(Rc<Builtin>, Value)>,
    /// `addErrorContext`: the message (unevaluated) an error passing
    /// through this frame gets as a trace frame.
    error_context: Option<Value>,
}

/// Generator frames are boxed: code frames, the common case, stay small
/// to move.
enum Frame {
    Code(CodeFrame),
    Gen(Box<GenFrame>),
    /// A builtin's loop over a list (see [`ListLoop`]), above the
    /// generator that asked for it.
    Loop(Box<LoopFrame>),
}

/// A frame for a generator that has not started yet.
fn gen_frame(gen: Gen, done: Done) -> Frame {
    Frame::Gen(Box::new(GenFrame {
        gen,
        done,
        span: None,
        reply: Some(Response::Value(Value::Null)),
        catching: false,
        builtin: None,
        error_context: None,
    }))
}

/// Code of the VM's own, every instruction at `span`.
fn internal_code(ops: Vec<Op>, span: &Span) -> Rc<Code> {
    let parts = CodeParts {
        spans: vec![(span.start, span.end); ops.len()],
        ops,
        ..CodeParts::default()
    };
    Rc::new(Code::new(span.source.clone(), parts))
}

/// What applying a function gives: a frame to run, or (a builtin that
/// needed no evaluation, a partial application) the value right away.
enum Callee {
    Frame(Frame),
    Value(Value),
}

/// More frames than this is reported as C++ Nix reports a stack overflow.
const MAX_FRAMES: usize = 1_000_000;

/// How an instruction continues.
enum Flow {
    Next,
    Jump(usize),
    /// Evaluate this thunk, then run the same instruction again.
    Force(Thunk),
    /// Push this frame; its value is pushed and the next instruction runs.
    Call(Frame),
    Return(Value),
}

pub struct Vm<'e> {
    pub ev: &'e dyn Host,
    stack: Vec<Value>,
    frames: Vec<Frame>,
    result: Option<Value>,
    /// The code that forces the value on top of the stack (to finish a
    /// thunk whose builtin returned a lazy value).
    force_code: Rc<Code>,
    /// The code that calls the function below the top of the stack (a
    /// thunk not evaluated yet) with the value on top: `Op::Call` forces
    /// the function. Its frame stands for the generator that did this, so
    /// errors get no position or call-site frame from it.
    call_code: Rc<Code>,
    /// The (empty) scope `force_code` and `call_code` run in.
    empty_env: Counted<Env>,
    /// Frame activations so far, and the limit (`max_steps`).
    steps: u64,
    max_steps: u64,
    /// `trace-function-calls`: the calls entered and not yet exited, with
    /// the frame depth they were entered at.
    traced: Vec<(Span, usize)>,
}

fn frame_done(f: &mut Frame) -> &mut Done {
    match f {
        Frame::Code(c) => &mut c.done,
        Frame::Gen(g) => &mut g.done,
        Frame::Loop(l) => &mut l.done,
    }
}

impl<'e> Vm<'e> {
    pub fn new(ev: &'e dyn Host) -> Self {
        let span = ev.internal_span();
        Vm {
            ev,
            stack: Vec::new(),
            frames: Vec::new(),
            result: None,
            steps: 0,
            max_steps: ev.config().max_steps.unwrap_or(u64::MAX),
            traced: Vec::new(),
            empty_env: Env::new(0, None),
            force_code: internal_code(vec![Op::Force, Op::Return], &span),
            call_code: internal_code(vec![Op::Call, Op::Return], &span),
        }
    }

    /// Runs `code` in `env` to a value in weak head normal form.
    pub fn run(&mut self, code: Rc<Code>, env: Counted<Env>) -> Result<Value, EvalError> {
        self.frames.push(Frame::Code(CodeFrame {
            code,
            ip: 0,
            env,
            base: self.stack.len(),
            done: Done::Top,
        }));
        self.drive()
    }

    /// Runs a generator to completion (e.g. deep forcing for printing).
    pub fn run_gen(&mut self, gen: Gen) -> Result<Value, EvalError> {
        self.frames.push(gen_frame(gen, Done::Top));
        self.drive()
    }

    fn drive(&mut self) -> Result<Value, EvalError> {
        let bottom = self.frames.len() - 1;
        loop {
            self.steps += 1;
            if self.steps > self.max_steps {
                let e = EvalError::new(
                    ErrorKind::Other("evaluation step limit reached".into()),
                    None,
                );
                self.unwind_all(bottom);
                return Err(e);
            }
            if self.frames.len() > MAX_FRAMES {
                let e = EvalError::new(
                    ErrorKind::Other("stack overflow (possible infinite recursion)".into()),
                    None,
                );
                self.unwind_all(bottom);
                return Err(e);
            }
            if self.frames.len() == bottom {
                return self.result.take().ok_or_else(|| {
                    EvalError::new(
                        ErrorKind::Other("evaluation produced no value".into()),
                        None,
                    )
                });
            }
            let step = match self.frames.pop() {
                Some(Frame::Code(f)) => self.run_code(f, bottom),
                Some(Frame::Gen(g)) => self.run_gen_frame(g),
                Some(Frame::Loop(l)) => self.run_loop(l),
                None => unreachable!("checked above"),
            };
            if let Err(e) = step {
                self.unwind(e, bottom)?;
            }
        }
    }

    /// Pops frames after an error until a generator that catches it; the
    /// error is returned when nothing does.
    fn unwind(&mut self, mut e: EvalError, bottom: usize) -> Result<(), EvalError> {
        let mut innermost = true;
        while self.frames.len() > bottom {
            let top = self.frames.last_mut().expect("non-empty");
            if let Frame::Gen(g) = top {
                if g.catching && e.kind.is_catchable() && g.reply.is_none() {
                    g.reply = Some(Response::Error(e.kind.clone()));
                    g.catching = false;
                    let depth = self.frames.len();
                    self.exit_traced(depth);
                    return Ok(());
                }
            }
            match self.frames.pop() {
                // A loop adds nothing: its generator below adds the
                // builtin's frames, as if the loop were its own.
                Some(Frame::Loop(l)) => {
                    if l.uncurried {
                        innermost = false;
                    }
                    let Some((b, last)) = &l.builtin else {
                        continue;
                    };
                    // Started straight from the call: the frames its
                    // generator would have added.
                    add_builtin_frames(&mut e, b, last, &l.span, innermost);
                    self.restore_thunk(&mut e, l.done);
                }
                Some(Frame::Code(f)) => {
                    self.stack.truncate(f.base);
                    if let Some((name, span)) = f.code.lambda.as_deref() {
                        let what = match name {
                            Some(n) => format!("while calling '{n}'"),
                            None => "while calling anonymous lambda".into(),
                        };
                        e.add_trace(what, Some(span.clone()));
                        if let (Done::Push, Some(Frame::Code(caller))) =
                            (&f.done, self.frames.last())
                        {
                            // (`call_code` stands for a generator, which
                            // had no call site.)
                            if !Rc::ptr_eq(&caller.code, &self.call_code) {
                                let site = caller.code.span(caller.ip.wrapping_sub(1));
                                e.add_trace("from call site".into(), site);
                            }
                        }
                    }
                    self.restore_thunk(&mut e, f.done);
                }
                Some(Frame::Gen(g)) => {
                    if let Some(ctx) = g.error_context.clone() {
                        // The message is evaluated only now (C++ Nix
                        // coerces it when the error passes); one that
                        // fails itself adds nothing.
                        if let Ok(Value::String(s)) = self.ev.force(ctx) {
                            e.add_trace(s.to_str_lossy().into_owned(), None);
                        }
                        self.restore_thunk(&mut e, g.done);
                        innermost = false;
                        continue;
                    }
                    if let Some((b, last)) = &g.builtin {
                        add_builtin_frames(&mut e, b, last, &g.span, innermost);
                    }
                    self.restore_thunk(&mut e, g.done);
                }
                None => {}
            }
            innermost = false;
        }
        self.exit_traced(bottom);
        Err(e)
    }

    /// Puts back the work of the thunk an unwound frame was evaluating
    /// (its `done`), with the trace frame of the builtin about to get it.
    fn restore_thunk(&self, e: &mut EvalError, done: Done) {
        if let Done::Thunk(t) = done {
            t.restore();
            self.builtin_argument_trace(e, &t);
        }
    }

    /// When thunk `t`, whose evaluation failed, is the argument the code
    /// frame on top is about to give a builtin strict in it (see
    /// `Op::Call`), the trace frame the builtin would have added had it
    /// forced the argument itself.
    fn builtin_argument_trace(&self, e: &mut EvalError, t: &Thunk) {
        let Some(Frame::Code(caller)) = self.frames.last() else {
            return;
        };
        let n = self.stack.len();
        // Whether `t` is the value `i` places below the top.
        let is_t =
            |i: usize| n > i && matches!(&self.stack[n - 1 - i], Value::Thunk(a) if a.ptr_eq(t));
        let name = match caller.code.ops.get(caller.ip) {
            Some(Op::Call) if n >= 2 && is_t(0) => strict_last_builtin(&self.stack[n - 2]),
            Some(Op::CallSwap) if n >= 2 && is_t(1) => strict_last_builtin(&self.stack[n - 1]),
            // (`f a` forced `a` for a builtin strict in it, or `f a b`
            // forced `b` for one of two arguments.)
            Some(Op::Call2) if n >= 3 => {
                let f = &self.stack[n - 3];
                (is_t(1).then(|| strict_last_builtin(f).or_else(|| strict_first_builtin(f))))
                    .flatten()
                    .or_else(|| {
                        is_t(0)
                            .then(|| {
                                strict_pair_builtin(f).or_else(|| {
                                    strict_first_builtin(f).filter(|_| {
                                        evaluated(f, |b| match b {
                                            Value::Builtin(b) => {
                                                Some(forces_second_next(b, &self.stack[n - 2]))
                                            }
                                            _ => None,
                                        })
                                        .unwrap_or(false)
                                    })
                                })
                            })
                            .flatten()
                    })
            }
            _ => None,
        };
        if let Some(name) = name {
            // (`call_code` has no position of its own: a loop's call.)
            let span = if Rc::ptr_eq(&caller.code, &self.call_code) {
                None
            } else {
                caller.code.span(caller.ip)
            };
            e.add_trace(format!("while calling the '{name}' builtin"), span);
        }
    }

    /// Prints `function-trace exited` for the traced calls entered at
    /// `depth` or deeper (an error unwound them).
    fn exit_traced(&mut self, depth: usize) {
        while self.traced.last().is_some_and(|(_, d)| *d >= depth) {
            if let Some((span, _)) = self.traced.pop() {
                trace_call("exited", &span);
            }
        }
    }

    fn unwind_all(&mut self, bottom: usize) {
        while self.frames.len() > bottom {
            if let Some(mut f) = self.frames.pop() {
                if let Done::Thunk(t) = std::mem::replace(frame_done(&mut f), Done::Top) {
                    t.restore();
                }
                if let Frame::Code(c) = f {
                    self.stack.truncate(c.base);
                }
            }
        }
    }

    /// Delivers a finished frame's value.
    #[inline]
    fn complete(&mut self, v: Value, done: Done) -> Result<(), EvalError> {
        match done {
            Done::Push => self.stack.push(v),
            Done::Top => self.result = Some(v),
            Done::Resume => match self.frames.last_mut() {
                Some(Frame::Gen(g)) => {
                    g.reply = Some(Response::Value(v));
                    g.catching = false;
                }
                Some(Frame::Loop(l)) => l.reply = Some(v),
                _ => unreachable!("Resume is only used below a generator"),
            },
            Done::Thunk(t) => {
                let v = match v {
                    Value::Thunk(inner) => match inner.value() {
                        Some(x) => x,
                        None => Value::Thunk(inner),
                    },
                    v => v,
                };
                if !matches!(v, Value::Thunk(_)) {
                    t.finish(v);
                } else {
                    // A builtin returned something lazy: force it first.
                    self.stack.push(v);
                    self.frames.push(Frame::Code(CodeFrame {
                        code: self.force_code.clone(),
                        ip: 0,
                        env: self.empty_env.clone(),
                        base: self.stack.len() - 1,
                        done: Done::Thunk(t),
                    }));
                }
            }
        }
        Ok(())
    }

    fn run_gen_frame(&mut self, mut g: Box<GenFrame>) -> Result<(), EvalError> {
        let reply = g.reply.take().unwrap_or(Response::Value(Value::Null));
        match g.gen.resume_with(reply) {
            GeneratorState::Complete(Ok(v)) => {
                let done = std::mem::replace(&mut g.done, Done::Top);
                self.complete(v, done)
            }
            GeneratorState::Complete(Err(kind)) => {
                let span = g.span.clone();
                self.frames.push(Frame::Gen(g));
                Err(EvalError::new(kind, span))
            }
            GeneratorState::Yielded(req) => {
                let span = g.span.clone();
                let (v, catching) = match req {
                    Request::Import(path) => {
                        let v = self
                            .ev
                            .import_value(&path)
                            .map_err(|k| EvalError::new(k, span))?;
                        g.reply = Some(Response::Value(v));
                        self.frames.push(Frame::Gen(g));
                        return Ok(());
                    }
                    Request::WithEvaluator(task) => {
                        let v = task(self.ev).map_err(|k| EvalError::new(k, span))?;
                        g.reply = Some(Response::Value(v));
                        self.frames.push(Frame::Gen(g));
                        return Ok(());
                    }
                    Request::CopyToStore(path) => {
                        let v = self
                            .ev
                            .copy_path_to_store(&path)
                            .map_err(|k| EvalError::new(k, span))?;
                        g.reply = Some(Response::Value(v));
                        self.frames.push(Frame::Gen(g));
                        return Ok(());
                    }
                    Request::ScopedImport(attrs, path) => {
                        let v = self
                            .ev
                            .scoped_import(&attrs, &path)
                            .map_err(|k| EvalError::new(k, span))?;
                        g.reply = Some(Response::Value(v));
                        self.frames.push(Frame::Gen(g));
                        return Ok(());
                    }
                    Request::Force(v) => (v, false),
                    Request::TryForce(v) => (v, true),
                    Request::Loop(work) => {
                        let frame = LoopFrame::new(work, span);
                        self.frames.push(Frame::Gen(g));
                        self.frames.push(Frame::Loop(Box::new(frame)));
                        return Ok(());
                    }
                    Request::ForceWithContext(ctx, v) => {
                        g.error_context = Some(ctx);
                        (v, false)
                    }
                    Request::Call(f, arg) => {
                        let callee = self.call_frame(f, arg, Done::Resume);
                        return self.answer_call(g, callee, span);
                    }
                };
                match v {
                    Value::Thunk(t) if t.value().is_none() => {
                        g.catching = catching;
                        self.frames.push(Frame::Gen(g));
                        self.force_for_gen(t);
                    }
                    v => {
                        g.reply = Some(Response::Value(v.resolved()));
                        self.frames.push(Frame::Gen(g));
                    }
                }
                Ok(())
            }
        }
    }

    /// Goes on with generator `g` after the call it asked for: the
    /// callee's frame above it, or the callee's value as its reply.
    fn answer_call(
        &mut self,
        mut g: Box<GenFrame>,
        callee: Result<Callee, ErrorKind>,
        span: Option<Span>,
    ) -> Result<(), EvalError> {
        match callee {
            Ok(Callee::Frame(frame)) => {
                self.frames.push(Frame::Gen(g));
                self.frames.push(frame);
            }
            Ok(Callee::Value(v)) => {
                g.reply = Some(Response::Value(v));
                self.frames.push(Frame::Gen(g));
            }
            Err(k) => {
                self.frames.push(Frame::Gen(g));
                return Err(EvalError::located(k, span));
            }
        }
        Ok(())
    }

    /// `f x y` at once when `f` is `a: b: …`: the inner body's frame with
    /// both arguments ([`curried_frame`]), or the inner closure's call with
    /// `y` when that takes a set. `y` and `done` come back when `f` is not
    /// such a function.
    #[inline(always)]
    fn curried_call(
        &mut self,
        f: &Value,
        x: &Value,
        y: Value,
        done: Done,
    ) -> Result<Result<Callee, ErrorKind>, (Value, Done)> {
        let (y, done) = match curried_frame(f, x, y, self.stack.len(), done) {
            Ok(frame) => return Ok(Ok(Callee::Frame(frame))),
            Err(back) => back,
        };
        match curried_inner(f, x) {
            Some(g) => Ok(self.call_frame(g, y, done)),
            None => Err((y, done)),
        }
    }

    /// Forces `t` for the generator on top of the frame stack: pushes a
    /// frame that evaluates it, then a frame that hands the value over.
    fn force_for_gen(&mut self, t: Thunk) {
        let frame = self.force_frame(t);
        self.frames.push(Frame::Code(frame));
    }

    /// A frame of `force_code` that forces `t` (pushed onto the value
    /// stack here) and gives its value back to the frame below.
    fn force_frame(&mut self, t: Thunk) -> CodeFrame {
        self.stack.push(Value::Thunk(t));
        CodeFrame {
            code: self.force_code.clone(),
            ip: 0,
            env: self.empty_env.clone(),
            base: self.stack.len() - 1,
            done: Done::Resume,
        }
    }

    /// A frame of `call_code` that calls `f` with `arg`: its `Call`
    /// forces a thunk `f`, and an argument that a function with formals or
    /// a strict builtin needs evaluated, before it calls.
    fn call_code_frame(&mut self, f: Value, arg: Value, done: Done) -> CodeFrame {
        let base = self.stack.len();
        self.stack.push(f);
        self.stack.push(arg);
        CodeFrame {
            code: self.call_code.clone(),
            ip: 0,
            env: self.empty_env.clone(),
            base,
            done,
        }
    }

    /// A frame that applies `f` to `arg`.
    fn call_frame(&mut self, f: Value, arg: Value, done: Done) -> Result<Callee, ErrorKind> {
        match callee_now(f) {
            Value::Closure(c) => self.closure_frame(&c, arg, done).map(Callee::Frame),
            Value::Builtin(b) => self.builtin_call(b, arg, done),
            Value::Attrs(a) => match a.get_bytes(b"__functor") {
                Some(functor) => {
                    let functor = functor.clone();
                    let this = Value::Attrs(a);
                    let gen = generator(move |co| async move {
                        let g = call(&co, functor, this).await?;
                        call(&co, g, arg).await
                    });
                    Ok(Callee::Frame(gen_frame(gen, done)))
                }
                None => {
                    let f = Value::Attrs(a);
                    Err(ErrorKind::Other(format!(
                        "attempt to call something which is not a function but {}: {}",
                        f.type_desc(),
                        super::print::error_value(&f)
                    )))
                }
            },
            // Force the function first, then call it.
            Value::Thunk(t) => Ok(Callee::Frame(Frame::Code(self.call_code_frame(
                Value::Thunk(t),
                arg,
                done,
            )))),
            other => Err(ErrorKind::Other(format!(
                "attempt to call something which is not a function but {}: {}",
                other.type_desc(),
                super::print::error_value(&other)
            ))),
        }
    }

    /// A frame that gives builtin `b` argument `arg` (or the value, when
    /// that needs none).
    /// (Kept out of line: the closure calls beside it stay small.)
    #[inline(never)]
    fn builtin_call(
        &mut self,
        b: Rc<Builtin>,
        arg: Value,
        done: Done,
    ) -> Result<Callee, ErrorKind> {
        if let Some(work) = direct_loop(&b, &arg) {
            let mut l = LoopFrame::new(work, None);
            l.done = done;
            l.builtin = Some((b, arg));
            return Ok(Callee::Frame(Frame::Loop(Box::new(l))));
        }
        if !arg.is_evaluated() && strict_last(&b) {
            // (A loop's call of `isAttrs`, …): forced first, so that the
            // fast path answers.
            let f = Value::Builtin(b);
            return Ok(Callee::Frame(Frame::Code(
                self.call_code_frame(f, arg, done),
            )));
        }
        match apply_builtin(self.ev, &b, arg.clone())? {
            Applied::Run(gen) => {
                let mut frame = gen_frame(gen, done);
                if let Frame::Gen(g) = &mut frame {
                    g.builtin = Some((b, arg));
                }
                Ok(Callee::Frame(frame))
            }
            Applied::Value(v) => Ok(Callee::Value(v)),
        }
    }

    fn closure_frame(
        &mut self,
        c: &Counted<Closure>,
        arg: Value,
        done: Done,
    ) -> Result<Frame, ErrorKind> {
        let lambda = &c.lambda;
        let Params::Formals {
            formals,
            ellipsis,
            at_slot,
        } = &lambda.params
        else {
            return Ok(Frame::Code(ident_frame(
                lambda,
                arg,
                c.env.clone(),
                self.stack.len(),
                done,
            )));
        };
        if !arg.is_evaluated() {
            // Formals need the set: forced first (see `takes_set`).
            let f = Value::Closure(c.clone());
            return Ok(Frame::Code(self.call_code_frame(f, arg, done)));
        }
        let Value::Attrs(attrs) = arg.resolved() else {
            return Err(ErrorKind::type_error("a set", &arg));
        };
        let env = Env::new(lambda.scope_size as usize, Some(c.env.clone()));
        let fname = || {
            lambda
                .name
                .as_ref()
                .map(|n| n.to_string())
                .unwrap_or_else(|| "anonymous lambda".into())
        };
        if let Some(slot) = at_slot {
            env.set(*slot as usize, Value::Attrs(attrs.clone()));
        }
        // Whether a default's thunk holds the scope (a cycle, see below).
        let mut cyclic = false;
        for formal in formals {
            let v = match attrs.get(&formal.name) {
                Some(v) => v.clone(),
                None => match &formal.default {
                    Some(code) => match (code.as_constant(), formal.shares) {
                        (Some(c), _) => c.clone(),
                        (None, Some((depth, slot))) => env.up(depth as usize).get(slot as usize),
                        (None, None) => {
                            cyclic = true;
                            Value::Thunk(Thunk::suspended(code.clone(), env.clone()))
                        }
                    },
                    None => {
                        return Err(ErrorKind::MissingArgument {
                            function: fname(),
                            name: formal.name.to_string(),
                            lambda: Some(lambda.span.clone()),
                        })
                    }
                },
            };
            env.set(formal.slot as usize, v);
        }
        if !ellipsis {
            for k in attrs.keys() {
                if !formals.iter().any(|f| &f.name == k) {
                    let names: Vec<String> = formals.iter().map(|f| f.name.to_string()).collect();
                    return Err(ErrorKind::UnexpectedArgument {
                        function: fname(),
                        name: k.to_string(),
                        at: Box::new((
                            Some(lambda.span.clone()),
                            did_you_mean(&names, &k.to_string()),
                        )),
                    });
                }
            }
        }
        if cyclic {
            // The scope and a default never forced would keep each other
            // to the end: looked at again once the call is likely over.
            cycles::defer(env.clone());
        }
        Ok(Frame::Code(CodeFrame {
            code: lambda.body.clone(),
            ip: 0,
            env,
            base: self.stack.len(),
            done,
        }))
    }

    /// Runs code frame `f`. When it calls, forces or returns, the next
    /// frame to run is taken in this same loop if it is code (a generator
    /// frame, a limit or the end of this drive goes back to [`Vm::drive`]).
    /// A code frame that a call or a force starts runs at once, without a
    /// trip through the frame stack.
    fn run_code(&mut self, mut f: CodeFrame, bottom: usize) -> Result<(), EvalError> {
        'run: loop {
            let op = f.code.ops[f.ip];
            // The instruction, run here rather than in a function of its
            // own: one that goes on to the next instruction `continue`s
            // this loop instead of returning a `Flow` to dispatch on again.
            let flow: Result<Flow, ErrorKind> = 'op: {
                let f = &mut f;
                // On to the next instruction, without leaving the loop.
                macro_rules! next {
                    () => {{
                        f.ip += 1;
                        continue 'run;
                    }};
                }
                // `?` for the instruction: its error ends the block.
                macro_rules! tri {
                    ($e:expr) => {
                        match $e {
                            Ok(v) => v,
                            Err(e) => break 'op Err(e),
                        }
                    };
                }
                macro_rules! need {
                    ($($n:expr),+) => {
                        $(if let Some(t) = self.unevaluated($n) {
                            break 'op Ok(Flow::Force(t));
                        })+
                    };
                }
                // The frame's value: to the stack or into its thunk, and
                // on with the code frame below, right here (the value
                // stays in registers, and no `Flow` is written and read
                // back); other ends through `Flow::Return`.
                macro_rules! ret {
                    ($v:expr) => {{
                        let v = $v;
                        let simple = match &f.done {
                            Done::Push => true,
                            Done::Thunk(_) => !matches!(v, Value::Thunk(_)),
                            _ => false,
                        };
                        if simple
                            && self.frames.len() > bottom
                            && self.steps < self.max_steps
                            && matches!(self.frames.last(), Some(Frame::Code(_)))
                        {
                            self.stack.truncate(f.base);
                            match &f.done {
                                Done::Thunk(t) => t.finish(v),
                                _ => self.stack.push(v),
                            }
                            let Some(Frame::Code(next)) = self.frames.pop() else {
                                unreachable!("checked above")
                            };
                            *f = next;
                            self.steps += 1;
                            continue 'run;
                        }
                        break 'op Ok(Flow::Return(v));
                    }};
                }
                macro_rules! forced {
                    ($n:expr) => {
                        match self.peek($n) {
                            Ok(v) => v,
                            Err(t) => break 'op Ok(Flow::Force(t)),
                        }
                    };
                }
                match op {
                    Op::Constant(i) => self.stack.push(f.code.constants[i as usize].clone()),
                    Op::Var { depth, slot } => {
                        let env = f.env.up(depth as usize);
                        // `Var, Force` (1.8 M times in the module benchmark): when
                        // the variable is evaluated, push its value and skip the
                        // `Force`.
                        if let Some(Op::Force) = f.code.ops.get(f.ip + 1) {
                            if let Some(x) = env.peek(slot as usize, |v| match v {
                                Value::Thunk(t) => t.value(),
                                v => Some(v.clone()),
                            }) {
                                self.stack.push(x);
                                f.ip += 2;
                                continue 'run;
                            }
                        }
                        self.stack.push(env.get(slot as usize));
                    }
                    Op::VarSelect { depth, slot, name } => {
                        let env = f.env.up(depth as usize);
                        let code = &f.code;
                        let found = env.peek(slot as usize, |v| {
                            evaluated(v, |v| match v {
                                Value::Attrs(a) => code.attr(name, a).map(|x| match x {
                                    Value::Thunk(t) => t.value().ok_or_else(|| x.clone()),
                                    x => Ok(x.clone()),
                                }),
                                _ => None,
                            })
                        });
                        match found {
                            // Evaluated: the `Force` after the select (if any)
                            // has nothing to do.
                            Some(Ok(x)) => {
                                self.stack.push(x);
                                f.ip += 3;
                                if let Some(Op::Force) = f.code.ops.get(f.ip) {
                                    f.ip += 1;
                                }
                                continue 'run;
                            }
                            Some(Err(t)) => {
                                self.stack.push(t);
                                f.ip += 3;
                                continue 'run;
                            }
                            // Not an evaluated set with the attribute: as `Var`.
                            None => self.stack.push(env.get(slot as usize)),
                        }
                    }
                    Op::WithVar { name, depth } => {
                        let Value::String(key) = &f.code.constants[name as usize] else {
                            unreachable!("names are strings")
                        };
                        let mut env = Some(f.env.up(depth as usize));
                        while let Some(e) = env {
                            let a = match tri!(forced_set(&e.get(0))) {
                                Ok(a) => a,
                                Err(t) => break 'op Ok(Flow::Force(t)),
                            };
                            if let Some(v) = f.code.attr(name, &a) {
                                self.stack.push(v.clone());
                                next!();
                            }
                            env = e.next_with();
                        }
                        break 'op Err(ErrorKind::UndefinedVariable(key.to_string()));
                    }
                    Op::Thunk(i) => {
                        let t = Thunk::suspended(f.code.codes[i as usize].clone(), f.env.clone());
                        self.stack.push(Value::Thunk(t));
                    }
                    Op::ThunkOuter(i) => {
                        let env = f.env.parent.as_ref().unwrap_or(&f.env).clone();
                        let t = Thunk::suspended(f.code.codes[i as usize].clone(), env);
                        self.stack.push(Value::Thunk(t));
                    }
                    Op::Closure(i) => {
                        let c = Closure {
                            lambda: f.code.lambdas[i as usize].clone(),
                            env: f.env.clone(),
                        };
                        self.stack.push(Value::Closure(Counted::new(c)));
                    }
                    Op::PushScope(n) => f.env = Env::new(n as usize, Some(f.env.clone())),
                    Op::PopScope => {
                        f.env = f.env.parent.clone().expect("the compiler pairs scopes");
                    }
                    Op::PopCyclicScope => {
                        let parent = f.env.parent.clone().expect("the compiler pairs scopes");
                        let scope = std::mem::replace(&mut f.env, parent);
                        cycles::free_or_defer(scope);
                    }
                    Op::SetSlot(i) => {
                        let v = self.pop();
                        f.env.set(i as usize, v);
                    }
                    Op::PushWith { next } => {
                        let v = self.pop();
                        f.env = Env::with_scope(v, next, f.env.clone());
                    }
                    Op::MakeAttrs { n, pos } => {
                        let n = n as usize;
                        // Dynamic names must be evaluated first.
                        for i in 0..n {
                            forced!(2 * (n - 1 - i) + 1);
                        }
                        let info = &f.code.attr_pos[pos as usize];
                        let first_dynamic = n - info.dynamic.len();
                        let mut items = self.stack.drain(self.stack.len() - 2 * n..);
                        // The static names (distinct: the compiler checked) make
                        // the set at once; dynamic ones are added.
                        let mut statics = Vec::with_capacity(first_dynamic);
                        for _ in 0..first_dynamic {
                            let (Some(Value::String(k)), Some(v)) = (items.next(), items.next())
                            else {
                                unreachable!("static names are strings")
                            };
                            statics.push((k, v));
                        }
                        let mut attrs = Attrs::from_distinct(statics);
                        let mut dynamic_pos = Vec::new();
                        let mut i = first_dynamic;
                        while let (Some(k), Some(v)) = (items.next(), items.next()) {
                            let k = k.resolved();
                            let name = match k {
                                Value::String(s) => {
                                    tri!(ops::no_context(&s));
                                    s
                                }
                                Value::Null => {
                                    i += 1;
                                    continue;
                                }
                                other => break 'op Err(ErrorKind::type_error("a string", &other)),
                            };
                            dynamic_pos.push((name.clone(), info.dynamic[i - first_dynamic]));
                            i += 1;
                            if attrs.contains_key(&name) {
                                break 'op Err(ErrorKind::DuplicateDynamicAttr {
                                    name: name.to_string(),
                                    at: f.code.span(f.ip).map(|s| s.describe()).unwrap_or_default(),
                                });
                            }
                            attrs.insert(name, v);
                        }
                        drop(items);
                        let pos = if dynamic_pos.is_empty() {
                            info.statics.clone()
                        } else {
                            AttrPos::with_more(&info.statics, dynamic_pos)
                        };
                        self.stack.push(Value::attrs_with_pos(attrs, Some(pos)));
                    }
                    Op::MakeList(n) => {
                        let items = self.stack.split_off(self.stack.len() - n as usize);
                        self.stack.push(Value::list(List::from(items)));
                    }
                    Op::SelectConst(i) => {
                        // `SelectConst, Force` (3.6 M times in the module
                        // benchmark): an evaluated attribute's value is
                        // pushed, and the `Force` skipped.
                        let then_force = matches!(f.code.ops.get(f.ip + 1), Some(Op::Force));
                        let code = &f.code;
                        let found = self.in_top(|v| match v {
                            Value::Attrs(a) => code.attr(i, a).map(|x| match x {
                                Value::Thunk(t) if then_force => match t.value() {
                                    Some(v) => (v, true),
                                    None => (x.clone(), false),
                                },
                                x => (x.clone(), then_force),
                            }),
                            _ => None,
                        });
                        let found = match found {
                            Ok(found) => found,
                            Err(t) => break 'op Ok(Flow::Force(t)),
                        };
                        match found {
                            Some((v, skip)) => {
                                *self.stack.last_mut().expect("an operand") = v;
                                if skip {
                                    f.ip += 2;
                                    continue 'run;
                                }
                            }
                            None => {
                                let key = const_name(&f.code, i);
                                break 'op Err(select_error(&forced!(0), key));
                            }
                        }
                    }
                    Op::SelectOrConst { name, target: t } => {
                        let found = match self.top_attr(&f.code, name) {
                            Ok(found) => found,
                            Err(t) => break 'op Ok(Flow::Force(t)),
                        };
                        match found {
                            Some(v) => *self.stack.last_mut().expect("an operand") = v,
                            None => {
                                self.pop();
                                break 'op Ok(Flow::Jump(t as usize));
                            }
                        }
                    }
                    Op::HasAttrConst(i) => {
                        let code = &f.code;
                        let has = match self.in_top(|v| match v {
                            Value::Attrs(a) => code.attr(i, a).is_some(),
                            _ => false,
                        }) {
                            Ok(has) => has,
                            Err(t) => break 'op Ok(Flow::Force(t)),
                        };
                        *self.stack.last_mut().expect("an operand") = Value::Bool(has);
                    }
                    Op::Select | Op::SelectOr(_) | Op::HasAttr | Op::HasAttrStep(_) => {
                        let key = forced!(0);
                        let Value::String(key) = key else {
                            break 'op Err(ErrorKind::type_error("a string", &key));
                        };
                        tri!(ops::no_context(&key));
                        let target = forced!(1);
                        let found = match &target {
                            Value::Attrs(a) => a.get(&key).cloned(),
                            _ => None,
                        };
                        self.pop();
                        self.pop();
                        match (op, found) {
                            (Op::Select, Some(v))
                            | (Op::SelectOr(_), Some(v))
                            | (Op::HasAttrStep(_), Some(v)) => self.stack.push(v),
                            (Op::Select, None) => break 'op Err(select_error(&target, &key)),
                            (Op::SelectOr(t), None) => break 'op Ok(Flow::Jump(t as usize)),
                            (Op::HasAttr, found) => self.stack.push(Value::Bool(found.is_some())),
                            (Op::HasAttrStep(t), None) => {
                                self.stack.push(Value::Bool(false));
                                break 'op Ok(Flow::Jump(t as usize));
                            }
                            _ => unreachable!("matched above"),
                        }
                    }
                    Op::Force => {
                        need!(0);
                        let v = self.take();
                        // `Force, Return` (the end of most code): break 'op at once.
                        if let Some(Op::Return) = f.code.ops.get(f.ip + 1) {
                            ret!(v);
                        }
                        self.stack.push(v);
                    }
                    Op::Jump(t) => break 'op Ok(Flow::Jump(t as usize)),
                    Op::JumpIfFalse(t) => {
                        if let Some(b) = self.stack.last().and_then(bool_of) {
                            self.pop();
                            if !b {
                                break 'op Ok(Flow::Jump(t as usize));
                            }
                            next!();
                        }
                        need!(0);
                        let v = self.take();
                        let Value::Bool(b) = v else {
                            break 'op Err(ErrorKind::type_error("a Boolean", &v));
                        };
                        if !b {
                            break 'op Ok(Flow::Jump(t as usize));
                        }
                    }
                    Op::AssertBool => {
                        let v = forced!(0);
                        if !matches!(v, Value::Bool(_)) {
                            break 'op Err(ErrorKind::type_error("a Boolean", &v));
                        }
                        *self.stack.last_mut().expect("an operand") = v;
                    }
                    Op::Not => {
                        let v = forced!(0);
                        let Value::Bool(b) = v else {
                            break 'op Err(ErrorKind::type_error("a Boolean", &v));
                        };
                        *self.stack.last_mut().expect("an operand") = Value::Bool(!b);
                    }
                    Op::Negate => {
                        let v = forced!(0);
                        let r = match v {
                            Value::Int(i) => {
                                Value::Int(tri!(i.checked_neg().ok_or(ErrorKind::Overflow {
                                    op: "subtracting",
                                    a: 0,
                                    sym: "-",
                                    b: i,
                                })))
                            }
                            // C++ Nix computes `0 - x` (so `-0.0` is `0`).
                            Value::Float(x) => Value::Float(0.0 - x),
                            other => break 'op Err(ErrorKind::type_error("an integer", &other)),
                        };
                        *self.stack.last_mut().expect("an operand") = r;
                    }
                    Op::TraceEnter => {
                        let span = f.code.span(f.ip).expect("an instruction has a position");
                        trace_call("entered", &span);
                        self.traced.push((span, self.frames.len()));
                    }
                    Op::TraceExit => {
                        if let Some((span, _)) = self.traced.pop() {
                            trace_call("exited", &span);
                        }
                    }
                    Op::Call => {
                        // `f x` where `f` is an evaluated `x: …` (not curried):
                        // its frame takes this one's place at once, without
                        // `call_frame`'s wrapping of it (fib: a fifth of the
                        // time went moving frames through those layers).
                        let n = self.stack.len();
                        let plain = |v: &Value| match v {
                            Value::Closure(c)
                                if matches!(c.lambda.params, Params::Ident)
                                    && c.lambda.curried.is_none() =>
                            {
                                Some(c.clone())
                            }
                            _ => None,
                        };
                        let callee = match &self.stack[n - 2] {
                            Value::Thunk(t) => t.with_value(plain),
                            v => plain(v),
                        };
                        if let Some(c) = callee {
                            if self.frames.len() + 1 < MAX_FRAMES && self.steps < self.max_steps {
                                let arg = self.pop();
                                self.pop();
                                let lambda = &c.lambda;
                                let env =
                                    Env::with_first(lambda.scope_size as usize, arg, c.env.clone());
                                let callee = CodeFrame {
                                    code: lambda.body.clone(),
                                    ip: 0,
                                    env,
                                    base: n - 2,
                                    done: Done::Push,
                                };
                                f.ip += 1;
                                self.steps += 1;
                                let caller = std::mem::replace(f, callee);
                                self.frames.push(Frame::Code(caller));
                                continue 'run;
                            }
                        }
                        need!(1);
                        // A builtin with a fast path that is strict in the
                        // argument it gets last: evaluate it here and run this
                        // instruction again, so that the fast path can answer
                        // without a generator. (An error on the way gets the builtin's trace
                        // frame in `unwind`, as if the builtin had forced it.)
                        if let Some(t) = self.unevaluated(0) {
                            let func = &self.stack[self.stack.len() - 2];
                            // A function with formals forces its argument before
                            // anything else: here, rather than from a frame
                            // that calls again.
                            if forces_argument(func) {
                                break 'op Ok(Flow::Force(t));
                            }
                        }
                        break 'op self.call_top();
                    }
                    Op::CallSwap => {
                        // As `Call`, with the argument below the function (the
                        // result of the `f a` a `Call2` before made).
                        need!(0);
                        let n = self.stack.len();
                        if let Some(t) = self.unevaluated(1) {
                            let func = &self.stack[n - 1];
                            if forces_argument(func) {
                                break 'op Ok(Flow::Force(t));
                            }
                        }
                        self.stack.swap(n - 1, n - 2);
                        break 'op self.call_top();
                    }
                    Op::Call2 => {
                        need!(2);
                        let n = self.stack.len();
                        let func = match &self.stack[n - 3] {
                            Value::Thunk(t) => t.value().expect("forced above"),
                            v => v.clone(),
                        };
                        match &func {
                            Value::Closure(c) if c.lambda.curried.is_some() => {
                                let y = self.pop();
                                let x = self.pop();
                                self.pop();
                                let Ok(callee) = self.curried_call(&func, &x, y, Done::Push) else {
                                    unreachable!("the closure is curried")
                                };
                                let flow = match tri!(callee) {
                                    Callee::Frame(frame) => Flow::Call(frame),
                                    Callee::Value(v) => {
                                        self.stack.push(v);
                                        Flow::Next
                                    }
                                };
                                // Past the `CallSwap` too (`Flow::Call` and
                                // `Next` step over this instruction).
                                f.ip += 1;
                                break 'op Ok(flow);
                            }
                            Value::Builtin(b) if b.args.is_empty() && b.arity == 2 => {
                                if let Some(fast) = b.fast {
                                    // As `Call` would for `(f a) b`: a builtin
                                    // strict in its last argument gets it evaluated.
                                    if strict_pair_builtin(&func).is_some() {
                                        need!(0);
                                    } else if forces_first(b) {
                                        // One that forces its first argument
                                        // before anything else: that one, and
                                        // then the second when the first is
                                        // what the builtin checks it for.
                                        need!(1);
                                        if forces_second_next(b, &self.stack[n - 2]) {
                                            need!(0);
                                        }
                                    }
                                    let all =
                                        [self.stack[n - 2].clone(), self.stack[n - 1].clone()];
                                    if let Some(v) = fast(&all) {
                                        self.stack.truncate(n - 3);
                                        self.stack.push(v);
                                        break 'op Ok(Flow::Jump(f.ip + 2));
                                    }
                                }
                            }
                            _ => {}
                        }
                        // `f a` now, with `b` below for the `CallSwap`.
                        if let Some(t) = self.unevaluated(1) {
                            if forces_argument(&func) {
                                break 'op Ok(Flow::Force(t));
                            }
                        }
                        let y = self.pop();
                        self.stack.insert(n - 3, y);
                        break 'op self.call_top();
                    }
                    Op::BinOp(bop) => {
                        // Integers (the common case) without cloning or a call.
                        let len = self.stack.len();
                        if let (Some(x), Some(y)) =
                            (int_of(&self.stack[len - 2]), int_of(&self.stack[len - 1]))
                        {
                            if let Some(r) = int_binop(bop, x, y) {
                                self.stack.truncate(len - 2);
                                self.stack.push(r);
                                next!();
                            }
                        }
                        need!(0, 1);
                        let rhs = self.take();
                        let lhs = self.take();
                        match tri!(ops::binop_simple(bop, &lhs, &rhs)) {
                            Some(v) => self.stack.push(v),
                            None => {
                                // Needs deeper evaluation (==, < on lists, …).
                                let gen = generator(move |co| ops::binop_deep(co, bop, lhs, rhs));
                                break 'op Ok(Flow::Call(self.gen_frame(gen)));
                            }
                        }
                    }
                    Op::Interpolate(n) => {
                        // Fast path: force the parts here; when they are all strings,
                        // join them without a generator.
                        let n = n as usize;
                        for i in 0..n {
                            need!(i);
                        }
                        let base = self.stack.len() - n;
                        for v in &mut self.stack[base..] {
                            if let Value::Thunk(t) = v {
                                if let Some(r) = t.value() {
                                    *v = r;
                                }
                            }
                        }
                        let mut len = Some(0);
                        let mut ctx = Context::new();
                        for v in &self.stack[base..] {
                            match v {
                                Value::String(s) => {
                                    len = len.map(|l| l + s.len());
                                    s.add_context_to(&mut ctx);
                                }
                                _ => len = None,
                            }
                        }
                        if let Some(len) = len {
                            // Written straight into the string's block.
                            let parts = &self.stack[base..];
                            let joined = NixString::build(len, ctx, |out| {
                                let mut at = 0;
                                for v in parts {
                                    if let Value::String(s) = v {
                                        out[at..at + s.len()].copy_from_slice(s.as_bytes());
                                        at += s.len();
                                    }
                                }
                            });
                            self.stack.truncate(base);
                            self.stack.push(Value::String(joined));
                            next!();
                        }
                        let parts = self.stack.split_off(base);
                        let gen = generator(move |co| ops::interpolate(co, parts, false));
                        break 'op Ok(Flow::Call(self.gen_frame(gen)));
                    }
                    Op::MakePath(n) => {
                        let n = n as usize;
                        let parts = self.stack.split_off(self.stack.len() - n);
                        let is_path = true;
                        let gen = generator(move |co| ops::interpolate(co, parts, is_path));
                        break 'op Ok(Flow::Call(self.gen_frame(gen)));
                    }
                    Op::Assert => {
                        let cond = forced!(1);
                        let Value::Bool(b) = cond else {
                            break 'op Err(ErrorKind::type_error("a Boolean", &cond));
                        };
                        let text = self.pop();
                        self.pop();
                        if !b {
                            let Value::String(t) = text else {
                                unreachable!("assert text")
                            };
                            break 'op Err(ErrorKind::AssertionFailed(t.to_string()));
                        }
                    }
                    Op::RecOverrides { slot, names } => {
                        let over = match tri!(forced_set(&f.env.get(slot as usize))) {
                            Ok(a) => a,
                            Err(t) => break 'op Ok(Flow::Force(t)),
                        };
                        let Value::List(names) = &f.code.constants[names as usize] else {
                            unreachable!("the compiler stores the names as a list")
                        };
                        for (i, name) in names.iter().enumerate() {
                            if let Value::String(n) = name {
                                if let Some(v) = over.get(n) {
                                    f.env.set(i, v.clone());
                                }
                            }
                        }
                    }
                    Op::Return => {
                        ret!(self.pop());
                    }
                }
                f.ip += 1;
                continue 'run;
            };
            // The frame to run next when it is not the one on top of the
            // frame stack.
            let next: Option<CodeFrame> = match flow {
                Ok(Flow::Next) => {
                    f.ip += 1;
                    continue;
                }
                Ok(Flow::Jump(t)) => {
                    f.ip = t;
                    continue;
                }
                Ok(Flow::Force(t)) => {
                    // A pending call of `x: a ⊕ b` of integers: its value
                    // at once, without starting the thunk.
                    let quick = t.peek_state(|s| s.with_call(|f, x| quick_call(f, x, true)));
                    if let Some(v) = quick {
                        t.finish(v);
                        continue;
                    }
                    match t.start() {
                        ThunkState::Suspended { code, env } => {
                            // A function binding, or `n - 1` of evaluated
                            // integers: no frame.
                            if let Some(v) = quick_value(&code, &env) {
                                t.finish(v);
                                continue;
                            }
                            let base = self.stack.len();
                            self.frames.push(Frame::Code(f));
                            Some(CodeFrame {
                                code,
                                ip: 0,
                                env,
                                base,
                                done: Done::Thunk(t),
                            })
                        }
                        ThunkState::Done(_) => {
                            // Evaluated meanwhile: run the instruction again.
                            continue;
                        }
                        s @ (ThunkState::Apply(..) | ThunkState::ApplyBoxed(_)) => {
                            let Ok((func, arg)) = s.into_call() else {
                                unreachable!("a pending call")
                            };
                            self.frames.push(Frame::Code(f));
                            // `map`'s or `genList`'s function `x: …`: its frame
                            // at once.
                            match callee_now(func) {
                                Value::Closure(c) if matches!(c.lambda.params, Params::Ident) => {
                                    let base = self.stack.len();
                                    let env = c.env.clone();
                                    Some(ident_frame(&c.lambda, arg, env, base, Done::Thunk(t)))
                                }
                                func => self.apply_frame(func, arg, t)?,
                            }
                        }
                        // Already being evaluated.
                        _ => {
                            self.frames.push(Frame::Code(f));
                            return Err(self.error_at_top(ErrorKind::InfiniteRecursion));
                        }
                    }
                }
                Ok(Flow::Call(frame)) => {
                    f.ip += 1;
                    match frame {
                        Frame::Code(c) => {
                            self.frames.push(Frame::Code(f));
                            Some(c)
                        }
                        Frame::Gen(mut g) => {
                            if !Rc::ptr_eq(&f.code, &self.call_code) && g.span.is_none() {
                                g.span = f.code.span(f.ip - 1);
                            }
                            self.frames.push(Frame::Code(f));
                            self.frames.push(Frame::Gen(g));
                            None
                        }
                        // A builtin's loop started straight from the call:
                        // it has the call's position, as the builtin's
                        // generator would have.
                        Frame::Loop(mut l) => {
                            if !Rc::ptr_eq(&f.code, &self.call_code) && l.span.is_none() {
                                l.span = f.code.span(f.ip - 1);
                            }
                            self.frames.push(Frame::Code(f));
                            self.frames.push(Frame::Loop(l));
                            None
                        }
                    }
                }
                Ok(Flow::Return(v)) => {
                    self.stack.truncate(f.base);
                    // The common ends inline; the rest in `complete`.
                    match f.done {
                        Done::Push => {
                            self.stack.push(v);
                            None
                        }
                        Done::Thunk(t) if !matches!(v, Value::Thunk(_)) => {
                            t.finish(v);
                            None
                        }
                        // Back to a builtin's loop: its next call at once.
                        Done::Resume if matches!(self.frames.last(), Some(Frame::Loop(_))) => {
                            match self.resume_inline(v) {
                                loops::Resumed::Next(c) => Some(c),
                                loops::Resumed::Later => None,
                            }
                        }
                        done => {
                            self.complete(v, done)?;
                            None
                        }
                    }
                }
                Err(kind) => {
                    let span = if Rc::ptr_eq(&f.code, &self.call_code) {
                        // Started by a call instruction below (a function
                        // with formals whose argument it forced first):
                        // that call's position.
                        match (&f.done, self.frames.last()) {
                            (Done::Push, Some(Frame::Code(c))) => c.code.span(c.ip.wrapping_sub(1)),
                            _ => None,
                        }
                    } else {
                        f.code.span(f.ip)
                    };
                    let mut e = EvalError::located(kind, span);
                    // (The instruction read again rather than kept from the
                    // top of the loop: kept, it took two registers across
                    // every instruction, and the compiler stored them on the
                    // stack at each dispatch.)
                    if let Some(Op::BinOp(bop)) = f.code.ops.get(f.ip) {
                        operator_context(&mut e, *bop);
                    }
                    self.frames.push(Frame::Code(f));
                    return Err(e);
                }
            };
            self.steps += 1;
            match next {
                Some(c) => {
                    if self.frames.len() >= MAX_FRAMES || self.steps > self.max_steps {
                        self.frames.push(Frame::Code(c));
                        return Ok(());
                    }
                    f = c;
                }
                None => {
                    if self.frames.len() <= bottom
                        || self.frames.len() > MAX_FRAMES
                        || self.steps > self.max_steps
                        || !matches!(self.frames.last(), Some(Frame::Code(_)))
                    {
                        return Ok(());
                    }
                    let Some(Frame::Code(next)) = self.frames.pop() else {
                        unreachable!("checked above")
                    };
                    f = next;
                }
            }
        }
    }

    /// The frame that evaluates thunk `t`, the delayed call of `func` with
    /// `arg`, for the code frame that forces it (already back on the frame
    /// stack); `None` when another kind of frame was pushed, or the value
    /// is in the thunk already.
    #[inline(never)]
    fn apply_frame(
        &mut self,
        func: Value,
        arg: Value,
        t: Thunk,
    ) -> Result<Option<CodeFrame>, EvalError> {
        match self.call_frame(func, arg, Done::Thunk(t.clone())) {
            Ok(Callee::Frame(Frame::Code(c))) => Ok(Some(c)),
            Ok(Callee::Frame(frame)) => {
                self.frames.push(frame);
                Ok(None)
            }
            Ok(Callee::Value(v)) => {
                // Cannot fail: delivering into a thunk.
                let _ = self.complete(v, Done::Thunk(t));
                Ok(None)
            }
            Err(k) => {
                t.restore();
                Err(self.error_at_top(k))
            }
        }
    }

    /// Calls the function below the top of the stack (evaluated) with
    /// the value on top.
    #[inline(always)]
    fn call_top(&mut self) -> Result<Flow, ErrorKind> {
        let arg = self.pop();
        let func = self.take();
        // `f x` where `f` is `a: b: …`: the inner closure, without a frame
        // for a body that only makes it.
        if let Some(g) = curried_inner(&func, &arg) {
            self.stack.push(g);
            return Ok(Flow::Next);
        }
        match self.call_frame(func, arg, Done::Push)? {
            Callee::Frame(frame) => Ok(Flow::Call(frame)),
            Callee::Value(v) => {
                self.stack.push(v);
                Ok(Flow::Next)
            }
        }
    }

    /// An error of the instruction the code frame on top of the frame
    /// stack is running.
    fn error_at_top(&self, k: ErrorKind) -> EvalError {
        let span = match self.frames.last() {
            Some(Frame::Code(c)) => c.code.span(c.ip),
            _ => None,
        };
        EvalError::new(k, span)
    }

    /// The value `n` places below the top of the stack, or the thunk to
    /// evaluate first.
    #[inline(always)]
    fn peek(&self, n: usize) -> Result<Value, Thunk> {
        let v = &self.stack[self.stack.len() - 1 - n];
        match v {
            Value::Thunk(t) => t.value().ok_or_else(|| t.clone()),
            v => Ok(v.clone()),
        }
    }

    /// What `pick` makes of the value on top of the stack (following an
    /// evaluated thunk, without counting a reference), or the thunk to
    /// evaluate first.
    #[inline(always)]
    fn in_top<R>(&self, pick: impl FnOnce(&Value) -> R) -> Result<R, Thunk> {
        match self.stack.last().expect("an operand") {
            Value::Thunk(t) => t.with_value(|v| Some(pick(v))).ok_or_else(|| t.clone()),
            v => Ok(pick(v)),
        }
    }

    /// The attribute named `constants[name]` of the set on top of the
    /// stack (`None`: no such attribute, or not a set), or the thunk to
    /// evaluate first.
    #[inline(always)]
    fn top_attr(&self, code: &Code, name: u32) -> Result<Option<Value>, Thunk> {
        self.in_top(|v| match v {
            Value::Attrs(a) => code.attr(name, a).cloned(),
            _ => None,
        })
    }

    /// The thunk to evaluate first if the value `n` places below the top is
    /// not evaluated yet (no reference counting on the fast path).
    #[inline]
    fn unevaluated(&self, n: usize) -> Option<Thunk> {
        match &self.stack[self.stack.len() - 1 - n] {
            Value::Thunk(t) if !t.is_done() => Some(t.clone()),
            _ => None,
        }
    }

    /// Pops the top value, following an evaluated thunk.
    #[inline(always)]
    fn take(&mut self) -> Value {
        match self.pop() {
            Value::Thunk(t) => t.value().unwrap_or(Value::Thunk(t)),
            v => v,
        }
    }

    #[inline]
    fn pop(&mut self) -> Value {
        self.stack.pop().expect("the compiler balances the stack")
    }

    fn gen_frame(&self, gen: Gen) -> Frame {
        gen_frame(gen, Done::Push)
    }
}

/// The error of selecting `key` from `target`, which has no such
/// attribute (or is not a set).
fn select_error(target: &Value, key: &NixString) -> ErrorKind {
    if let Value::Attrs(a) = target {
        let names: Vec<String> = a.keys().map(|k| k.to_string()).collect();
        return ErrorKind::AttributeMissing {
            name: key.to_string(),
            hint: did_you_mean(&names, &key.to_string()),
        };
    }
    ErrorKind::type_error("a set", target)
}

/// `f x` without running it, when `f` is `a: b: …` (its body only makes
/// the inner closure; `f` evaluated): that closure, in a scope holding `x`.
fn curried_inner(f: &Value, x: &Value) -> Option<Value> {
    let Value::Closure(c) = f else {
        return None;
    };
    let inner = c.lambda.curried.as_ref()?;
    let env = Env::with_first(c.lambda.scope_size as usize, x.clone(), c.env.clone());
    Some(Value::Closure(Counted::new(Closure {
        lambda: inner.clone(),
        env,
    })))
}

/// `f x y` as a frame, when `f` is `a: b: …` (its body only makes the
/// inner closure) and the inner function takes its argument whole: the
/// inner body in a scope holding `y` inside one holding `x`, without
/// making the inner closure. `y` and `done` come back when `f` is not
/// such.
fn curried_frame(
    f: &Value,
    x: &Value,
    y: Value,
    base: usize,
    done: Done,
) -> Result<Frame, (Value, Done)> {
    let inner = match f {
        Value::Closure(c) => c
            .lambda
            .curried
            .as_ref()
            .filter(|inner| matches!(inner.params, Params::Ident))
            .map(|inner| (c, inner)),
        _ => None,
    };
    let Some((c, inner)) = inner else {
        return Err((y, done));
    };
    let outer = Env::with_first(c.lambda.scope_size as usize, x.clone(), c.env.clone());
    Ok(Frame::Code(ident_frame(inner, y, outer, base, done)))
}

/// The function `f` is, or holds when it is an evaluated thunk (moved,
/// not cloned: this runs for every call); an unevaluated thunk as it is.
#[inline(always)]
fn callee_now(f: Value) -> Value {
    match f {
        Value::Thunk(t) => t.value().unwrap_or(Value::Thunk(t)),
        f => f,
    }
}

/// The frame of a call of `x: …` (`lambda`) with `arg`, in a scope whose
/// first slot is the argument, inside `parent`.
/// The set `v` is (an evaluated thunk followed), `Ok(Err(t))` when thunk
/// `t` must be forced first, or the type error when it is no set.
fn forced_set(v: &Value) -> Result<Result<Counted<AttrSet>, Thunk>, ErrorKind> {
    match v.resolved() {
        Value::Attrs(a) => Ok(Ok(a)),
        Value::Thunk(t) => Ok(Err(t)),
        other => Err(ErrorKind::type_error("a set", &other)),
    }
}

fn ident_frame(
    lambda: &LambdaInfo,
    arg: Value,
    parent: Counted<Env>,
    base: usize,
    done: Done,
) -> CodeFrame {
    CodeFrame {
        code: lambda.body.clone(),
        ip: 0,
        env: Env::with_first(lambda.scope_size as usize, arg, parent),
        base,
        done,
    }
}

/// The name of the builtin `f` is (or an evaluated thunk holds) when it
/// takes two arguments, has none yet, has a fast path and evaluates its
/// last argument first: what `Op::Call2` evaluates the second argument
/// for before giving it both.
fn strict_pair_builtin(f: &Value) -> Option<&'static str> {
    evaluated(f, |v| match v {
        Value::Builtin(b)
            if b.args.is_empty() && b.arity == 2 && b.fast.is_some() && b.strict_last =>
        {
            Some(b.name)
        }
        _ => None,
    })
}

/// Whether two-argument builtin `b`, with a fast path, forces its first
/// argument before anything else (as C++ Nix's do: `intersectAttrs
/// (functionArgs f) args`, `getAttr (prefix + name) set`), so that
/// `Op::Call2` may force it for the fast path to answer. (Not `elemAt`,
/// whose C++ code leaves the order to the compiler.)
fn forces_first(b: &Builtin) -> bool {
    matches!(
        b.name,
        "intersectAttrs" | "getAttr" | "hasAttr" | "removeAttrs" | "concatStringsSep"
    )
}

/// Whether [`forces_first`] builtin `b`, its first argument `first`
/// evaluated, forces its second next: when `first` passed the builtin's
/// check (a set for `intersectAttrs` and `removeAttrs`, a string for
/// `concatStringsSep`, one without context for `getAttr` and `hasAttr`).
fn forces_second_next(b: &Builtin, first: &Value) -> bool {
    match (b.name, first.resolved()) {
        ("intersectAttrs" | "removeAttrs", Value::Attrs(_)) => true,
        ("concatStringsSep", Value::String(_)) => true,
        ("getAttr" | "hasAttr", Value::String(s)) => !s.has_context(),
        _ => false,
    }
}

/// The name of the builtin `f` is (or an evaluated thunk holds) when it
/// takes two arguments, has none yet, has a fast path and forces its
/// first argument first ([`forces_first`]).
fn strict_first_builtin(f: &Value) -> Option<&'static str> {
    evaluated(f, |v| match v {
        Value::Builtin(b)
            if b.args.is_empty() && b.arity == 2 && b.fast.is_some() && forces_first(b) =>
        {
            Some(b.name)
        }
        _ => None,
    })
}

/// The name of the builtin `f` is (or an evaluated thunk holds) when the
/// argument it is about to get is its last, it has a fast path, and it
/// evaluates that argument before anything else: the one-argument ones
/// (`toString`, `length`, `typeOf`, the type predicates, …), those
/// marked `strict_last` in the builtins table, and the list loops given an
/// evaluated function (`loops::loop_forces_list_first`).
fn strict_last_builtin(f: &Value) -> Option<&'static str> {
    evaluated(f, |v| match v {
        Value::Builtin(b) if strict_last(b) => Some(b.name),
        _ => None,
    })
}

/// Whether builtin `b` evaluates the argument it is about to get first
/// (see [`strict_last_builtin`]).
#[inline]
fn strict_last(b: &Builtin) -> bool {
    (b.fast.is_some() && b.args.len() + 1 == b.arity && (b.arity == 1 || b.strict_last))
        || loop_forces_list_first(b)
}

/// Whether calling `f` evaluates its argument before anything else, so
/// that the call instruction forces it ahead: a function with formals,
/// or a builtin strict in its last argument.
#[inline]
fn forces_argument(f: &Value) -> bool {
    takes_set(f) || strict_last_builtin(f).is_some()
}

/// The name `constants[i]` (a name written in the source).
#[inline(always)]
fn const_name(code: &Code, i: u32) -> &NixString {
    let Value::String(key) = &code.constants[i as usize] else {
        unreachable!("the compiler stores names as strings")
    };
    key
}

/// Whether `f` is a function with formals (`{ a, … }: …`), which forces
/// its argument before it binds anything.
#[inline]
fn takes_set(f: &Value) -> bool {
    evaluated(f, |v| match v {
        Value::Closure(c) => Some(matches!(c.lambda.params, Params::Formals { .. })),
        _ => None,
    })
    .unwrap_or(false)
}

/// What `pick` finds in `v`, or in the value an evaluated thunk `v` holds.
#[inline(always)]
fn evaluated<T>(v: &Value, pick: impl Fn(&Value) -> Option<T>) -> Option<T> {
    match v {
        Value::Thunk(t) => t.with_value(pick),
        v => pick(v),
    }
}

/// `x op y` for the operators whose integer result needs no error
/// (division, and overflows: the general path reports their errors).
#[inline]
fn int_binop(op: BinOp, x: i64, y: i64) -> Option<Value> {
    match op {
        BinOp::Add => x.checked_add(y).map(Value::Int),
        BinOp::Sub => x.checked_sub(y).map(Value::Int),
        BinOp::Mul => x.checked_mul(y).map(Value::Int),
        BinOp::Less => Some(Value::Bool(x < y)),
        BinOp::LessEq => Some(Value::Bool(x <= y)),
        BinOp::More => Some(Value::Bool(x > y)),
        BinOp::MoreEq => Some(Value::Bool(x >= y)),
        BinOp::Eq => Some(Value::Bool(x == y)),
        BinOp::NotEq => Some(Value::Bool(x != y)),
        _ => None,
    }
}

/// The value of a thunk of `code` in `env` when it needs no frame: a
/// binding of a function (`f = x: …;`) is its closure, and `n - 1` of
/// evaluated integers its result (see [`Shape`]).
#[inline(always)]
fn quick_value(code: &Rc<Code>, env: &Counted<Env>) -> Option<Value> {
    match code.shape {
        Shape::General => None,
        Shape::Closure(i) => Some(Value::Closure(Counted::new(Closure {
            lambda: code.lambdas.get(i as usize)?.clone(),
            env: env.clone(),
        }))),
        Shape::BinOp(a, b, op) => {
            let operand = |o: Operand| match o {
                Operand::Var { depth, slot } => env.up(depth as usize).peek(slot as usize, int_of),
                Operand::Constant(i) => code.constants.get(i as usize).and_then(int_of),
            };
            int_binop(op, operand(a)?, operand(b)?)
        }
    }
}

/// The value of a function `x: a ⊕ b` whose body only combines two
/// integers (see [`Shape::BinOp`]) called with the arguments `args` (the
/// innermost first: `args[0]` is `x`, `args[1]` the argument of the
/// function around it, for `a: b: a ⊕ b`) in scope `env` (the one around
/// the outermost of them), when the operands are evaluated integers and
/// the operation cannot fail: no scope and no frame for the call. An
/// argument that is itself a pending such call (`genList (x: x * 3)`'s
/// elements) is evaluated here too when `force` says so. `None`: the call
/// runs as usual (and reports what went wrong, if anything). Inlined in
/// its callers, as the dispatch loop's layout was measured with.
#[inline(always)]
fn quick_body(
    lambda: &LambdaInfo,
    args: &[&Value],
    env: &Counted<Env>,
    force: bool,
) -> Option<Value> {
    let code = &lambda.body;
    let Shape::BinOp(a, b, op) = code.shape else {
        return None;
    };
    let operand = |o: Operand| match o {
        Operand::Var { depth, slot } => match args.get(depth as usize) {
            Some(arg) if slot == 0 && force => int_forcing(arg),
            Some(arg) if slot == 0 => int_of(arg),
            Some(_) => None,
            None => env
                .up(depth as usize - args.len())
                .peek(slot as usize, int_of),
        },
        Operand::Constant(i) => code.constants.get(i as usize).and_then(int_of),
    };
    int_binop(op, operand(a)?, operand(b)?)
}

/// The value of the pending call `func arg` (a thunk's [`ThunkState::Apply`])
/// when [`quick_body`] has it without a frame.
#[inline]
fn quick_call(func: &Value, arg: &Value, force: bool) -> Option<Value> {
    evaluated(func, |f| match f {
        Value::Closure(c) if matches!(c.lambda.params, Params::Ident) => {
            quick_body(&c.lambda, &[arg], &c.env, force)
        }
        _ => None,
    })
}

/// The integer `v` is, holds, or (a pending call that [`quick_call`]
/// answers, which is then finished with it) evaluates to.
fn int_forcing(v: &Value) -> Option<i64> {
    if let Some(i) = int_of(v) {
        return Some(i);
    }
    let Value::Thunk(t) = v else {
        return None;
    };
    let got = t.peek_state(|s| s.with_call(|f, x| quick_call(f, x, false)))?;
    let Value::Int(i) = got else {
        return None;
    };
    t.finish(got);
    Some(i)
}

/// `f acc x` for `foldl'` when `f` is `a: b: a ⊕ b` of integers that
/// [`quick_body`] has without a frame (the element forced when it is a
/// pending such call). Inlined in its callers (the return path of the
/// dispatch loop, and the sort loop's), as the loop's layout was measured
/// with.
#[inline(always)]
fn quick_fold(f: &Value, acc: &Value, x: &Value) -> Option<Value> {
    let Value::Closure(c) = f else {
        return None;
    };
    let inner = c.lambda.curried.as_ref()?;
    if !matches!(c.lambda.params, Params::Ident) || !matches!(inner.params, Params::Ident) {
        return None;
    }
    quick_body(inner, &[x, acc], &c.env, true)
}

/// The integer `v` is or (an evaluated thunk) holds.
#[inline(always)]
fn int_of(v: &Value) -> Option<i64> {
    evaluated(v, |v| match v {
        Value::Int(i) => Some(*i),
        _ => None,
    })
}

/// The Boolean `v` is or (an evaluated thunk) holds.
#[inline(always)]
fn bool_of(v: &Value) -> Option<bool> {
    evaluated(v, |v| match v {
        Value::Bool(b) => Some(*b),
        _ => None,
    })
}

/// The trace frames an error passing through a call of builtin `b` (its
/// last argument `last`, called at `span`) gets: what the argument was,
/// for an error of the builtin's own (`innermost`), and the call.
fn add_builtin_frames(
    e: &mut EvalError,
    b: &Builtin,
    last: &Value,
    span: &Option<Span>,
    innermost: bool,
) {
    if innermost {
        if let Some(ctx) = argument_context(b, last, &e.kind) {
            e.add_trace(ctx, None);
        }
        e.span_in_frame = true;
    }
    e.add_trace(
        format!("while calling the '{}' builtin", b.name),
        span.clone(),
    );
}

/// "while evaluating the first argument passed to builtins.X" when a
/// builtin failed on the type of one of its arguments (recognised by the
/// value the message shows).
fn argument_context(b: &Builtin, last: &Value, kind: &ErrorKind) -> Option<String> {
    let shown = match kind {
        ErrorKind::TypeError { value, .. } | ErrorKind::CannotCoerce(_, value) => value,
        _ => return None,
    };
    let args: Vec<&Value> = b.args.iter().chain(std::iter::once(last)).collect();
    let Some(i) = args
        .iter()
        .map(|a| super::print::error_value(a))
        .position(|a| &a == shown)
    else {
        return inner_context(b.name, &args, shown);
    };
    const ORDINALS: [&str; 3] = ["first", "second", "third"];
    let nth = ORDINALS.get(i)?;
    let name = b.name;
    let passed = |what: &str| format!("while evaluating the {what} passed to builtins.{name}");
    Some(match (name, i) {
        ("attrNames" | "attrValues" | "listToAttrs" | "stringLength" | "derivationStrict", 0) => {
            passed("argument")
        }
        ("head" | "tail" | "elemAt" | "storePath", _) => {
            format!("while evaluating the {nth} argument passed to 'builtins.{name}'")
        }
        ("filterSource", 1) => "while evaluating the second argument (the path to filter) passed to 'builtins.filterSource'".into(),
        ("foldl'", _) => format!("while evaluating the {nth} argument passed to builtins.foldlStrict"),
        ("substring", _) => {
            let what = ["(the start offset)", "(the substring length)", "(the string)"][i];
            passed(&format!("{nth} argument {what}"))
        }
        ("concatStringsSep", 0) => passed("first argument (the separator string)"),
        ("concatStringsSep", 1) => passed("second argument (the list of strings to concat)"),
        ("add", _) => format!("while evaluating the {nth} argument of the addition"),
        ("sub", _) => format!("while evaluating the {nth} argument of the subtraction"),
        ("mul", _) => format!("while evaluating the {nth} argument of the multiplication"),
        ("div", _) => format!("while evaluating the {nth} operand of the division"),
        _ => passed(&format!("{nth} argument")),
    })
}

/// One line of `trace-function-calls`: C++ Nix 2.8's position form
/// (`(string)` for `-E` text) and nanoseconds since the epoch.
fn trace_call(what: &str, span: &Span) {
    let (line, col) = span.source.line_col(span.start as usize);
    let name = match span.source.name.as_str() {
        "«string»" => "(string)",
        "«stdin»" => "(stdin)",
        n => n,
    };
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    crate::log::message(
        crate::log::Level::Info,
        &format!("function-trace {what} {name}:{line}:{col} at {ns}"),
    );
}

/// Newer C++ Nix's suggestions: the names closest to `name` (edit distance
/// at most 2), "Did you mean x?" or "Did you mean one of x or y?".
pub(crate) fn did_you_mean(names: &[String], name: &str) -> String {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = if ca == *cb {
                    prev
                } else {
                    1 + prev.min(cur).min(row[j])
                };
                prev = cur;
            }
        }
        row[b.len()]
    }
    let mut close: Vec<(usize, &String)> = names
        .iter()
        .map(|n| (distance(n, name), n))
        .filter(|(d, _)| *d <= 2)
        .collect();
    close.sort();
    close.truncate(5);
    let shown: Vec<&str> = close.iter().map(|(_, n)| n.as_str()).collect();
    match shown.as_slice() {
        [] => String::new(),
        [one] => format!("Did you mean {one}?"),
        [init @ .., last] => format!("Did you mean one of {} or {last}?", init.join(", ")),
    }
}

/// What builtin `b`'s fast path answers when `arg` is its last argument;
/// `arg` back when it has none or it declines. The arguments are put
/// together in an array on the stack (builtins take at most three; one
/// written out for each count, which measured cheaper than a buffer of
/// three filled in part), so that a fast path that answers needs no
/// allocation.
#[inline(always)]
fn fast_answer(b: &Builtin, mut arg: Value) -> Result<Value, Value> {
    let (Some(fast), true) = (b.fast, b.args.len() + 1 == b.arity) else {
        return Err(arg);
    };
    match b.args.as_slice() {
        [] => {
            let all = [arg];
            if let Some(v) = fast(&all) {
                return Ok(v);
            }
            [arg] = all;
        }
        [x] => {
            let all = [x.clone(), arg];
            if let Some(v) = fast(&all) {
                return Ok(v);
            }
            [_, arg] = all;
        }
        [x, y] => {
            let all = [x.clone(), y.clone(), arg];
            if let Some(v) = fast(&all) {
                return Ok(v);
            }
            [_, _, arg] = all;
        }
        _ => {}
    }
    Err(arg)
}

/// The trace C++ Nix gives an error of a binary operator it evaluates as a
/// builtin call (`a - b` is `__sub a b`, `a < b` is `__lessThan a b`) or
/// as list concatenation.
fn operator_context(e: &mut EvalError, op: BinOp) {
    let builtin = match op {
        BinOp::Sub => "sub",
        BinOp::Mul => "mul",
        BinOp::Div => "div",
        BinOp::Less | BinOp::LessEq | BinOp::More | BinOp::MoreEq => "lessThan",
        BinOp::Concat => {
            if matches!(e.kind, ErrorKind::TypeError { .. }) {
                e.add_trace(
                    "while evaluating one of the elements to concatenate".into(),
                    e.span.clone(),
                );
                e.span_in_frame = true;
            }
            return;
        }
        _ => return,
    };
    e.add_trace(
        format!("while calling the '{builtin}' builtin"),
        e.span.clone(),
    );
    e.span_in_frame = true;
}

/// The context of a builtin's error about a value inside its arguments: a
/// list element, or what the function it was given returned.
fn inner_context(name: &str, args: &[&Value], shown: &str) -> Option<String> {
    let returned = |what: &str| {
        Some(format!(
            "while evaluating the return value of the {what} passed to builtins.{name}"
        ))
    };
    let element = |i: usize, what: &str| {
        let Value::List(l) = args.get(i)?.resolved() else {
            return None;
        };
        l.iter()
            .any(|x| super::print::error_value(x) == shown)
            .then(|| format!("while evaluating {what}"))
    };
    match name {
        "all" | "any" => returned("function"),
        "filter" => returned("filtering function"),
        "partition" => returned("partition function"),
        "groupBy" => returned("grouping function"),
        "sort" => returned("sorting function"),
        "concatLists" => element(0, "a value of the list passed to builtins.concatLists"),
        "catAttrs" => element(
            1,
            "an element in the list passed as second argument to builtins.catAttrs",
        ),
        "listToAttrs" => element(0, "an element of the list passed to builtins.listToAttrs"),
        "concatStringsSep" => element(
            1,
            "one element of the list of strings to concat passed to builtins.concatStringsSep",
        ),
        "replaceStrings" => element(
            0,
            "one of the strings to replace passed to builtins.replaceStrings",
        ),
        _ => None,
    }
}

/// The outcome of giving a builtin an argument.
enum Applied {
    /// All arguments are there: run this generator.
    Run(Gen),
    /// A partial application, or the fast path's result.
    Value(Value),
}

/// Gives builtin `b` argument `arg`: a generator computing the result once
/// all arguments are there, or a value (the partially applied builtin, or
/// the result of the fast path).
fn apply_builtin(host: &dyn Host, b: &Builtin, arg: Value) -> Result<Applied, ErrorKind> {
    let arg = match fast_answer(b, arg) {
        Ok(v) => return Ok(Applied::Value(v)),
        Err(arg) => arg,
    };
    if b.args.len() + 1 < b.arity {
        let mut args: PartialArgs = b.args.iter().cloned().collect();
        args.push(arg);
        return Ok(Applied::Value(Value::Builtin(Rc::new(Builtin {
            args,
            ..b.without_args()
        }))));
    }
    let mut args = Vec::with_capacity(b.arity);
    args.extend(b.args.iter().cloned());
    args.push(arg);
    let f = host.builtin_fn(b.id).ok_or_else(|| {
        ErrorKind::Other(format!(
            "internal error: builtin '{}' is not registered",
            b.name
        ))
    })?;
    Ok(Applied::Run(generator(move |co| f(co, args))))
}
