//! `nix-instantiate`: instantiate derivations (evaluate, write the `.drv`
//! files and sources into oxnix's store, print the `.drv` paths), `--eval`
//! (evaluate and print), `--find-file`, and `--parse` (print the expression
//! in C++ Nix's normal form).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command};

use super::{clap_failure, CliError};
use crate::eval::error::{ErrorKind, EvalError};
use crate::eval::value::{NixString, Value};
use crate::eval::{print, EvalConfig, Evaluator, LintLevel, Lints};

fn lint(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .value_name("LEVEL")
        .value_parser(["warn", "fatal"])
        .help(help)
}

/// The clap definition of `nix-instantiate`.
pub fn command() -> Command {
    let flag = |name: &'static str, help: &'static str| {
        Arg::new(name)
            .long(name)
            .action(ArgAction::SetTrue)
            .help(help)
    };
    Command::new("nix-instantiate")
        .version(concat!("(oxnix) ", env!("CARGO_PKG_VERSION")))
        .about("Evaluate Nix expressions (oxnix: --eval so far)")
        .arg(flag(
            "eval",
            "Evaluate and print the result instead of instantiating",
        ))
        .arg(flag("eval-only", "Old name of --eval").hide(true))
        .arg(flag("parse", "Parse the input only"))
        .arg(flag(
            "strict",
            "Evaluate the result completely (with --eval)",
        ))
        .arg(flag("json", "Print the result as JSON"))
        .arg(flag("xml", "Print the result as XML"))
        .arg(flag("no-location", "Omit locations in XML output"))
        .arg(
            Arg::new("add-root")
                .long("add-root")
                .value_name("PATH")
                .value_hint(clap::ValueHint::AnyPath)
                .help("Make PATH a symlink to each .drv (PATH, PATH-2, …) and print it"),
        )
        .arg(flag(
            "indirect",
            "Accepted for compatibility (roots are symlinks)",
        ))
        .arg(flag(
            "dry-run",
            "Evaluate and print the .drv paths without writing to the store",
        ))
        .arg(
            Arg::new("store")
                .long("store")
                .value_name("ADDRESS")
                .help("The store to write to (default: $OXNIX_STORE, else the local sled store)"),
        )
        .arg(flag(
            "find-file",
            "Look the arguments up in the search path",
        ))
        .arg(flag("show-trace", "Show the evaluation trace on errors"))
        .arg(
            flag(
                "no-show-trace",
                "Show errors without the trace (the default)",
            )
            .overrides_with("show-trace"),
        )
        .arg(flag(
            "read-write-mode",
            "Allow writing to the store during evaluation",
        ))
        .arg(flag(
            "impure",
            "Accepted for compatibility (evaluation is not sandboxed)",
        ))
        .arg(
            Arg::new("extra-experimental-features")
                .long("extra-experimental-features")
                .action(ArgAction::Append)
                .value_name("FEATURES")
                .help("Enable experimental features (so far: parse-toml-timestamps)"),
        )
        .arg(flag(
            "trace-verbose",
            "Make builtins.traceVerbose print its message",
        ))
        .arg(lint(
            "lint-short-path-literals",
            "Report relative path literals without ./ (warn or fatal)",
        ))
        .arg(lint(
            "lint-absolute-path-literals",
            "Report absolute and ~/ path literals (warn or fatal)",
        ))
        .arg(lint(
            "lint-url-literals",
            "Report URL literals (warn or fatal)",
        ))
        .arg(
            Arg::new("expr")
                .short('E')
                .long("expr")
                .action(ArgAction::SetTrue)
                .help("Treat the arguments as Nix expressions"),
        )
        .arg(
            Arg::new("attr")
                .short('A')
                .long("attr")
                .action(ArgAction::Append)
                .value_name("ATTRPATH")
                .help("Select an attribute of the result (a.b.0.c)"),
        )
        .arg(
            Arg::new("arg")
                .long("arg")
                .num_args(2)
                .action(ArgAction::Append)
                .value_names(["NAME", "EXPR"])
                .help("Pass NAME = EXPR to a function result"),
        )
        .arg(
            Arg::new("argstr")
                .long("argstr")
                .num_args(2)
                .action(ArgAction::Append)
                .value_names(["NAME", "STRING"])
                .help("Pass NAME = STRING to a function result"),
        )
        .arg(
            Arg::new("include")
                .short('I')
                .action(ArgAction::Append)
                .value_name("PATH")
                .help("Add a search path entry (name=path or path)"),
        )
        .arg(
            Arg::new("files")
                .value_name("FILE")
                .num_args(0..)
                .value_hint(clap::ValueHint::AnyPath)
                .help("Files (or with -E, expressions); '-' reads standard input"),
        )
}

/// Runs `nix-instantiate` with `args` (without the program name).
pub fn run(args: Vec<OsString>) -> Result<(), CliError> {
    let m = match command()
        .try_get_matches_from(std::iter::once(OsString::from("nix-instantiate")).chain(args))
    {
        Ok(m) => m,
        Err(e) => return clap_failure(e),
    };
    SHOW_TRACE.store(
        m.get_flag("show-trace"),
        std::sync::atomic::Ordering::Relaxed,
    );
    let cwd = std::env::current_dir().map_err(CliError::failed)?;
    let mut search_path: Vec<String> = m
        .get_many::<String>("include")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    if let Ok(np) = std::env::var("NIX_PATH") {
        search_path.extend(np.split(':').filter(|s| !s.is_empty()).map(str::to_owned));
    }
    let search_path = search_path
        .into_iter()
        .map(|e| absolute_entry(&e, &cwd))
        .collect();
    let level = |name: &str| match m.get_one::<String>(name).map(String::as_str) {
        Some("warn") => LintLevel::Warn,
        Some("fatal") => LintLevel::Fatal,
        _ => LintLevel::Off,
    };
    let config = EvalConfig {
        search_path,
        home: std::env::var_os("HOME").map(PathBuf::from),
        system: format!("{}-linux", std::env::consts::ARCH),
        lints: Lints {
            short_path: level("lint-short-path-literals"),
            absolute_path: level("lint-absolute-path-literals"),
            url: level("lint-url-literals"),
        },
        max_steps: None,
        store_dir: store_dir_from_env()?,
        experimental_features: m
            .get_many::<String>("extra-experimental-features")
            .map(|v| {
                v.flat_map(|f| f.split_whitespace().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        trace_verbose: m.get_flag("trace-verbose"),
    };
    let files: Vec<String> = m
        .get_many::<String>("files")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let opts = Options {
        eval: m.get_flag("eval") || m.get_flag("eval-only"),
        dry_run: m.get_flag("dry-run"),
        add_root: m.get_one::<String>("add-root").map(|r| cwd.join(r)),
        store: m.get_one::<String>("store").cloned(),
        parse: m.get_flag("parse"),
        strict: m.get_flag("strict"),
        expr: m.get_flag("expr"),
        attrs: m
            .get_many::<String>("attr")
            .map(|v| v.cloned().collect())
            .unwrap_or_default(),
        args: pairs(&m, "arg"),
        argstrs: pairs(&m, "argstr"),
        xml: m.get_flag("xml"),
        location: !m.get_flag("no-location"),
        json: m.get_flag("json"),
    };
    // Evaluation recurses while printing and compiling: give it room.
    let find_file = m.get_flag("find-file");
    let handle = std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || {
            let ev = Evaluator::new(config);
            if find_file {
                return find_files(&ev, &files);
            }
            main_eval(&ev, &opts, &files, &cwd)
        })
        .map_err(CliError::failed)?;
    handle.join().unwrap_or_else(|_| {
        Err(CliError::Failed(
            "internal error: the evaluator thread panicked".into(),
        ))
    })
}

/// The store directory as C++ Nix takes it from the environment:
/// `$NIX_STORE_DIR`, else `$NIX_STORE`, normalised; it must be absolute.
fn store_dir_from_env() -> Result<Option<String>, CliError> {
    let Some(dir) = std::env::var_os("NIX_STORE_DIR").or_else(|| std::env::var_os("NIX_STORE"))
    else {
        return Ok(None);
    };
    let dir = PathBuf::from(dir);
    if !dir.is_absolute() {
        return Err(CliError::Failed(format!(
            "not an absolute path: '{}'",
            dir.display()
        )));
    }
    let canon = crate::eval::compiler::canonicalise(&dir);
    Ok(Some(canon.display().to_string()))
}

fn pairs(m: &clap::ArgMatches, name: &str) -> Vec<(String, String)> {
    let v: Vec<String> = m
        .get_many::<String>(name)
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    v.chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect()
}

/// Makes a search path entry's path absolute against `cwd`.
fn absolute_entry(entry: &str, cwd: &Path) -> String {
    let (prefix, path) = match entry.split_once('=') {
        Some((p, rest)) => (Some(p), rest),
        None => (None, entry),
    };
    let abs = if path.starts_with('/') || path.contains("://") {
        path.to_owned()
    } else {
        cwd.join(path).display().to_string()
    };
    match prefix {
        Some(p) => format!("{p}={abs}"),
        None => abs,
    }
}

struct Options {
    eval: bool,
    dry_run: bool,
    add_root: Option<PathBuf>,
    store: Option<String>,
    parse: bool,
    strict: bool,
    expr: bool,
    attrs: Vec<String>,
    args: Vec<(String, String)>,
    argstrs: Vec<(String, String)>,
    xml: bool,
    location: bool,
    json: bool,
}

/// `--show-trace`: errors are reported with their trace.
static SHOW_TRACE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn eval_error(e: EvalError) -> CliError {
    match e.kind {
        ErrorKind::Usage(msg) => CliError::Usage(msg),
        _ if SHOW_TRACE.load(std::sync::atomic::Ordering::Relaxed) => {
            CliError::Failed(e.render_with_trace())
        }
        _ => CliError::Failed(e.render()),
    }
}

fn find_files(ev: &Evaluator, names: &[String]) -> Result<(), CliError> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // `__findFile __nixPath name`, called directly (no source text).
    let global = |name: &str| ev.globals.get(name).cloned().unwrap_or(Value::Null);
    for n in names {
        let lookup = ev
            .call(global("__findFile"), global("__nixPath"))
            .map_err(eval_error)?;
        let v = ev
            .call(lookup, Value::string(n.as_str()))
            .map_err(eval_error)?;
        writeln!(out, "{}", print::print(&v)).map_err(CliError::failed)?;
    }
    Ok(())
}

fn main_eval(ev: &Evaluator, o: &Options, files: &[String], cwd: &Path) -> Result<(), CliError> {
    let inputs: Vec<String> = if files.is_empty() && !o.expr {
        vec!["./default.nix".into()]
    } else {
        files.to_vec()
    };
    let stdout = std::io::stdout();
    let mut roots = 0;
    for input in inputs {
        let (name, dir, text) = if o.expr {
            ("«string»".to_owned(), cwd.to_owned(), input.clone())
        } else if input == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(CliError::failed)?;
            ("«stdin»".to_owned(), cwd.to_owned(), text)
        } else {
            let mut path = cwd.join(&input);
            if path.is_dir() {
                path.push("default.nix");
            }
            let text = std::fs::read_to_string(&path).map_err(|e| {
                CliError::Failed(format!(
                    "getting status of '{}': {}",
                    path.display(),
                    crate::os_error::message(&e)
                ))
            })?;
            let dir = path.parent().unwrap_or(Path::new("/")).to_owned();
            (path.display().to_string(), dir, text)
        };
        if o.parse {
            let shown = ev.parse_and_show(&name, &dir, text).map_err(eval_error)?;
            let mut out = stdout.lock();
            writeln!(out, "{shown}").map_err(CliError::failed)?;
            continue;
        }
        let mut v = ev.eval_source(&name, &dir, text).map_err(eval_error)?;
        v = auto_call(ev, v, o, cwd)?;
        for path in &o.attrs {
            v = select_path(ev, v, path)?;
            v = auto_call(ev, v, o, cwd)?;
        }
        if !o.eval {
            instantiate(ev, v, o, &mut roots)?;
            continue;
        }
        if o.strict {
            ev.deep_force(v.clone()).map_err(eval_error)?;
        }
        if o.json {
            // C++ Nix 2.8 writes no newline after the JSON.
            let json = ev.to_json(v).map_err(eval_error)?;
            stdout.lock().write_all(&json).map_err(CliError::failed)?;
            continue;
        }
        if o.xml {
            let xml = ev.to_xml(v, o.strict, o.location).map_err(eval_error)?;
            stdout.lock().write_all(&xml).map_err(CliError::failed)?;
            continue;
        }
        let mut out = stdout.lock();
        out.write_all(&print::print_bytes(&v))
            .map_err(CliError::failed)?;
        out.write_all(b"\n").map_err(CliError::failed)?;
    }
    Ok(())
}

/// Plain `nix-instantiate`: the derivations `v` stands for (C++ Nix's
/// `getDerivations`), their store objects written, their `.drv` paths
/// printed (or the roots made for them).
fn instantiate(ev: &Evaluator, v: Value, o: &Options, roots: &mut usize) -> Result<(), CliError> {
    let mut found = Vec::new();
    collect_derivations(ev, v, &mut found, true)?;
    let mut printed = Vec::new();
    for d in found {
        let Value::Attrs(a) = &d else { continue };
        let get = |k: &str| a.get(&NixString::from(k)).cloned();
        let drv_path = match get("drvPath") {
            Some(p) => ev.force(p).map_err(eval_error)?,
            None => {
                return Err(CliError::Failed(
                    "derivation lacks a 'drvPath' attribute".into(),
                ))
            }
        };
        let Value::String(drv_path) = drv_path else {
            return Err(eval_error(EvalError::new(
                ErrorKind::type_error("a string", &drv_path),
                None,
            )));
        };
        let output = match get("outputName") {
            Some(n) => match ev.force(n).map_err(eval_error)? {
                Value::String(s) => s.to_str_lossy().into_owned(),
                other => {
                    return Err(eval_error(EvalError::new(
                        ErrorKind::type_error("a string", &other),
                        None,
                    )))
                }
            },
            None => String::new(),
        };
        printed.push((drv_path.to_str_lossy().into_owned(), output));
    }
    if !o.dry_run {
        write_additions(ev, o)?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if o.add_root.is_none() {
        eprintln!(
            "warning: you did not specify '--add-root'; the result might be removed by the garbage collector"
        );
    }
    for (path, output) in printed {
        let shown = match &o.add_root {
            Some(root) if !o.dry_run => {
                *roots += 1;
                let link = if *roots == 1 {
                    root.clone()
                } else {
                    PathBuf::from(format!("{}-{}", root.display(), roots))
                };
                make_root(&link, Path::new(&path))?;
                link.display().to_string()
            }
            _ => path,
        };
        let suffix = if output.is_empty() || output == "out" {
            String::new()
        } else {
            format!("!{output}")
        };
        writeln!(out, "{shown}{suffix}").map_err(CliError::failed)?;
    }
    Ok(())
}

/// C++ Nix's `getDerivations`: a derivation; the derivations among a set's
/// attributes (recursing into sets with `recurseForDerivations = true`);
/// the derivations among a list's elements.
fn collect_derivations(
    ev: &Evaluator,
    v: Value,
    found: &mut Vec<Value>,
    top: bool,
) -> Result<(), CliError> {
    let v = ev.force(v).map_err(eval_error)?;
    if is_derivation(ev, &v)? {
        found.push(v);
        return Ok(());
    }
    match &v {
        Value::Attrs(a) => {
            for (_, item) in a.iter() {
                let item = ev.force(item.clone()).map_err(eval_error)?;
                if is_derivation(ev, &item)? {
                    found.push(item);
                } else if let Value::Attrs(inner) = &item {
                    if let Some(r) = inner.get(&NixString::from("recurseForDerivations")) {
                        if matches!(ev.force(r.clone()).map_err(eval_error)?, Value::Bool(true)) {
                            collect_derivations(ev, item.clone(), found, false)?;
                        }
                    }
                }
            }
            Ok(())
        }
        Value::List(l) => {
            for item in l.iter() {
                let item = ev.force(item.clone()).map_err(eval_error)?;
                if is_derivation(ev, &item)? {
                    found.push(item);
                } else if matches!(item, Value::Attrs(_) | Value::List(_)) {
                    collect_derivations(ev, item, found, false)?;
                }
            }
            Ok(())
        }
        _ if top => Err(CliError::Failed(
            "expression does not evaluate to a derivation (or a set or list of those)".into(),
        )),
        _ => Ok(()),
    }
}

fn is_derivation(ev: &Evaluator, v: &Value) -> Result<bool, CliError> {
    let Value::Attrs(a) = v else { return Ok(false) };
    match a.get(&NixString::from("type")) {
        Some(t) => Ok(matches!(
            ev.force(t.clone()).map_err(eval_error)?,
            Value::String(s) if s.as_bytes() == b"derivation"
        )),
        None => Ok(false),
    }
}

/// Writes what evaluation added (sources, `toFile` texts, `.drv` files)
/// into the store, dependencies first.
fn write_additions(ev: &Evaluator, o: &Options) -> Result<(), CliError> {
    use crate::eval::instantiation::Addition;
    use crate::store::{Store, StoreAddress};
    let additions = ev.instantiation.take_additions();
    if additions.is_empty() {
        return Ok(());
    }
    let address = match &o.store {
        Some(a) => StoreAddress::parse(a),
        None => StoreAddress::from_env(&|k| std::env::var_os(k)),
    }
    .map_err(CliError::failed)?;
    let store_dir = ev.instantiation.store_dir.clone();
    let store = Store::open(&address, store_dir).map_err(CliError::failed)?;
    // Sources first (they refer to nothing), then every text in one batch.
    let mut texts = Vec::new();
    for a in additions {
        match a {
            Addition::Source { from, path } => {
                if store.is_valid(&path).map_err(CliError::failed)? {
                    continue;
                }
                let added = store
                    .add_path(
                        &from,
                        path.name(),
                        crate::store_path::IngestionMethod::Recursive,
                        crate::hash::HashAlgo::Sha256,
                    )
                    .map_err(CliError::failed)?;
                if added != path {
                    return Err(CliError::Failed(format!(
                        "'{}' changed while it was being copied to the store",
                        from.display()
                    )));
                }
            }
            Addition::Text {
                path,
                contents,
                references,
            } => texts.push((path, contents, references)),
            Addition::Nar { path, nar, ca } => {
                store.add_nar(&path, &nar, &ca).map_err(CliError::failed)?;
            }
        }
    }
    store.add_texts(&texts).map_err(CliError::failed)?;
    Ok(())
}

/// `--add-root`: `link` becomes a symlink to `target` (replacing a
/// symlink already there).
fn make_root(link: &Path, target: &Path) -> Result<(), CliError> {
    if let Ok(m) = std::fs::symlink_metadata(link) {
        if m.file_type().is_symlink() {
            std::fs::remove_file(link).map_err(CliError::failed)?;
        }
    }
    std::os::unix::fs::symlink(target, link).map_err(|e| {
        CliError::Failed(format!(
            "creating symlink '{}': {}",
            link.display(),
            crate::os_error::message(&e)
        ))
    })
}

/// Calls a function result with `--arg`/`--argstr` values, as C++ Nix's
/// auto-calling does for functions taking a set of named arguments.
/// Only with `--arg`/`--argstr`; a function without `...` gets just the
/// arguments it declares.
fn auto_call(ev: &Evaluator, v: Value, o: &Options, cwd: &Path) -> Result<Value, CliError> {
    if o.args.is_empty() && o.argstrs.is_empty() {
        return Ok(v);
    }
    let v = ev.force(v).map_err(eval_error)?;
    let (formals, ellipsis) = match &v {
        Value::Closure(c) => match &c.lambda.params {
            crate::eval::code::Params::Formals {
                formals, ellipsis, ..
            } => (
                formals.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
                *ellipsis,
            ),
            crate::eval::code::Params::Ident => return Ok(v),
        },
        _ => return Ok(v),
    };
    let wanted = |name: &str| ellipsis || formals.iter().any(|f| f.as_bytes() == name.as_bytes());
    let mut attrs = crate::eval::value::Attrs::new();
    for (name, expr) in &o.args {
        if wanted(name) {
            let arg = ev
                .eval_source("«string»", cwd, expr.clone())
                .map_err(eval_error)?;
            attrs.insert(NixString::from(name.as_str()), arg);
        }
    }
    for (name, s) in &o.argstrs {
        if wanted(name) {
            attrs.insert(NixString::from(name.as_str()), Value::string(s.as_str()));
        }
    }
    ev.call(v, Value::attrs(attrs)).map_err(eval_error)
}

/// `-A a.b.0.c`: attribute names and list indices.
fn select_path(ev: &Evaluator, mut v: Value, path: &str) -> Result<Value, CliError> {
    if path.is_empty() {
        return Ok(v);
    }
    for part in path.split('.') {
        v = ev.force(v).map_err(eval_error)?;
        v = match (&v, part.parse::<usize>()) {
            (Value::List(l), Ok(i)) => l.get(i).cloned().ok_or_else(|| {
                CliError::Failed(format!(
                    "list index {i} in selection path '{path}' is out of range"
                ))
            })?,
            (Value::Attrs(a), _) => a.get(&NixString::from(part)).cloned().ok_or_else(|| {
                CliError::Failed(format!(
                    "attribute '{part}' in selection path '{path}' not found"
                ))
            })?,
            (other, _) => {
                return Err(CliError::Failed(format!(
                "the expression selected by the selection path '{path}' should be a set but is {}",
                other.type_name()
            )))
            }
        };
    }
    Ok(v)
}
