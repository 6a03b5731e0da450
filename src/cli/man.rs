//! Man pages: clap's sections (name, synopsis, description, options) with
//! subcommands pointing at their own pages, then the hand-written sections
//! C++ Nix's manual has and clap cannot generate (ENVIRONMENT, EXIT STATUS,
//! EXAMPLES), SEE ALSO and VERSION. `gen-docs` writes them.

use std::io;

use clap::Command;

use super::store_env::{NIX_STORE_ENV_HELP, STORE_DIR_ENV_HELP, STORE_ENV_HELP};

/// A hand-written section: its title and its paragraphs, each a term
/// (empty for a plain paragraph) and its text.
pub type Section = (&'static str, &'static [(&'static str, &'static str)]);

/// What a page says besides its clap definition.
pub struct PageInfo {
    /// The sections after the options.
    pub sections: &'static [Section],
    /// The subcommands that have a page of their own: (name, page).
    pub subcommand_pages: Vec<(String, String)>,
    /// The other pages, for SEE ALSO.
    pub see_also: Vec<String>,
    /// The C++ Nix command this one is a drop-in for.
    pub nix_command: Option<&'static str>,
}

/// What clap_mangen writes before each part of a page.
const PREAMBLE: &[u8] = b".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// Escapes text for roff (backslashes, and `-` as a hyphen-minus).
fn esc(t: &str) -> String {
    t.replace('\\', "\\\\").replace('-', "\\-")
}

/// Renders the man page of `cmd` (named as its page).
pub fn render(cmd: &Command, page: &PageInfo) -> io::Result<Vec<u8>> {
    let version = env!("CARGO_PKG_VERSION");
    let man = clap_mangen::Man::new(cmd.clone()).source(format!("oxnix {version}"));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    type Part = fn(&clap_mangen::Man, &mut dyn io::Write) -> io::Result<()>;
    let parts: [Part; 4] = [
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ];
    for part in parts {
        // Each part starts with the preamble the title already wrote.
        let mut buf = Vec::new();
        part(&man, &mut buf)?;
        out.extend_from_slice(buf.strip_prefix(PREAMBLE).unwrap_or(&buf));
    }
    if let Some(after) = cmd.get_after_help() {
        out.extend_from_slice(format!(".PP\n{}\n", esc(&after.to_string())).as_bytes());
    }
    // Built, the command lists clap's own `help` subcommand too.
    let mut built = cmd.clone();
    built.build();
    let subs: Vec<&Command> = built
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .collect();
    if !subs.is_empty() {
        out.extend_from_slice(b".SH SUBCOMMANDS\n");
        for sub in subs {
            let own_page = page
                .subcommand_pages
                .iter()
                .find(|(n, _)| n == sub.get_name());
            let term = match own_page {
                Some((_, p)) => format!("\\fB{}\\fR(1)", esc(p)),
                None => format!("\\fB{}\\fR", esc(sub.get_name())),
            };
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            out.extend_from_slice(format!(".TP\n{term}\n{}\n", esc(&about)).as_bytes());
        }
    }
    for (title, items) in page.sections {
        out.extend_from_slice(format!(".SH \"{title}\"\n").as_bytes());
        for (term, text) in items.iter() {
            if term.is_empty() {
                out.extend_from_slice(format!(".PP\n{}\n", esc(text)).as_bytes());
            } else {
                out.extend_from_slice(
                    format!(".TP\n\\fB{}\\fR\n{}\n", esc(term), esc(text)).as_bytes(),
                );
            }
        }
    }
    if !page.see_also.is_empty() {
        let refs: Vec<String> = page
            .see_also
            .iter()
            .map(|p| format!("\\fB{}\\fR(1)", esc(p)))
            .collect();
        out.extend_from_slice(format!(".SH \"SEE ALSO\"\n{}\n", refs.join(", ")).as_bytes());
    }
    let version_line = match page.nix_command {
        Some(nix) => format!("oxnix {version}, a drop-in for {nix} of C++ Nix 2.8"),
        None => format!("oxnix {version}"),
    };
    out.extend_from_slice(format!(".SH VERSION\n{}\n", esc(&version_line)).as_bytes());
    Ok(out)
}

const CONFIG: (&str, &str) = (
    "NIX_CONF_DIR, NIX_USER_CONF_FILES, XDG_CONFIG_HOME, XDG_CONFIG_DIRS, NIX_CONFIG",
    "Settings are read from $NIX_CONF_DIR/nix.conf (default /etc/nix/nix.conf), then the user's nix/nix.conf files, then the text of $NIX_CONFIG; --option NAME VALUE and --NAME VALUE override them. Unknown settings are warned about.",
);

const STATUS: Section = (
    "EXIT STATUS",
    &[
        ("0", "Success."),
        (
            "1",
            "An error: a usage error (then also \"Try 'COMMAND --help' for more information.\"), an evaluation error, a missing or invalid path. The message is on standard error, after \"error:\".",
        ),
    ],
);

/// `nix-instantiate`'s sections.
pub const NIX_INSTANTIATE: &[Section] = &[
    (
        "ENVIRONMENT",
        &[
            (
                "NIX_PATH",
                "The search path for <NAME> lookups after the -I entries, when the nix-path setting is not set: NAME=PATH or PATH entries separated by ':' (URLs stay whole). Missing entries are warned about and skipped.",
            ),
            CONFIG,
            NIX_STORE_ENV_HELP,
            STORE_ENV_HELP,
            STORE_DIR_ENV_HELP,
            ("HOME", "For ~/ paths in Nix expressions."),
        ],
    ),
    STATUS,
    (
        "EXAMPLES",
        &[
            ("nix-instantiate --eval -E '1 + 2'", "Prints 3."),
            (
                "nix-instantiate --eval --strict --json default.nix -A pkgs.hello.meta",
                "Evaluates one attribute completely and prints it as JSON; functions met along the path are called with their default arguments.",
            ),
            (
                "nix-instantiate default.nix -A hello --argstr version 2.0 --add-root ./drv",
                "Writes the derivation of hello into the store and makes ./drv a symlink to it.",
            ),
            (
                "nix-instantiate --find-file nixpkgs -I nixpkgs=/src/nixpkgs",
                "Prints where <nixpkgs> is found.",
            ),
            (
                "nix-instantiate --restrict-eval --eval ./file.nix -I .",
                "Evaluates with file access limited to the search path.",
            ),
        ],
    ),
];

/// `nix-store`'s sections.
pub const NIX_STORE: &[Section] = &[
    (
        "ENVIRONMENT",
        &[
            NIX_STORE_ENV_HELP,
            STORE_ENV_HELP,
            STORE_DIR_ENV_HELP,
            CONFIG,
        ],
    ),
    STATUS,
    (
        "EXAMPLES",
        &[
            (
                "nix-store --add ./src",
                "Adds a tree to the store and prints its store path.",
            ),
            (
                "nix-store -qR $(nix-instantiate default.nix)",
                "Prints the closure of a derivation.",
            ),
            (
                "nix-store --dump ./src | nix-hash --flat --type sha256 /dev/stdin",
                "Hashes a tree's NAR serialisation.",
            ),
            (
                "nix-store --export $(nix-store -qR P) > closure.nar",
                "Writes a closure in Nix's export format (nix-store --import reads it).",
            ),
        ],
    ),
];

/// `nix-hash`'s sections.
pub const NIX_HASH: &[Section] = &[
    ("ENVIRONMENT", &[CONFIG]),
    STATUS,
    (
        "EXAMPLES",
        &[
            (
                "nix-hash --type sha256 --base32 ./src",
                "The hash of a tree's NAR serialisation, as Nix prints store hashes.",
            ),
            (
                "nix-hash --flat --type sha256 file.tar.gz",
                "The hash of a file's contents.",
            ),
            (
                "nix-hash --to-base32 --type sha256 HASH",
                "Converts a base-16 hash.",
            ),
        ],
    ),
];

/// `oxnix store`'s sections.
pub const OXNIX_STORE: &[Section] = &[("ENVIRONMENT", &[STORE_ENV_HELP, STORE_DIR_ENV_HELP])];
