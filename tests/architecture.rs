//! The layering of ARCHITECTURE.md, enforced: its layer table (layer,
//! name, modules, uses) says which top-level modules of `src/` each layer
//! holds and which other layers it may import from. Every `crate::` path in
//! `src/**/*.rs` (in `use crate::{a, b::c}` groups and fully qualified
//! paths alike; comments and string literals are skipped) must name a
//! module of its own layer or of a layer it uses, and every module
//! `src/lib.rs` declares must be in the table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One row of the layer table.
#[derive(Debug)]
struct Layer {
    number: u32,
    name: String,
    modules: Vec<String>,
    uses: Vec<String>,
}

/// The layer table of ARCHITECTURE.md: the first table whose header
/// starts `| layer | name | modules | uses |`.
fn parse_layers(markdown: &str) -> Result<Vec<Layer>, String> {
    let mut lines = markdown
        .lines()
        .skip_while(|l| !l.starts_with("| layer | name | modules | uses |"));
    if lines.next().is_none() {
        return Err("no '| layer | name | modules | uses |' table".into());
    }
    let mut layers = Vec::new();
    for line in lines.skip(1).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let [number, name, modules, uses, ..] = cells[..] else {
            return Err(format!("short row: {line}"));
        };
        let number = number
            .parse()
            .map_err(|_| format!("layer number '{number}' in: {line}"))?;
        let modules = modules
            .split(',')
            .map(|m| m.trim().trim_matches('`').to_owned())
            .filter(|m| !m.is_empty())
            .collect();
        let uses = uses
            .split(',')
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty() && u != "—")
            .collect();
        layers.push(Layer {
            number,
            name: name.to_owned(),
            modules,
            uses,
        });
    }
    Ok(layers)
}

/// `source` with comments and the contents of string and character
/// literals replaced by spaces (line structure kept).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (i == 0 || !ident(chars[i - 1]) || chars[i - 1] == 'b')
            && matches!(next, Some('"') | Some('#'))
            && chars[i + 1..].iter().find(|c| **c != '#') == Some(&'"')
        {
            // A raw string: r"…", r#"…"#, …
            let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let start = i + 1 + hashes + 1;
            let end = (start..chars.len())
                .find(|&j| chars[j..].starts_with(&close))
                .map_or(chars.len(), |j| j + close.len());
            out.extend(chars[i..end].iter().map(|c| blank(*c)));
            i = end;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let step = if chars[i] == '\\' { 2 } else { 1 };
                for c in chars.iter().skip(i).take(step) {
                    out.push(blank(*c));
                }
                i += step;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A character literal ('x', '\n', '\''); a lifetime has no
            // closing quote.
            let end = (i + 2..chars.len())
                .find(|&j| chars[j] == '\'' && (chars[j - 1] != '\\' || chars[j - 2] == '\\'))
                .map_or(chars.len(), |j| j + 1);
            out.extend(chars[i..end].iter().map(|c| blank(*c)));
            i = end;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The top-level modules `code` names through `crate::` paths, with the
/// line of each: `crate::a::…`, and each item of `crate::{a, b::c, d::{e}}`.
fn crate_imports(code: &str) -> Vec<(usize, String)> {
    let ident_char = |c: char| c.is_alphanumeric() || c == '_';
    let line_of = |pos: usize| code[..pos].matches('\n').count() + 1;
    let take_ident = |s: &str| -> String { s.chars().take_while(|c| ident_char(*c)).collect() };
    let mut found = Vec::new();
    for (pos, _) in code.match_indices("crate") {
        if code[..pos].chars().next_back().is_some_and(ident_char) {
            continue;
        }
        let rest = code[pos + "crate".len()..].trim_start();
        let Some(rest) = rest.strip_prefix("::") else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            // Each item at the group's top level starts with a module name.
            let mut depth = 1;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => item_start = true,
                    c if item_start && depth == 1 && ident_char(c) => {
                        let at = code.len() - group.len() + i;
                        found.push((line_of(at), take_ident(&group[i..])));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = take_ident(rest);
            if !name.is_empty() {
                found.push((line_of(pos), name));
            }
        }
    }
    found
}

/// The imports in `source` (of a file in module `module`) that its layer
/// may not make, as messages.
fn violations(layers: &[Layer], module: &str, file: &str, source: &str) -> Vec<String> {
    let layer_of = |m: &str| layers.iter().find(|l| l.modules.iter().any(|x| x == m));
    let Some(own) = layer_of(module) else {
        return vec![format!("{file}: module '{module}' is in no layer")];
    };
    let mut found = Vec::new();
    for (line, target) in crate_imports(&code_only(source)) {
        if target == "self" || target == "super" {
            continue;
        }
        match layer_of(&target) {
            None => found.push(format!("{file}:{line}: crate::{target} is in no layer")),
            Some(l) if l.name == own.name || own.uses.contains(&l.name) => {}
            Some(l) => found.push(format!(
                "{file}:{line}: {} (layer {} {}) imports crate::{target} (layer {} {})",
                module, own.number, own.name, l.number, l.name
            )),
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn layers() -> Vec<Layer> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    parse_layers(&text).unwrap()
}

#[test]
fn layer_table_is_consistent() {
    let layers = layers();
    assert!(layers.len() >= 5, "too few layers: {layers:?}");
    let mut seen = BTreeMap::new();
    for l in &layers {
        for m in &l.modules {
            if let Some(other) = seen.insert(m.clone(), l.name.clone()) {
                panic!("module {m} is in layers {other} and {}", l.name);
            }
        }
        for u in &l.uses {
            let Some(used) = layers.iter().find(|x| &x.name == u) else {
                panic!("layer {} uses unknown layer {u}", l.name);
            };
            assert!(
                used.number < l.number,
                "layer {} uses {u}, which is not lower",
                l.name
            );
        }
    }
    // Every module the crate declares has a layer.
    let lib = code_only(&std::fs::read_to_string(root().join("src/lib.rs")).unwrap());
    for line in lib.lines() {
        let decl = line.trim().trim_start_matches("pub ");
        if let Some(name) = decl.strip_prefix("mod ").and_then(|d| d.strip_suffix(';')) {
            assert!(
                seen.contains_key(name),
                "src/lib.rs: module {name} is in no layer"
            );
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_it_does_not_use() {
    let layers = layers();
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        if rel == Path::new("lib.rs") {
            continue;
        }
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs");
        let source = std::fs::read_to_string(file).unwrap();
        found.extend(violations(
            &layers,
            module,
            &rel.display().to_string(),
            &source,
        ));
    }
    assert!(files.len() > 50, "too few source files: {}", files.len());
    assert!(
        found.is_empty(),
        "layering violations:\n{}",
        found.join("\n")
    );
}

/// The checker itself: what it finds and what it skips.
#[test]
fn checker_finds_upward_imports_and_skips_comments_and_strings() {
    let layers = layers();
    let source = r##"
        //! Not a use: [`crate::cli`].
        use crate::{hash::Hash, nar::{self, fs}, store_path};
        use crate::{
            derivation,
            eval::value::Value,
        };
        /* crate::store in a /* nested */ comment */
        const S: &str = "crate::cli";
        const R: &str = r#"crate::store "quoted""#;
        const C: char = '"';
        fn f<'a>(x: &'a str) -> crate::store::Store { crate :: cli::run() }
    "##;
    let found = violations(&layers, "nar", "x.rs", source);
    assert_eq!(
        found,
        [
            "x.rs:6: nar (layer 1 formats) imports crate::eval (layer 2 eval)",
            "x.rs:12: nar (layer 1 formats) imports crate::store (layer 4 store)",
            "x.rs:12: nar (layer 1 formats) imports crate::cli (layer 5 cli)",
        ]
    );
    // A layer may not use one it does not name, even a lower one.
    assert_eq!(
        violations(&layers, "castore", "y.rs", "use crate::eval::Evaluator;"),
        ["y.rs:1: castore (layer 3 castore) imports crate::eval (layer 2 eval)"]
    );
    assert!(violations(&layers, "cli", "z.rs", "use crate::{eval, store};").is_empty());
}

/// The files of `src/eval/` may import each other in cycles of at most
/// this many files (issue 14): values and code refer to each other, and
/// so do the VM and the operations it runs; everything else reads
/// bottom-up.
const MAX_EVAL_CYCLE: usize = 3;

/// The modules of `src/eval/`, by path below `eval` ("" for `eval`
/// itself, "builtins::sets", …), with their code.
fn eval_modules(dir: &Path) -> BTreeMap<String, (bool, String)> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(dir).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let is_mod = parts.last().is_some_and(|p| p == "mod");
        if is_mod {
            parts.pop();
        }
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        // Tests may use anything.
        let code = code.split("#[cfg(test)]").next().unwrap_or("").to_owned();
        out.insert(parts.join("::"), (is_mod, code));
    }
    out
}

/// Which modules each module of `modules` names, through `crate::eval::`,
/// `super::`, `self::` or (in a `mod.rs`) a child module's name.
fn eval_imports(
    modules: &BTreeMap<String, (bool, String)>,
) -> BTreeMap<String, std::collections::BTreeSet<String>> {
    let resolve = |path: &[String]| -> Option<String> {
        (0..=path.len())
            .rev()
            .map(|k| path[..k].join("::"))
            .find(|c| modules.contains_key(c))
    };
    let mut edges = BTreeMap::new();
    for (name, (is_mod, code)) in modules {
        let own: Vec<String> = name
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let parent: Vec<String> = own[..own.len().saturating_sub(1)].to_vec();
        let mut found = std::collections::BTreeSet::new();
        let chars: Vec<char> = code.chars().collect();
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        let mut i = 0;
        while i < chars.len() {
            if !ident(chars[i]) || (i > 0 && (ident(chars[i - 1]) || chars[i - 1] == ':')) {
                i += 1;
                continue;
            }
            // A path: identifiers joined by `::`, maybe ending in a group.
            let mut segs = Vec::new();
            let mut j = i;
            let mut group = None;
            loop {
                let start = j;
                while j < chars.len() && ident(chars[j]) {
                    j += 1;
                }
                segs.push(chars[start..j].iter().collect::<String>());
                if chars.get(j) == Some(&':') && chars.get(j + 1) == Some(&':') {
                    j += 2;
                    if chars.get(j) == Some(&'{') {
                        let end = (j..chars.len())
                            .find(|&k| chars[k] == '}')
                            .unwrap_or(chars.len());
                        group = Some(chars[j + 1..end].iter().collect::<String>());
                        j = end;
                        break;
                    }
                    if j < chars.len() && ident(chars[j]) {
                        continue;
                    }
                }
                break;
            }
            i = j.max(i + 1);
            if segs.len() < 2 && group.is_none() {
                continue;
            }
            let (base, rest): (Vec<String>, &[String]) = match segs[0].as_str() {
                "crate" if segs.get(1).is_some_and(|s| s == "eval") => (Vec::new(), &segs[2..]),
                "super" if segs.get(1).is_some_and(|s| s == "super") => (
                    parent[..parent.len().saturating_sub(1)].to_vec(),
                    &segs[2..],
                ),
                "super" => (parent.clone(), &segs[1..]),
                "self" => (own.clone(), &segs[1..]),
                first if *is_mod => {
                    let mut child = own.clone();
                    child.push(first.to_owned());
                    if !modules.contains_key(&child.join("::")) {
                        continue;
                    }
                    (own.clone(), &segs[..])
                }
                _ => continue,
            };
            let mut targets = Vec::new();
            let mut full = base.clone();
            full.extend(rest.iter().cloned());
            if group.is_none() {
                targets.push(full.clone());
            }
            for item in group.iter().flat_map(|g| g.split(',')) {
                let head = item
                    .trim()
                    .split("::")
                    .next()
                    .unwrap_or("")
                    .split(' ')
                    .next()
                    .unwrap_or("");
                if !head.is_empty() {
                    let mut t = full.clone();
                    t.push(head.to_owned());
                    targets.push(t);
                }
            }
            for t in targets {
                if let Some(m) = resolve(&t) {
                    if &m != name {
                        found.insert(m);
                    }
                }
            }
        }
        edges.insert(name.clone(), found);
    }
    edges
}

/// The strongly connected components of more than one module.
fn cycles(edges: &BTreeMap<String, std::collections::BTreeSet<String>>) -> Vec<Vec<String>> {
    // Kosaraju: reachability both ways.
    let reach = |from: &String, forward: bool| {
        let mut seen = std::collections::BTreeSet::from([from.clone()]);
        let mut work = vec![from.clone()];
        while let Some(m) = work.pop() {
            let next: Vec<String> = if forward {
                edges.get(&m).into_iter().flatten().cloned().collect()
            } else {
                edges
                    .iter()
                    .filter(|(_, to)| to.contains(&m))
                    .map(|(k, _)| k.clone())
                    .collect()
            };
            for n in next {
                if seen.insert(n.clone()) {
                    work.push(n);
                }
            }
        }
        seen
    };
    let mut done = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for m in edges.keys() {
        if done.contains(m) {
            continue;
        }
        let both: Vec<String> = reach(m, true)
            .intersection(&reach(m, false))
            .cloned()
            .collect();
        done.extend(both.iter().cloned());
        if both.len() > 1 {
            out.push(both);
        }
    }
    out
}

#[test]
fn eval_files_import_each_other_in_no_long_cycle() {
    let modules = eval_modules(&root().join("src/eval"));
    assert!(
        modules.len() > 20,
        "too few eval modules found: {}",
        modules.len()
    );
    let edges = eval_imports(&modules);
    assert!(
        edges["vm"].contains("value"),
        "the import reader misses vm -> value"
    );
    let long: Vec<_> = cycles(&edges)
        .into_iter()
        .filter(|c| c.len() > MAX_EVAL_CYCLE)
        .collect();
    assert!(
        long.is_empty(),
        "import cycles of more than {MAX_EVAL_CYCLE} files in src/eval: {long:?}"
    );
}

/// The cycle finder itself, on made-up modules.
#[test]
fn eval_cycle_finder_sees_paths_groups_and_parents() {
    let m = |code: &str| (false, code_only(code));
    let modules = BTreeMap::from([
        (
            String::new(),
            (true, code_only("use a::X; use crate::eval::b::Y;")),
        ),
        ("a".to_owned(), m("use super::{b::Z, c};")),
        ("b".to_owned(), m("fn f() -> super::c::T { todo!() }")),
        (
            "c".to_owned(),
            m("use crate::eval::a; // super::d\nconst S: &str = \"super::d\";"),
        ),
        ("d".to_owned(), m("use super::Evaluator;")),
    ]);
    let edges = eval_imports(&modules);
    assert_eq!(edges["a"], ["b", "c"].map(String::from).into());
    assert_eq!(edges["d"], [String::new()].into());
    assert_eq!(
        cycles(&edges),
        vec![["a", "b", "c"].map(String::from).to_vec()]
    );
}

/// The evaluator reaches files only through its I/O trait: no file of
/// `src/eval` but `eval_io.rs` (the plain file system's implementation)
/// names the file system itself, so a store-backed I/O sees every access.
#[test]
fn evaluator_touches_files_only_through_eval_io() {
    let mut files = Vec::new();
    rust_files(&root().join("src/eval"), &mut files);
    let mut offenders = Vec::new();
    for f in files {
        if f.ends_with("eval_io.rs") {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&f).expect("readable source"));
        for needle in [
            "std::fs",
            "fs::read",
            "File::open",
            "nar::fs",
            ".exists()",
            ".is_dir()",
        ] {
            if code.contains(needle) {
                offenders.push(format!("{}: {needle}", f.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "file access outside EvalIo: {offenders:#?}"
    );
}
