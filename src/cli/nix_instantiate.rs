//! `nix-instantiate`: instantiate derivations (evaluate, write the `.drv`
//! files and sources into oxnix's store, print the `.drv` paths), `--eval`
//! (evaluate and print), `--find-file`, and `--parse` (print the expression
//! in C++ Nix's normal form).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command};

use super::eval_store::StoreIo;
use super::legacy_args::{self, AutoArg};
use super::CliError;
use crate::eval::attr_path::AutoArgs;
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

/// The clap definition of `nix-instantiate` (help, man page, completions;
/// the command line itself is read by [`super::legacy_args`]).
pub fn command() -> Command {
    let flag = |name: &'static str, help: &'static str| {
        Arg::new(name)
            .long(name)
            .action(ArgAction::SetTrue)
            .help(help)
    };
    let cmd = Command::new("nix-instantiate")
        .about("Instantiate store derivations from Nix expressions, or evaluate them (--eval)")
        .disable_version_flag(true)
        .arg(flag("version", "Print the version (C++ Nix's line, then oxnix's)"))
        .arg(flag(
            "eval",
            "Evaluate and print the result instead of instantiating",
        ))
        .arg(flag("eval-only", "Old name of --eval").hide(true))
        .arg(flag("parse", "Parse the input only and print it in normal form"))
        .arg(flag("parse-only", "Old name of --parse").hide(true))
        .arg(flag(
            "strict",
            "Evaluate the result completely (with --eval)",
        ))
        .arg(flag("json", "Print the result as JSON (the last of --json and --xml counts)"))
        .arg(flag("xml", "Print the result as XML (the last of --json and --xml counts)"))
        .arg(flag("no-location", "Omit locations in XML output"))
        .arg(
            Arg::new("add-root")
                .long("add-root")
                .value_name("PATH")
                .value_hint(clap::ValueHint::AnyPath)
                .help("Make PATH a symlink to each .drv (PATH, PATH-2, …) and print it"),
        )
        .arg(flag("indirect", "Accepted for compatibility (roots are symlinks)"))
        .arg(flag(
            "dry-run",
            "Evaluate and print the .drv paths without writing to the store",
        ))
        .arg(flag("repair", "Accepted for compatibility"))
        .arg(flag("find-file", "Look the arguments up in the search path"))
        .arg(flag(
            "read-write-mode",
            "Allow writing to the store during evaluation",
        ))
        .arg(flag(
            "trace-verbose",
            "Make builtins.traceVerbose print its message (newer Nix)",
        ))
        .arg(lint(
            "lint-short-path-literals",
            "Report relative path literals without ./ (warn or fatal; newer Nix)",
        ))
        .arg(lint(
            "lint-absolute-path-literals",
            "Report absolute and ~/ path literals (warn or fatal; newer Nix)",
        ))
        .arg(lint(
            "lint-url-literals",
            "Report URL literals (warn or fatal; newer Nix)",
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
                .help("Select an attribute of the result (a.b.0.c, x.\"a.b\"); repeatable, each printed"),
        )
        .arg(
            Arg::new("files")
                .value_name("FILE")
                .num_args(0..)
                .value_hint(clap::ValueHint::AnyPath)
                .help("Files, directories or <name>s in the search path (with -E, expressions); '-' reads standard input"),
        );
    legacy_args::add_common(cmd, true)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    Plain,
    Xml,
    Json,
}

/// What `nix-instantiate`'s own flags set.
struct Options {
    files: Vec<String>,
    read_stdin: bool,
    from_args: bool,
    find_file: bool,
    eval: bool,
    parse: bool,
    output: Output,
    location: bool,
    strict: bool,
    attrs: Vec<String>,
    add_root: Option<PathBuf>,
    dry_run: bool,
    read_write: bool,
    trace_verbose: bool,
    lints: Lints,
    gc_warning: bool,
}

fn lint_level(flag: &str, v: &str) -> Result<LintLevel, CliError> {
    match v {
        "warn" => Ok(LintLevel::Warn),
        "fatal" => Ok(LintLevel::Fatal),
        _ => Err(CliError::Usage(format!(
            "option '{flag}' has an invalid value '{v}' (expected 'warn' or 'fatal')"
        ))),
    }
}

/// Runs `nix-instantiate` with `args` (without the program name).
pub fn run(args: Vec<OsString>) -> Result<(), CliError> {
    let cwd = std::env::current_dir().map_err(CliError::failed)?;
    let mut o = Options {
        files: Vec::new(),
        read_stdin: false,
        from_args: false,
        find_file: false,
        eval: false,
        parse: false,
        output: Output::Plain,
        location: true,
        strict: false,
        attrs: Vec::new(),
        add_root: None,
        dry_run: false,
        read_write: false,
        trace_verbose: false,
        lints: Lints::default(),
        gc_warning: true,
    };
    let common = legacy_args::parse(args, true, |arg, w| {
        let a = arg.to_string_lossy();
        super::help_or_version(&a, "nix-instantiate", command)?;
        match a.as_ref() {
            "-" => o.read_stdin = true,
            "--expr" | "-E" => o.from_args = true,
            "--eval" | "--eval-only" => o.eval = true,
            "--read-write-mode" => o.read_write = true,
            "--parse" | "--parse-only" => {
                o.parse = true;
                o.eval = true;
            }
            "--find-file" => o.find_file = true,
            "--attr" | "-A" => o.attrs.push(w.value_str(&a)?),
            "--add-root" => o.add_root = Some(cwd.join(w.value(&a)?)),
            "--indirect" | "--repair" => {}
            "--xml" => o.output = Output::Xml,
            "--json" => o.output = Output::Json,
            "--no-location" => o.location = false,
            "--strict" => o.strict = true,
            "--dry-run" => o.dry_run = true,
            "--trace-verbose" => o.trace_verbose = true,
            "--lint-short-path-literals" => o.lints.short_path = lint_level(&a, &w.value_str(&a)?)?,
            "--lint-absolute-path-literals" => {
                o.lints.absolute_path = lint_level(&a, &w.value_str(&a)?)?
            }
            "--lint-url-literals" => o.lints.url = lint_level(&a, &w.value_str(&a)?)?,
            s if s.starts_with('-') => return Ok(false),
            // (`-E` expressions and file names alike.)
            s if arg.to_str().is_none() => {
                return Err(CliError::Failed(format!(
                    "not yet supported by oxnix: an argument that is not UTF-8 ('{s}')"
                )))
            }
            s => o.files.push(s.to_owned()),
        }
        Ok(true)
    })?;
    o.gc_warning = !common.no_gc_warning;
    let settings = &common.settings;
    SHOW_TRACE.store(
        settings.get_bool("show-trace"),
        std::sync::atomic::Ordering::Relaxed,
    );
    let search_path = common
        .include
        .iter()
        .cloned()
        .chain(settings.get_list("nix-path"))
        .collect();
    let config = EvalConfig {
        search_path,
        home: std::env::var_os("HOME").map(PathBuf::from),
        system: settings
            .get("system")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}-linux", std::env::consts::ARCH)),
        lints: o.lints,
        max_steps: None,
        store_dir: Some(super::store_env::store_dir()?.as_str().to_owned()),
        experimental_features: settings.get_list("experimental-features"),
        trace_verbose: o.trace_verbose,
        restrict_eval: settings.get_bool("restrict-eval"),
        pure_eval: settings.get_bool("pure-eval"),
        trace_function_calls: settings.get_bool("trace-function-calls"),
        import_from_derivation_disabled: settings.get("allow-import-from-derivation")
            == Some("false"),
        allowed_uris: settings.get_list("allowed-uris"),
    };
    let auto_args = common.auto_args();
    let store = common.store.clone();
    let address = super::store_env::any_address(store.as_deref())?;
    let store_dir = super::store_env::store_dir()?;
    // C++ Nix's read-only mode: evaluation computes store paths without
    // writing them.
    let read_write = (o.read_write || !o.eval) && !o.dry_run;
    // Evaluation recurses while printing and compiling: give it room.
    // The thread sends its result and then waits for the process to end
    // instead of ending itself: a thread that ends has mimalloc go
    // through every page of its heap (5% of the package benchmark's
    // time), which the process's end makes needless. What it held is
    // dropped before it sends (the store flushes as it always did).
    let (done, result) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || {
            let evaluate = move || {
                let io = std::rc::Rc::new(super::eval_store::StoreIo::new(store_dir, address));
                let ev = Evaluator::with_io(config, io.clone(), read_write);
                if !read_write {
                    // Nothing evaluation adds is written: keep none of it.
                    ev.instantiation.discard_additions();
                }
                if o.find_file {
                    return find_files(&ev, &o.files);
                }
                let mut args = Vec::new();
                for (name, a) in auto_args {
                    let v = match a {
                        AutoArg::Expr(e) => {
                            ev.lazy_source("«string»", &cwd, e).map_err(eval_error)?
                        }
                        AutoArg::Str(s) => Value::string(s),
                    };
                    args.push((NixString::from(name.as_str()), v));
                }
                main_eval(&ev, &o, &args, &io, &cwd)
            };
            let _ = done.send(evaluate());
            loop {
                std::thread::park();
            }
        })
        // Its stack cannot be mapped: out of (address) space.
        .map_err(|_| CliError::Failed("out of memory".into()))?;
    result.recv().unwrap_or_else(|_| {
        Err(CliError::Failed(
            "internal error: the evaluator thread panicked".into(),
        ))
    })
}

/// `--show-trace`: errors are reported with their trace.
static SHOW_TRACE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn eval_error(e: EvalError) -> CliError {
    match e.kind {
        ErrorKind::Usage(msg) => CliError::Usage(msg),
        // C++ Nix's exit status for a hash mismatch.
        ErrorKind::HashMismatch(_) => {
            super::print_error(&e.render());
            CliError::Exit(102)
        }
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

/// One input: its name in messages, the directory relative paths in it
/// are resolved against, and its text.
fn read_input(
    ev: &Evaluator,
    input: &str,
    cwd: &Path,
) -> Result<(String, PathBuf, String), CliError> {
    // `<name>`: looked up in the search path.
    let path = if input.len() > 2 && input.starts_with('<') && input.ends_with('>') {
        let name = &input[1..input.len() - 1];
        let global = |n: &str| ev.globals.get(n).cloned().unwrap_or(Value::Null);
        let lookup = ev
            .call(global("__findFile"), global("__nixPath"))
            .map_err(eval_error)?;
        match ev.call(lookup, Value::string(name)).map_err(eval_error)? {
            Value::Path(p) => p.as_ref().clone(),
            other => PathBuf::from(print::print(&other)),
        }
    } else if crate::eval::eval_io::is_uri(input) {
        // A tarball to download (its Nix file is read from the store).
        ev.fetch_file_arg(input)
            .map_err(|k| eval_error(EvalError::new(k, None)))?
    } else {
        cwd.join(input)
    };
    let path = crate::eval::paths::canonicalise(&path);
    // As C++ Nix: the search-path check, then symlinks followed (relative
    // paths in the file are taken from where it really is) and a
    // directory's `default.nix`.
    let path = ev
        .check_source_path(&path)
        .and_then(|p| ev.resolve_expr_path(&p))
        .map_err(|k| eval_error(EvalError::new(k, None)))?;
    // Through the evaluator's I/O: from disk, or from the store for a
    // store path not on disk (a download into oxnix's store).
    let bytes = crate::eval::eval_io::EvalIo::read_file(&ev.instantiation, &path).map_err(|e| {
        CliError::Failed(format!(
            "opening file '{}': {}",
            path.display(),
            crate::os_error::message(&e)
        ))
    })?;
    let text = crate::eval::source_text(&path.display().to_string(), bytes)
        .map_err(|k| eval_error(EvalError::new(k, None)))?;
    let dir = path.parent().unwrap_or(Path::new("/")).to_owned();
    Ok((path.display().to_string(), dir, text))
}

fn main_eval(
    ev: &Evaluator,
    o: &Options,
    args: &AutoArgs,
    io: &StoreIo,
    cwd: &Path,
) -> Result<(), CliError> {
    let mut roots = 0;
    let mut gc_warned = !o.gc_warning;
    let attrs: Vec<String> = if o.attrs.is_empty() {
        vec![String::new()]
    } else {
        o.attrs.clone()
    };
    let mut process = |name: String, dir: PathBuf, text: String| -> Result<(), CliError> {
        process_expr(
            ev,
            o,
            args,
            &attrs,
            (name, dir, text),
            &mut roots,
            &mut gc_warned,
            io,
        )
    };
    if o.read_stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(CliError::failed)?;
        let text = crate::eval::source_text("«stdin»", bytes)
            .map_err(|k| eval_error(EvalError::new(k, None)))?;
        process("«stdin»".to_owned(), cwd.to_owned(), text)?;
    }
    let files: Vec<String> = if o.files.is_empty() && !o.from_args && !o.read_stdin {
        vec!["./default.nix".into()]
    } else {
        o.files.clone()
    };
    for input in files {
        let (name, dir, text) = if o.from_args {
            ("«string»".to_owned(), cwd.to_owned(), input)
        } else {
            read_input(ev, &input, cwd)?
        };
        process(name, dir, text)?;
    }
    if o.eval && o.read_write {
        // What read-write evaluation added (C++ Nix writes it at once).
        write_additions(ev)?;
    }
    Ok(())
}

/// C++ Nix's `processExpr`: parse (and print with `--parse`), evaluate,
/// then for each selection path: select, force, and print (`--eval`) or
/// instantiate the derivations found.
#[allow(clippy::too_many_arguments)]
fn process_expr(
    ev: &Evaluator,
    o: &Options,
    args: &AutoArgs,
    attrs: &[String],
    (name, dir, text): (String, PathBuf, String),
    roots: &mut usize,
    gc_warned: &mut bool,
    io: &StoreIo,
) -> Result<(), CliError> {
    let stdout = std::io::stdout();
    if o.parse {
        let shown = ev.parse_and_show(&name, &dir, text).map_err(eval_error)?;
        writeln!(stdout.lock(), "{shown}").map_err(CliError::failed)?;
        return Ok(());
    }
    let root = ev.eval_source(&name, &dir, text).map_err(eval_error)?;
    for path in attrs {
        let v = ev
            .find_along_attr_path(path, args, root.clone())
            .map_err(eval_error)?;
        let v = ev.force(v).map_err(eval_error)?;
        if !o.eval {
            instantiate(ev, v, o, args, roots, gc_warned, io)?;
            continue;
        }
        let v = if args.is_empty() {
            v
        } else {
            ev.auto_call(v, args).map_err(eval_error)?
        };
        match o.output {
            Output::Xml => {
                let xml = ev.to_xml(v, o.strict, o.location).map_err(eval_error)?;
                stdout.lock().write_all(&xml).map_err(CliError::failed)?;
            }
            Output::Json => {
                if o.strict {
                    ev.deep_force(v.clone()).map_err(eval_error)?;
                }
                // C++ Nix 2.8 writes no newline after the JSON.
                let json = ev.to_json(v).map_err(eval_error)?;
                stdout.lock().write_all(&json).map_err(CliError::failed)?;
            }
            Output::Plain => {
                if o.strict {
                    ev.deep_force(v.clone()).map_err(eval_error)?;
                }
                let mut out = stdout.lock();
                out.write_all(&print::print_bytes(&v))
                    .map_err(CliError::failed)?;
                out.write_all(b"\n").map_err(CliError::failed)?;
            }
        }
    }
    Ok(())
}

/// Plain `nix-instantiate`: the derivations `v` stands for, their store
/// objects written, their `.drv` paths printed (or the roots made for
/// them).
fn instantiate(
    ev: &Evaluator,
    v: Value,
    o: &Options,
    args: &AutoArgs,
    roots: &mut usize,
    gc_warned: &mut bool,
    io: &StoreIo,
) -> Result<(), CliError> {
    let found = ev.get_derivations(v, args).map_err(eval_error)?;
    let mut printed = Vec::new();
    for d in found {
        let Value::Attrs(a) = &d else { continue };
        let get = |k: &str| a.get(&NixString::from(k)).cloned();
        let drv_path = match get("drvPath") {
            Some(p) => match ev.force(p).map_err(eval_error)? {
                Value::String(s) => s.to_str_lossy().into_owned(),
                Value::Path(p) => p.display().to_string(),
                other => {
                    return Err(eval_error(EvalError::new(
                        ErrorKind::cannot_coerce(&other),
                        None,
                    )))
                }
            },
            None => String::new(),
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
        if output.is_empty() {
            return Err(CliError::Failed(format!(
                "derivation '{drv_path}' lacks an 'outputName' attribute "
            )));
        }
        printed.push((drv_path, output));
    }
    if !o.dry_run {
        write_additions(ev)?;
    }
    let stdout = std::io::stdout();
    for (path, output) in printed {
        let shown = match &o.add_root {
            None => {
                if !*gc_warned {
                    *gc_warned = true;
                    super::print_warning(
                        "you did not specify '--add-root'; the result might be removed by the garbage collector",
                    );
                }
                path
            }
            Some(root) => {
                *roots += 1;
                let link = if *roots == 1 {
                    root.clone()
                } else {
                    PathBuf::from(format!("{}-{}", root.display(), roots))
                };
                if !o.dry_run {
                    make_symlink(&link, Path::new(&path))?;
                    let store = io.store().map_err(CliError::failed)?;
                    store
                        .add_indirect_root(&absolute_path(&link), io.address())
                        .map_err(CliError::failed)?;
                }
                link.display().to_string()
            }
        };
        let suffix = if output == "out" {
            String::new()
        } else {
            format!("!{output}")
        };
        writeln!(stdout.lock(), "{shown}{suffix}").map_err(CliError::failed)?;
    }
    Ok(())
}

/// Writes what evaluation added (sources, `toFile` texts, `.drv` files)
/// into the store, dependencies first.
fn write_additions(ev: &Evaluator) -> Result<(), CliError> {
    ev.instantiation
        .flush()
        .map_err(|e| CliError::Failed(e.to_string()))
}

/// `link` becomes a symlink to `target` (replacing a symlink there).
pub(super) fn make_symlink(link: &Path, target: &Path) -> Result<(), CliError> {
    let link = &absolute_path(link);
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            CliError::Failed(format!(
                "creating directory '{}': {}",
                parent.display(),
                crate::os_error::message(&e)
            ))
        })?;
    }
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

fn absolute_path(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}
