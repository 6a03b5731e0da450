//! C++ Nix's command-line grammar for the legacy commands (`nix-store`,
//! `nix-instantiate`, `nix-hash`), which clap cannot express: arguments are
//! handled strictly in order, compound short flags are split (`-qR` is
//! `-q -R`, `-j3` is `-j 3`), every flag may be repeated, a flag's values
//! are the next words whatever they look like, and the command sees its
//! own flags and its operands through one callback (as C++ Nix's
//! `LegacyArgs`). The options every command shares (verbosity, `--option`,
//! the build settings, `--store`; for evaluating commands `--arg`,
//! `--argstr`, `-I`) and the `--NAME`/`--no-NAME`/`--extra-NAME` forms of
//! every setting are handled here. The clap definitions stay the source of
//! help texts, man pages and completions; [`COMMON`] is added to them.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use clap::{Arg, ArgAction, Command};

use super::settings::{self, ConfError, Kind, Settings};
use super::{print_warning, CliError};

/// An argument given to a function result (`--arg`, `--argstr`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AutoArg {
    /// `--arg NAME EXPR`: a Nix expression.
    Expr(String),
    /// `--argstr NAME STRING`: a string.
    Str(String),
}

/// What the shared options set.
#[derive(Debug, Default)]
pub struct Common {
    pub settings: Settings,
    /// `--store URI`.
    pub store: Option<String>,
    /// `--arg`/`--argstr`, in order (a later one of the same name wins).
    pub auto_args: Vec<(String, AutoArg)>,
    /// `-I`/`--include` entries, in order.
    pub include: Vec<String>,
    /// `-v` raises, `--quiet` lowers (C++ Nix's default level is 0 here).
    pub verbosity: i32,
    /// `--no-gc-warning`: no warning about a missing `--add-root`.
    pub no_gc_warning: bool,
}

impl Common {
    /// `--arg`/`--argstr` with the last of each name kept, sorted by
    /// name (C++ Nix builds a sorted set of them).
    pub fn auto_args(&self) -> Vec<(String, AutoArg)> {
        let mut map = std::collections::BTreeMap::new();
        for (n, a) in &self.auto_args {
            map.insert(n.clone(), a.clone());
        }
        map.into_iter().collect()
    }
}

/// Which shared option a flag is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shared {
    Verbose,
    Quiet,
    Debug,
    LogFormat,
    Option,
    MaxJobs,
    Ignored,
    NoGcWarning,
    UnitInt(&'static str),
    Store,
    Arg,
    ArgStr,
    Include,
    EvalIgnored,
}

/// A shared option: long name, short name, number of values, meaning,
/// help text.
struct Spec {
    long: &'static str,
    short: Option<char>,
    values: &'static [&'static str],
    what: Shared,
    help: &'static str,
}

/// The options of C++ Nix's `MixCommonArgs` and `LegacyArgs`.
const COMMON: &[Spec] = &[
    Spec {
        long: "verbose",
        short: Some('v'),
        values: &[],
        what: Shared::Verbose,
        help: "Increase the logging verbosity level",
    },
    Spec {
        long: "quiet",
        short: None,
        values: &[],
        what: Shared::Quiet,
        help: "Decrease the logging verbosity level",
    },
    Spec {
        long: "debug",
        short: None,
        values: &[],
        what: Shared::Debug,
        help: "Set the logging verbosity level to 'debug'",
    },
    Spec {
        long: "log-format",
        short: None,
        values: &["FORMAT"],
        what: Shared::LogFormat,
        help: "Format of log output: raw, internal-json, bar or bar-with-logs",
    },
    Spec {
        long: "option",
        short: None,
        values: &["NAME", "VALUE"],
        what: Shared::Option,
        help: "Set the Nix configuration setting NAME to VALUE (overriding nix.conf)",
    },
    Spec {
        long: "max-jobs",
        short: Some('j'),
        values: &["JOBS"],
        what: Shared::MaxJobs,
        help: "Maximum number of parallel builds (accepted; oxnix does not build)",
    },
    Spec {
        long: "no-build-output",
        short: Some('Q'),
        values: &[],
        what: Shared::Ignored,
        help: "Do not show build output (accepted; oxnix does not build)",
    },
    Spec {
        long: "keep-failed",
        short: Some('K'),
        values: &[],
        what: Shared::Ignored,
        help: "Keep temporary directories of failed builds (accepted; oxnix does not build)",
    },
    Spec {
        long: "keep-going",
        short: Some('k'),
        values: &[],
        what: Shared::Ignored,
        help: "Keep going after a build fails (accepted; oxnix does not build)",
    },
    Spec {
        long: "fallback",
        short: None,
        values: &[],
        what: Shared::Ignored,
        help: "Build from source if substitution fails (accepted; oxnix does not build)",
    },
    Spec {
        long: "cores",
        short: None,
        values: &["N"],
        what: Shared::UnitInt("cores"),
        help: "Cores a builder may use (accepted; oxnix does not build)",
    },
    Spec {
        long: "max-silent-time",
        short: None,
        values: &["SECONDS"],
        what: Shared::UnitInt("max-silent-time"),
        help: "Build silence limit (accepted; oxnix does not build)",
    },
    Spec {
        long: "timeout",
        short: None,
        values: &["SECONDS"],
        what: Shared::UnitInt("timeout"),
        help: "Build time limit (accepted; oxnix does not build)",
    },
    Spec {
        long: "readonly-mode",
        short: None,
        values: &[],
        what: Shared::Ignored,
        help: "Do not write to the store (accepted)",
    },
    Spec {
        long: "no-gc-warning",
        short: None,
        values: &[],
        what: Shared::NoGcWarning,
        help: "Disable the warning about a missing --add-root",
    },
    Spec {
        long: "store",
        short: None,
        values: &["URI"],
        what: Shared::Store,
        help: super::store_env::NIX_STORE_HELP,
    },
];

/// The options of C++ Nix's `MixEvalArgs` (evaluating commands only).
const EVAL: &[Spec] = &[
    Spec { long: "arg", short: None, values: &["NAME", "EXPR"], what: Shared::Arg, help: "Pass NAME = EXPR to a function result" },
    Spec { long: "argstr", short: None, values: &["NAME", "STRING"], what: Shared::ArgStr, help: "Pass NAME = STRING to a function result" },
    Spec { long: "include", short: Some('I'), values: &["PATH"], what: Shared::Include, help: "Add a search path entry (NAME=PATH or PATH) before those of the nix-path setting and $NIX_PATH" },
    Spec { long: "impure", short: None, values: &[], what: Shared::EvalIgnored, help: "Allow access to mutable paths (the default for these commands)" },
    Spec { long: "override-flake", short: None, values: &["ORIGINAL", "RESOLVED"], what: Shared::EvalIgnored, help: "Override a flake registry entry (accepted; unused here)" },
    Spec { long: "eval-store", short: None, values: &["URI"], what: Shared::EvalIgnored, help: "The store for evaluation results (accepted; unused here)" },
];

const COMMON_HEADING: &str = "Common options";

/// Adds the shared options (and with `eval`, the evaluation options) to a
/// command's clap definition, for help, man pages and completions.
pub fn add_common(mut cmd: Command, eval: bool) -> Command {
    let specs = COMMON.iter().chain(if eval { EVAL } else { &[] });
    for s in specs {
        let mut a = Arg::new(s.long)
            .long(s.long)
            .help(s.help)
            .help_heading(COMMON_HEADING);
        if let Some(c) = s.short {
            a = a.short(c);
        }
        a = match s.values.len() {
            0 => a.action(ArgAction::Count),
            n => a
                .num_args(n)
                .value_names(s.values.iter().copied())
                .action(ArgAction::Append),
        };
        cmd = cmd.arg(a);
    }
    cmd.after_help(
        "Any setting of nix.conf can also be given as --NAME VALUE, a Boolean one as --NAME or \
         --no-NAME, and a list one extended with --extra-NAME VALUE.",
    )
}

/// The words still to be read, for a command's callback to take a flag's
/// value from (`getArg` in C++ Nix).
pub struct Words {
    rest: VecDeque<OsString>,
}

impl Words {
    /// The value of `flag`: the next word, whatever it is.
    pub fn value(&mut self, flag: &str) -> Result<OsString, CliError> {
        self.rest
            .pop_front()
            .ok_or_else(|| CliError::Usage(format!("'{flag}' requires an argument")))
    }

    /// [`Words::value`] as text.
    pub fn value_str(&mut self, flag: &str) -> Result<String, CliError> {
        Ok(self.value(flag)?.to_string_lossy().into_owned())
    }
}

/// Reads the configuration (nix.conf files, `NIX_CONFIG`), then `args` in
/// order: shared options are applied to the result, anything else goes to
/// `on_arg` (with `Words` to take values from), which answers whether it
/// knew the word. An unknown flag is C++ Nix's `unrecognised flag`, an
/// operand `on_arg` refuses is `unexpected argument`.
pub fn parse(
    args: Vec<OsString>,
    eval: bool,
    mut on_arg: impl FnMut(&OsStr, &mut Words) -> Result<bool, CliError>,
) -> Result<Common, CliError> {
    let env = |k: &str| std::env::var(k).ok();
    let mut common = Common {
        settings: load_settings(&env)?,
        ..Common::default()
    };
    let mut words = Words { rest: args.into() };
    let mut dash_dash = false;
    let mut args_seen = false;
    while let Some(mut arg) = words.rest.pop_front() {
        let b = arg.as_bytes();
        // `-abc` is `-a -b -c`; `-j3` is `-j 3`.
        if !dash_dash && b.len() > 2 && b[0] == b'-' && b[1] != b'-' && b[1].is_ascii_alphabetic() {
            let mut expanded = vec![OsString::from(format!("-{}", b[1] as char))];
            for (j, &c) in b.iter().enumerate().skip(2) {
                if c.is_ascii_alphabetic() {
                    expanded.push(OsString::from(format!("-{}", c as char)));
                } else {
                    expanded.push(OsStr::from_bytes(&b[j..]).to_owned());
                    break;
                }
            }
            for e in expanded.into_iter().rev() {
                words.rest.push_front(e);
            }
            arg = words.rest.pop_front().unwrap_or_default();
        }
        let b = arg.as_bytes();
        if !dash_dash && b == b"--" {
            dash_dash = true;
            continue;
        }
        if !dash_dash && b.first() == Some(&b'-') {
            let text = arg.to_string_lossy().into_owned();
            if shared_flag(&text, eval, &mut words, &mut common)? {
                continue;
            }
            if !on_arg(&arg, &mut words)? {
                return Err(CliError::Usage(format!("unrecognised flag '{text}'")));
            }
            continue;
        }
        if !args_seen {
            args_seen = true;
            warn_all(&mut common.settings);
        }
        if !on_arg(&arg, &mut words)? {
            return Err(CliError::Usage(format!(
                "unexpected argument '{}'",
                arg.to_string_lossy()
            )));
        }
    }
    if args_seen {
        common.settings.forget_unknown();
    }
    warn_all(&mut common.settings);
    Ok(common)
}

fn warn_all(settings: &mut Settings) {
    for w in settings.take_warnings() {
        print_warning(&w);
    }
}

/// The configuration files' and `NIX_CONFIG`'s settings, with `nix-path`
/// defaulting to `$NIX_PATH`.
pub fn load_settings(env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, CliError> {
    Settings::load(env).map_err(|e| match e {
        ConfError::Usage(m) => CliError::Usage(m),
        ConfError::Failed(m) => CliError::Failed(m),
    })
}

/// Handles `flag` if it is a shared option or a setting's flag; its values
/// are taken from `words`.
fn shared_flag(
    flag: &str,
    eval: bool,
    words: &mut Words,
    common: &mut Common,
) -> Result<bool, CliError> {
    let spec = COMMON
        .iter()
        .chain(if eval { EVAL } else { &[] })
        .find(|s| match flag.strip_prefix("--") {
            Some(long) => s.long == long,
            None => {
                let mut cs = flag.chars();
                cs.next() == Some('-')
                    && s.short.is_some()
                    && cs.next() == s.short
                    && cs.next().is_none()
            }
        });
    if let Some(spec) = spec {
        let mut vals = Vec::with_capacity(spec.values.len());
        for _ in spec.values {
            match words.rest.pop_front() {
                Some(v) => vals.push(v.to_string_lossy().into_owned()),
                None => {
                    return Err(CliError::Usage(format!(
                        "flag '{flag}' requires {} argument(s)",
                        spec.values.len()
                    )))
                }
            }
        }
        apply_shared(spec.what, vals, common)?;
        return Ok(true);
    }
    let Some(long) = flag.strip_prefix("--") else {
        return Ok(false);
    };
    // `--NAME`, `--no-NAME` (Boolean), `--extra-NAME` (lists).
    let (name, kind, negated, append) = if let Some(k) = settings::kind_of(long) {
        (long, k, false, false)
    } else if let Some((n, k)) = long
        .strip_prefix("no-")
        .and_then(|n| settings::kind_of(n).map(|k| (n, k)))
        .filter(|(_, k)| *k == Kind::Bool)
    {
        (n, k, true, false)
    } else if let Some((n, k)) = long
        .strip_prefix("extra-")
        .and_then(|n| settings::kind_of(n).map(|k| (n, k)))
        .filter(|(_, k)| *k == Kind::List)
    {
        (n, k, false, true)
    } else {
        return Ok(false);
    };
    let value = if kind == Kind::Bool {
        if negated { "false" } else { "true" }.to_owned()
    } else {
        match words.rest.pop_front() {
            Some(v) => v.to_string_lossy().into_owned(),
            None => {
                return Err(CliError::Usage(format!(
                    "flag '{flag}' requires 1 argument(s)"
                )))
            }
        }
    };
    common
        .settings
        .set(name, &value, append)
        .map_err(CliError::Usage)?;
    Ok(true)
}

fn apply_shared(what: Shared, vals: Vec<String>, common: &mut Common) -> Result<(), CliError> {
    let mut vals = vals.into_iter();
    let mut next = || vals.next().unwrap_or_default();
    match what {
        // C++ Nix: -v raises the level, --quiet lowers it down to
        // `error`, --debug sets `debug`.
        Shared::Verbose => {
            common.verbosity += 1;
            crate::log::set_verbosity(crate::log::verbosity() + 1);
        }
        Shared::Quiet => {
            common.verbosity -= 1;
            crate::log::set_verbosity(crate::log::verbosity().saturating_sub(1));
        }
        Shared::Debug => {
            common.verbosity = 5;
            crate::log::set_verbosity(5);
        }
        Shared::LogFormat => {
            let f = next();
            if !matches!(
                f.as_str(),
                "raw" | "raw-with-logs" | "internal-json" | "bar" | "bar-with-logs"
            ) {
                return Err(CliError::Failed(format!(
                    "option 'log-format' has an invalid value '{f}'"
                )));
            }
            crate::log::set_internal_json(f == "internal-json");
        }
        Shared::Option => {
            let (name, value) = (next(), next());
            if let Err(m) = common.settings.set(&name, &value, false) {
                print_warning(&format!("error: {m}"));
            }
        }
        Shared::MaxJobs => {
            let v = next();
            common
                .settings
                .set("max-jobs", &v, false)
                .map_err(CliError::Usage)?;
        }
        Shared::UnitInt(name) => {
            let v = next();
            let n = int_with_unit(&v).map_err(CliError::Usage)?;
            let _ = common.settings.set(name, &n.to_string(), false);
        }
        Shared::Store => common.store = Some(next()),
        Shared::Arg => {
            let (n, e) = (next(), next());
            common.auto_args.push((n, AutoArg::Expr(e)));
        }
        Shared::ArgStr => {
            let (n, s) = (next(), next());
            common.auto_args.push((n, AutoArg::Str(s)));
        }
        Shared::Include => common.include.push(next()),
        Shared::NoGcWarning => common.no_gc_warning = true,
        Shared::Ignored | Shared::EvalIgnored => {}
    }
    Ok(())
}

/// C++ Nix's integers with an optional unit suffix (`K`, `M`, `G`, `T`:
/// powers of 1024), as `--cores 2`, `--timeout 1K` take them.
fn int_with_unit(s: &str) -> Result<u64, String> {
    let mut num = s;
    let mut factor: u64 = 1;
    if let Some(last) = s.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let unit = last.to_ascii_uppercase();
        factor = match unit {
            'K' => 1 << 10,
            'M' => 1 << 20,
            'G' => 1 << 30,
            'T' => 1 << 40,
            _ => return Err(format!("invalid unit specifier '{unit}'")),
        };
        num = &s[..s.len() - 1];
    }
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("'{num}' is not an integer"))
}

/// Every long flag a command's clap definition documents, with as many
/// placeholder values as it takes (for the test that each is accepted by
/// the command's parser).
pub fn documented_flags(cmd: &Command) -> Vec<(String, usize)> {
    cmd.get_arguments()
        .filter_map(|a| {
            let values = match a.get_action() {
                ArgAction::SetTrue | ArgAction::Count => 0,
                _ => a.get_num_args().map_or(1, |r| r.max_values()),
            };
            a.get_long().map(|l| (format!("--{l}"), values))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn run(v: &[&str], eval: bool) -> Result<(Common, Vec<String>), CliError> {
        let mut seen = Vec::new();
        let c = parse(words(v), eval, |a, w| {
            let a = a.to_string_lossy().into_owned();
            match a.as_str() {
                "-A" | "--attr" => {
                    let v = w.value_str(&a)?;
                    seen.push(format!("A={v}"));
                }
                "-q" | "-R" | "-" => seen.push(a),
                _ if a.starts_with('-') => return Ok(false),
                _ => seen.push(a),
            }
            Ok(true)
        })?;
        Ok((c, seen))
    }

    #[test]
    fn compound_flags_split() {
        let (c, seen) = run(&["-qR", "-vvv", "-j3", "x"], false).unwrap();
        assert_eq!(seen, vec!["-q", "-R", "x"]);
        assert_eq!(c.verbosity, 3);
        assert_eq!(c.settings.get("max-jobs"), Some("3"));
    }

    #[test]
    fn values_are_taken_whatever_they_are() {
        let (_, seen) = run(&["-A", "-x", "--", "-"], false).unwrap();
        assert_eq!(seen, vec!["A=-x", "-"]);
        let (c, _) = run(&["--arg", "a", "-1", "--argstr", "a", "s"], true).unwrap();
        assert_eq!(c.auto_args(), vec![("a".into(), AutoArg::Str("s".into()))]);
    }

    #[test]
    fn errors_have_cpp_wording() {
        let msg = |v: &[&str], eval| match run(v, eval) {
            Err(CliError::Usage(m)) | Err(CliError::Failed(m)) => m,
            other => panic!("{:?}", other.map(|(_, s)| s)),
        };
        assert_eq!(msg(&["--foo"], false), "unrecognised flag '--foo'");
        assert_eq!(msg(&["-A"], false), "'-A' requires an argument");
        assert_eq!(
            msg(&["--option", "x"], false),
            "flag '--option' requires 2 argument(s)"
        );
        assert_eq!(
            msg(&["--arg", "x"], true),
            "flag '--arg' requires 2 argument(s)"
        );
        assert_eq!(
            msg(&["--arg", "x", "y"], false),
            "unrecognised flag '--arg'"
        );
        assert_eq!(
            msg(&["--timeout", "abc"], false),
            "invalid unit specifier 'C'"
        );
        assert_eq!(msg(&["--cores", ""], false), "'' is not an integer");
        assert_eq!(
            msg(&["-j", "x"], false),
            "configuration setting 'max-jobs' should be 'auto' or an integer"
        );
        assert_eq!(
            msg(&["--extra-system", "x"], false),
            "unrecognised flag '--extra-system'"
        );
        assert_eq!(
            msg(&["--no-system"], false),
            "unrecognised flag '--no-system'"
        );
        assert_eq!(
            msg(&["--system"], false),
            "flag '--system' requires 1 argument(s)"
        );
        assert_eq!(msg(&["--", "-x"], false), "unexpected argument '-x'");
    }

    #[test]
    fn setting_flags() {
        let (c, _) = run(
            &[
                "--show-trace",
                "--no-show-trace",
                "--system",
                "s",
                "--extra-nix-path",
                "a=/b",
                "--restrict-eval",
            ],
            true,
        )
        .unwrap();
        assert!(!c.settings.get_bool("show-trace"));
        assert!(c.settings.get_bool("restrict-eval"));
        assert_eq!(c.settings.get("system"), Some("s"));
        assert!(c.settings.get_list("nix-path").contains(&"a=/b".to_owned()));
    }
}
