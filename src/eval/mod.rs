//! The Nix language evaluator: [`compiler`] turns source into [`code`],
//! the [`vm`] runs it lazily, [`builtins`] are the primitive functions and
//! [`print`] shows results as `nix-instantiate --eval` does.

pub mod access;
pub mod attr_path;
pub mod attrs;
mod block_pool;
pub mod builtins;
pub mod code;
pub mod compiler;
pub mod config;
pub mod counted;
pub mod cycles;
pub mod error;
pub mod eval_io;
pub mod host;
pub mod instantiation;
pub mod list;
pub mod nix_string;
pub mod ops;
pub mod parser;
pub mod paths;
pub mod print;
pub mod realise;
pub mod show;
pub mod stable_sort;
pub mod symbols;
pub mod syntax;
pub mod value;
pub mod vm;
pub mod xml;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use code::{Source, Span};
use compiler::{Compiler, Globals};
use error::{ErrorKind, EvalError};
use value::{Attrs, Env, NixString, Thunk, ThunkState, Value};
use vm::Vm;

pub use config::{EvalConfig, LintLevel, Lints, COREPKGS};
use config::{COREPKGS_DERIVATION, COREPKGS_FETCHURL};

/// An evaluator: globals, the import cache, and settings.
pub struct Evaluator {
    pub globals: Globals,
    /// The function of each builtin, by id (see [`value::Builtin`]).
    builtin_fns: Vec<builtins::BuiltinFn>,
    pub config: EvalConfig,
    /// What evaluation adds to the store (computed, written by the caller).
    pub instantiation: instantiation::Instantiation,
    imports: RefCell<HashMap<PathBuf, Value>>,
    internal: Rc<Source>,
    /// With restricted evaluation: the paths that may be read.
    allowed_paths: RefCell<Vec<PathBuf>>,
}

/// The text of Nix source `name` read as `bytes` (a file, stdin, an
/// argument): C++ Nix reads any bytes, we parse UTF-8 only, and say so.
pub fn source_text(name: &str, bytes: Vec<u8>) -> Result<String, ErrorKind> {
    String::from_utf8(bytes)
        .map_err(|_| ErrorKind::NotYetSupported(format!("Nix source '{name}' that is not UTF-8")))
}

impl Evaluator {
    pub fn new(config: EvalConfig) -> Evaluator {
        Evaluator::with_io(config, Rc::new(eval_io::StdIo), false)
    }

    /// An evaluator reaching files and the store through `io`; with
    /// `read_write` (C++ Nix's read-write mode), what evaluation adds to the
    /// store is written as soon as evaluation reads it.
    pub fn with_io(config: EvalConfig, io: Rc<dyn eval_io::EvalIo>, read_write: bool) -> Evaluator {
        let internal = Source::new("«nix-internal»".into(), PathBuf::from("/"), String::new());
        let store_dir = crate::store_path::StoreDir::new(
            config
                .store_dir
                .as_deref()
                .unwrap_or(crate::store_path::DEFAULT_STORE_DIR),
        )
        .unwrap_or_else(|_| crate::store_path::StoreDir::default());
        let mut ev = Evaluator {
            globals: Globals::default(),
            builtin_fns: Vec::new(),
            instantiation: instantiation::Instantiation::with_io(store_dir, io, read_write),
            config,
            imports: RefCell::new(HashMap::new()),
            internal,
            allowed_paths: RefCell::new(Vec::new()),
        };
        if config_restricted(&ev.config) {
            if ev.config.pure_eval {
                ev.config.search_path.clear();
            }
            let allowed = ev.initial_allowed_paths();
            *ev.allowed_paths.borrow_mut() = allowed;
        }
        (ev.globals, ev.builtin_fns) = ev.make_globals();
        symbols::intern_globals(ev.globals.keys().map(String::as_str));
        ev.define_derivation();
        ev
    }

    /// `derivation` is Nix code around `derivationStrict`, compiled once the
    /// other globals exist; its thunk was put in the globals and in
    /// `builtins` by [`Evaluator::make_globals`].
    fn define_derivation(&self) {
        let Some(Value::Thunk(t)) = self.globals.get("derivation").cloned() else {
            return;
        };
        let text = include_str!("corepkgs/derivation.nix").to_owned();
        match self.compile(COREPKGS_DERIVATION, Path::new(COREPKGS), text) {
            Ok(code) => t.set_state(ThunkState::Suspended {
                code,
                env: Env::new(0, None),
            }),
            Err(e) => t.finish(Value::string(format!("internal error: {}", e.render()))),
        }
    }

    /// The global names and `builtins`, with the functions of the builtins
    /// in the order of their ids.
    fn make_globals(&self) -> (Globals, Vec<builtins::BuiltinFn>) {
        let mut builtins = Attrs::new();
        let mut globals = Globals::default();
        let mut fns = Vec::new();
        // As in C++ Nix, a builtin is a variable under its own name (the
        // `global` ones) or else as `__name`, never both.
        for spec in builtins::configured_specs(&self.config) {
            let v = builtins::value_of(&spec, fns.len() as u32);
            fns.push(spec.func);
            builtins.insert(NixString::from(spec.name), v.clone());
            if spec.global {
                globals.insert(spec.name.to_owned(), v);
            } else {
                globals.insert(format!("__{}", spec.name), v);
            }
        }
        let constants = [
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("null", Value::Null),
            ("currentSystem", Value::string(self.config.system.as_str())),
            ("nixVersion", Value::string("2.8.0")),
            ("langVersion", Value::Int(6)),
            (
                "storeDir",
                Value::string(
                    self.config
                        .store_dir
                        .as_deref()
                        .unwrap_or(crate::store_path::DEFAULT_STORE_DIR),
                ),
            ),
            ("nixPath", self.nix_path_value()),
            ("currentTime", builtins::current_time()),
        ];
        // `<x>` is `__findFile __nixPath "x"`.
        globals.insert("__nixPath".into(), self.nix_path_value());
        for (name, v) in constants {
            if self.config.pure_eval && matches!(name, "currentSystem" | "currentTime") {
                continue;
            }
            builtins.insert(NixString::from(name), v.clone());
            if matches!(name, "true" | "false" | "null") {
                globals.insert(name.to_owned(), v);
            } else {
                globals.insert(format!("__{name}"), v);
            }
        }
        // `derivation`: filled in by `define_derivation`.
        let derivation = Value::Thunk(Thunk::with_state(ThunkState::Blackhole));
        builtins.insert(NixString::from("derivation"), derivation.clone());
        globals.insert("derivation".into(), derivation);
        // `builtins.builtins` is the set itself.
        let this = Thunk::with_state(ThunkState::Blackhole);
        builtins.insert(NixString::from("builtins"), Value::Thunk(this.clone()));
        let set = Value::attrs(builtins);
        this.finish(set.clone());
        globals.insert("builtins".into(), set);
        (globals, fns)
    }

    /// `builtins.nixPath`: `[ { prefix; path; } ]` from the search path.
    fn nix_path_value(&self) -> Value {
        let items = self.config.search_path.iter().map(|e| {
            let (prefix, path) = match e.split_once('=') {
                Some((p, rest)) => (p, rest),
                None => ("", e.as_str()),
            };
            builtins::attrs_from([
                ("prefix", Value::string(prefix)),
                ("path", Value::string(path)),
            ])
        });
        Value::list(items.collect())
    }

    pub(crate) fn internal_span(&self) -> Span {
        Span {
            source: self.internal.clone(),
            start: 0,
            end: 0,
        }
    }

    /// Compiles `text` (from `name`, resolving relative paths in `dir`).
    pub fn compile(
        &self,
        name: &str,
        dir: &Path,
        text: String,
    ) -> Result<Rc<code::Code>, EvalError> {
        let source = Source::new(name.to_owned(), dir.to_owned(), text);
        let root = Compiler::parse_source(&source)?;
        self.compile_root(source, &root, &[])
    }

    /// Compiles `root`, the parsed `source`, with this evaluator's
    /// builtins and settings; `base` names variables of its outermost
    /// scope (`scopedImport`).
    fn compile_root(
        &self,
        source: Rc<Source>,
        root: &rnix::Root,
        base: &[String],
    ) -> Result<Rc<code::Code>, EvalError> {
        Compiler::compile_root(
            source,
            root,
            &self.globals,
            self.config.home.clone(),
            self.config.lints,
            base,
            self.config.trace_function_calls,
        )
    }

    /// `nix-instantiate --parse`: checks `text` (syntax and variables) and
    /// prints it in C++ Nix's normal form.
    pub fn parse_and_show(
        &self,
        name: &str,
        dir: &Path,
        text: String,
    ) -> Result<String, EvalError> {
        let code_source = Source::new(name.to_owned(), dir.to_owned(), text);
        // Parsed once: compiled (for its variables' errors), then shown.
        let root = Compiler::parse_source(&code_source)?;
        self.compile_root(code_source, &root, &[])?;
        let Some(expr) = root.expr() else {
            return Err(EvalError::new(
                ErrorKind::Parse("empty expression".into()),
                None,
            ));
        };
        show::show(&expr, dir, self.config.home.as_deref())
    }

    /// Evaluates `text` to weak head normal form.
    pub fn eval_source(&self, name: &str, dir: &Path, text: String) -> Result<Value, EvalError> {
        let code = self.compile(name, dir, text)?;
        Vm::new(self).run(code, Env::new(0, None))
    }

    /// `"${path}"`: the store path `path` is copied to, as a string whose
    /// context is that path.
    pub fn copy_path_to_store(&self, path: &Path) -> Result<Value, ErrorKind> {
        let path = &self.check_source_path(path)?;
        let p = self.instantiation.copy_source(path)?;
        let printed = self.instantiation.store_dir.print(&p);
        let mut ctx = value::Context::new();
        ctx.insert(printed.as_str().into());
        Ok(Value::String(NixString::with_context(
            printed.into_bytes(),
            ctx,
        )))
    }

    /// The value of the file at `path` (a directory means its
    /// `default.nix`), evaluated lazily and cached per path.
    pub fn import_value(&self, path: &Path) -> Result<Value, ErrorKind> {
        if path == Path::new(COREPKGS_FETCHURL) {
            return self.import_corepkgs_fetchurl();
        }
        let asked = self.check_source_path(path)?;
        if let Some(v) = self.imports.borrow().get(&asked) {
            return Ok(v.clone());
        }
        let file = self.resolve_expr_path(&asked)?;
        let found = self.imports.borrow().get(&file).cloned();
        let v = match found {
            Some(v) => v,
            None => {
                let text = self.read_nix_file(&file)?;
                let dir = file.parent().unwrap_or(Path::new("/")).to_owned();
                let code = self
                    .compile(&file.display().to_string(), &dir, text)
                    .map_err(|e| ErrorKind::Other(e.render()))?;
                let v = Value::Thunk(Thunk::suspended(code, Env::new(0, None)));
                self.imports.borrow_mut().insert(file, v.clone());
                v
            }
        };
        self.imports.borrow_mut().insert(asked, v.clone());
        Ok(v)
    }

    /// A URL where a Nix file is expected (a command line's file
    /// argument): the tarball downloaded and unpacked into the store, as
    /// C++ Nix's `lookupFileArg` does; the store path.
    pub fn fetch_file_arg(&self, url: &str) -> Result<PathBuf, ErrorKind> {
        let request = eval_io::FetchRequest::source_tarball(url);
        let (path, _) = eval_io::EvalIo::fetch(&self.instantiation, &request)
            .map_err(|e| ErrorKind::Unlocated(e.message()))?;
        Ok(PathBuf::from(self.instantiation.store_dir.print(&path)))
    }

    /// The Nix file that `path` names (C++ Nix's `resolveExprPath`):
    /// symlinks followed one by one, each target taken relative to the
    /// link's directory, and a directory meaning its `default.nix`. The
    /// file's own path is what relative paths in it (and its positions)
    /// are taken from, so `import ./link.nix` of `link.nix -> sub/f.nix`
    /// reads `./x` in `f.nix` as `sub/x`, as C++ Nix does.
    pub fn resolve_expr_path(&self, path: &Path) -> Result<PathBuf, ErrorKind> {
        use builtins::io_error;
        use eval_io::{EvalIo, FileKind};
        const MAX_FOLLOW: usize = 1024;
        let mut path = path.to_owned();
        let mut follows = 0;
        let kind = loop {
            follows += 1;
            if follows >= MAX_FOLLOW {
                return Err(ErrorKind::Other(format!(
                    "too many symbolic links encountered while traversing the path '{}'",
                    path.display()
                )));
            }
            let kind = self
                .instantiation
                .lstat(&path)
                .map_err(|e| io_error("getting status of", &path, &e))?;
            if kind != FileKind::Symlink {
                break kind;
            }
            let target = self
                .instantiation
                .read_link(&path)
                .map_err(|e| io_error("reading symbolic link", &path, &e))?;
            let dir = path.parent().unwrap_or(Path::new("/"));
            path = paths::canonicalise(&dir.join(target));
        };
        if kind == FileKind::Directory {
            path.push("default.nix");
        }
        Ok(path)
    }

    /// The text of the Nix file at `file` (a path [`Self::resolve_expr_path`]
    /// gave).
    fn read_nix_file(&self, file: &Path) -> Result<String, ErrorKind> {
        use builtins::io_error;
        use eval_io::EvalIo;
        let bytes = self
            .instantiation
            .read_file(file)
            .map_err(|e| io_error("opening file", file, &e))?;
        source_text(&file.display().to_string(), bytes)
    }

    /// `<nix/fetchurl.nix>`, which C++ Nix builds in: oxnix's stand-in
    /// (same arguments, an error when called).
    fn import_corepkgs_fetchurl(&self) -> Result<Value, ErrorKind> {
        let file = PathBuf::from(COREPKGS_FETCHURL);
        if let Some(v) = self.imports.borrow().get(&file) {
            return Ok(v.clone());
        }
        let text = include_str!("corepkgs/fetchurl.nix").to_owned();
        let code = self
            .compile(COREPKGS_FETCHURL, Path::new(COREPKGS), text)
            .map_err(|e| ErrorKind::Other(e.render()))?;
        let v = Value::Thunk(Thunk::suspended(code, Env::new(0, None)));
        self.imports.borrow_mut().insert(file, v.clone());
        Ok(v)
    }

    /// The JSON form of `v` (`--json`), forcing what it needs.
    pub fn to_json(&self, v: Value) -> Result<Vec<u8>, EvalError> {
        let gen = vm::generator(move |co| async move {
            let json = builtins::to_json_bytes(&co, v, &mut value::Context::new()).await?;
            Ok(Value::string(json))
        });
        match Vm::new(self).run_gen(gen)? {
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            _ => Ok(Vec::new()),
        }
    }

    /// The XML form of `v` (`--xml`); `strict` forces as it goes, `location`
    /// shows where attributes and functions are defined.
    pub fn to_xml(&self, v: Value, strict: bool, location: bool) -> Result<Vec<u8>, EvalError> {
        let gen = vm::generator(move |co| async move {
            let xml = xml::to_xml(&co, v, strict, location).await?;
            Ok(Value::string(xml))
        });
        match Vm::new(self).run_gen(gen)? {
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            _ => Ok(Vec::new()),
        }
    }

    /// `scopedImport attrs path`: the file evaluated with the attributes of
    /// `attrs` as variables of its outermost scope (not cached).
    pub fn scoped_import(&self, attrs: &value::Attrs, path: &Path) -> Result<Value, ErrorKind> {
        let file = self.resolve_expr_path(&self.check_source_path(path)?)?;
        let text = self.read_nix_file(&file)?;
        let dir = file.parent().unwrap_or(Path::new("/")).to_owned();
        let names: Vec<String> = attrs.keys().map(|k| k.to_string()).collect();
        let source = Source::new(file.display().to_string(), dir, text);
        let code = Compiler::parse_source(&source)
            .and_then(|root| self.compile_root(source, &root, &names))
            .map_err(|e| ErrorKind::Other(e.render()))?;
        let env = Env::new(names.len(), None);
        for (i, v) in attrs.values().enumerate() {
            env.set(i, v.clone());
        }
        Ok(Value::Thunk(Thunk::suspended(code, env)))
    }

    /// Forces everything inside `v` (for `--strict` and printing).
    pub fn deep_force(&self, v: Value) -> Result<(), EvalError> {
        let gen = vm::generator(move |co| async move {
            builtins::deep_force(&co, v).await?;
            Ok(Value::Null)
        });
        Vm::new(self).run_gen(gen).map(|_| ())
    }

    /// Applies `f` to `arg` and forces the result.
    pub fn call(&self, f: Value, arg: Value) -> Result<Value, EvalError> {
        let gen = vm::generator(move |co| async move {
            let r = vm::call(&co, f, arg).await?;
            vm::force(&co, r).await
        });
        Vm::new(self).run_gen(gen)
    }

    /// Forces `v` to weak head normal form.
    pub fn force(&self, v: Value) -> Result<Value, EvalError> {
        if v.is_evaluated() {
            return Ok(v.resolved());
        }
        let gen = vm::generator(move |co| async move { vm::force(&co, v).await });
        Vm::new(self).run_gen(gen)
    }
}

fn config_restricted(c: &EvalConfig) -> bool {
    c.restrict_eval || c.pure_eval
}

impl host::Host for Evaluator {
    fn config(&self) -> &EvalConfig {
        &self.config
    }

    fn instantiation(&self) -> &instantiation::Instantiation {
        &self.instantiation
    }

    fn internal_span(&self) -> Span {
        Evaluator::internal_span(self)
    }

    fn import_value(&self, path: &Path) -> Result<Value, ErrorKind> {
        Evaluator::import_value(self, path)
    }

    fn scoped_import(&self, attrs: &Attrs, path: &Path) -> Result<Value, ErrorKind> {
        Evaluator::scoped_import(self, attrs, path)
    }

    fn copy_path_to_store(&self, path: &Path) -> Result<Value, ErrorKind> {
        Evaluator::copy_path_to_store(self, path)
    }

    fn force(&self, v: Value) -> Result<Value, EvalError> {
        Evaluator::force(self, v)
    }

    fn is_restricted(&self) -> bool {
        Evaluator::is_restricted(self)
    }

    fn check_source_path(&self, path: &Path) -> Result<PathBuf, ErrorKind> {
        Evaluator::check_source_path(self, path)
    }

    fn builtin_fn(&self, id: u32) -> Option<builtins::BuiltinFn> {
        self.builtin_fns.get(id as usize).copied()
    }

    fn io(&self) -> &dyn eval_io::EvalIo {
        &self.instantiation
    }

    fn realise_context(&self, context: &value::Context) -> Result<(), ErrorKind> {
        Evaluator::realise_context(self, context)
    }

    fn check_uri(&self, uri: &str) -> Result<(), ErrorKind> {
        Evaluator::check_uri(self, uri)
    }

    fn allow_path(&self, path: &std::path::Path) {
        if self.is_restricted() {
            self.allowed_paths.borrow_mut().push(path.to_owned());
        }
    }
}
