//! What running code needs from the evaluator around it, and how
//! generators talk to the VM: the [`Host`] trait (imports, copies to the
//! store, restricted-mode checks, the registered builtins) that the
//! evaluator implements, and the [`Request`]/[`Response`] protocol of
//! builtins and other operations running as generators. Both sit below the
//! VM and the builtins, so neither has to name the evaluator itself.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use super::code::Span;
use super::config::EvalConfig;
use super::counted::Counted;
use super::error::{ErrorKind, EvalError};
use super::eval_io::EvalIo;
use super::instantiation::Instantiation;
use super::value::{AttrSet, Attrs, Context, List, Value};

/// The evaluator as running code sees it.
pub trait Host {
    /// The evaluation's settings.
    fn config(&self) -> &EvalConfig;
    /// What evaluation adds to the store.
    fn instantiation(&self) -> &Instantiation;
    /// The position of code without a source of its own.
    fn internal_span(&self) -> Span;
    /// The (cached) value of a Nix file.
    fn import_value(&self, path: &Path) -> Result<Value, ErrorKind>;
    /// `scopedImport`: a file evaluated with extra variables.
    fn scoped_import(&self, attrs: &Attrs, path: &Path) -> Result<Value, ErrorKind>;
    /// The store path a path is copied to, as a string with context.
    fn copy_path_to_store(&self, path: &Path) -> Result<Value, ErrorKind>;
    /// Forces `v` (in a VM of its own).
    fn force(&self, v: Value) -> Result<Value, EvalError>;
    /// Whether file access is restricted (restricted or pure evaluation).
    fn is_restricted(&self) -> bool;
    /// `path`'s real path, if restricted evaluation allows reading it.
    fn check_source_path(&self, path: &Path) -> Result<PathBuf, ErrorKind>;
    /// The function of the builtin registered as `id`.
    fn builtin_fn(&self, id: u32) -> Option<BuiltinFn>;
    /// Files and the store, as evaluation reads them.
    fn io(&self) -> &dyn EvalIo;
    /// Makes the store paths of a string's context readable (C++ Nix's
    /// `realiseContext`), or fails.
    fn realise_context(&self, context: &Context) -> Result<(), ErrorKind>;
    /// Whether restricted evaluation lets the fetchers fetch `uri`
    /// (C++ Nix's `checkURI`).
    fn check_uri(&self, uri: &str) -> Result<(), ErrorKind>;
    /// Lets restricted evaluation read `path` from now on (a store path a
    /// fetcher added).
    fn allow_path(&self, path: &Path);
}

/// A builtin as the VM calls it, once all its arguments are there.
pub type BuiltinFn = fn(Co, Vec<Value>) -> GenFuture;

/// What a generator asks the VM for.
pub enum Request {
    /// Evaluate to weak head normal form.
    Force(Value),
    /// Like `Force`, but a catchable error is answered instead of unwinding
    /// (for `builtins.tryEval`).
    TryForce(Value),
    /// Apply a function to an argument.
    Call(Value, Value),
    /// The (lazy, cached) value of a Nix file.
    Import(PathBuf),
    /// The store path a path is copied to, as a string with context.
    CopyToStore(PathBuf),
    /// Work that needs the evaluator itself (its store state): run it.
    WithEvaluator(EvaluatorTask),
    /// `scopedImport`: a file evaluated with extra variables.
    ScopedImport(Counted<AttrSet>, PathBuf),
    /// `addErrorContext`: force the value; an error on the way gets the
    /// message (the first value, evaluated only then) as a trace frame.
    ForceWithContext(Value, Value),
    /// Run this loop over a list in the VM itself (a function call per
    /// element without a trip through the generator); the answer is the
    /// loop's result.
    Loop(ListLoop),
}

/// A builtin's loop that calls a function on each element of a list, run
/// by the VM (`vm::loops`). The function and the list are already forced
/// and checked; each result is forced as the builtin would force it.
pub enum ListLoop {
    /// `foldl' f acc list`: `acc = f acc x`, forced, for each element.
    Foldl {
        f: Value,
        acc: Value,
        list: Counted<List>,
    },
    /// `filter f list`: the elements for which `f` returns true.
    Filter { f: Value, list: Counted<List> },
    /// `any f list` (`want` true) or `all f list` (`want` false).
    AnyAll {
        f: Value,
        list: Counted<List>,
        want: bool,
    },
    /// `concatMap f list`: the lists `f` returns, concatenated.
    ConcatMap { f: Value, list: Counted<List> },
    /// `sort f list` of the (evaluated) elements `items`: the machine
    /// asks for one `f a b` at a time (see [`super::stable_sort`]).
    Sort {
        f: Value,
        sort: Box<super::stable_sort::StableSort>,
    },
    /// Forces the elements in order while they turn out `wanted` (for a
    /// builtin that forces each element and then uses it in a way that
    /// cannot fail for such values, so forcing ahead changes nothing).
    ForceWhile {
        list: Counted<List>,
        wanted: fn(&Value) -> bool,
    },
}

/// A computation run with the evaluator (see [`Request::WithEvaluator`]).
pub type EvaluatorTask = Box<dyn FnOnce(&dyn Host) -> Result<Value, ErrorKind>>;

/// Runs `task` with the evaluator, from inside a generator.
pub async fn with_evaluator(co: &Co, task: EvaluatorTask) -> Result<Value, ErrorKind> {
    match co.yield_(Request::WithEvaluator(task)).await {
        Response::Value(v) => Ok(v),
        Response::Error(e) => Err(e),
    }
}

/// The VM's answer to a [`Request`].
pub enum Response {
    Value(Value),
    Error(ErrorKind),
}

pub type Co = genawaiter::rc::Co<Request, Response>;
pub type GenFuture = Pin<Box<dyn Future<Output = Result<Value, ErrorKind>>>>;
pub type Gen = genawaiter::rc::Gen<Request, Response, GenFuture>;

/// Starts a generator from an async function of a [`Co`].
pub fn generator<F>(f: impl FnOnce(Co) -> F + 'static) -> Gen
where
    F: Future<Output = Result<Value, ErrorKind>> + 'static,
{
    Gen::new(move |co| Box::pin(f(co)) as GenFuture)
}
