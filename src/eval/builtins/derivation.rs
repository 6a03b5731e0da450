//! Builtins that create store objects: `derivationStrict` (the primitive
//! behind `derivation`), `placeholder`, `toFile` and `storePath`. Store
//! paths are computed as C++ Nix computes them; the objects are recorded in
//! the evaluator's [`Instantiation`](crate::eval::instantiation) for the
//! caller to write.

use std::collections::{BTreeMap, BTreeSet};

use bstr::BString;

use super::args::{attrs_arg, name_arg, string_arg, sync};
use super::context::{decode, Element};
use super::io::{io_call, io_error};
use crate::derivation::{Derivation, Output};
use crate::eval::error::ErrorKind;
use crate::eval::eval_io::FileKind;
use crate::eval::host::Host;
use crate::eval::ops::{coerce_to_string, Coercion};
use crate::eval::value::{Attrs, Context, NixString, Value};
use crate::eval::vm::{call, force, with_evaluator, Co, GenFuture};
use crate::hash::{Hash, HashAlgo, HashFormat};
use std::os::unix::ffi::OsStrExt;

builtins! {
    #[global] "derivationStrict" => derivation_strict, #[global] #[fast(placeholder_fast)] "placeholder" => placeholder,
    "toFile" => to_file, "storePath" => store_path, "path" => path,
    "filterSource" => filter_source,
}

fn other(msg: impl Into<String>) -> ErrorKind {
    ErrorKind::Other(msg.into())
}

/// A string without context, or C++ Nix's error for one with context.
fn no_context(s: &NixString) -> Result<String, ErrorKind> {
    crate::eval::ops::no_context(s)?;
    Ok(s.to_str_lossy().into_owned())
}

/// What `derivationStrict` collects before the store work.
#[derive(Default)]
struct Collected {
    name: String,
    builder: BString,
    system: BString,
    args: Vec<BString>,
    env: BTreeMap<BString, BString>,
    outputs: Vec<String>,
    output_hash: Option<String>,
    output_hash_algo: Option<String>,
    recursive: bool,
    context: Context,
}

fn set_outputs(c: &mut Collected, names: Vec<String>) -> Result<(), ErrorKind> {
    let mut seen = BTreeSet::new();
    for n in &names {
        if !seen.insert(n.clone()) {
            return Err(other(format!("duplicate derivation output '{n}'")));
        }
        // 2.8 refuses `drv`; newer Nix `drvPath`, which would clash with
        // the result's `drvPath`.
        if n == "drv" || n == "drvPath" {
            return Err(other(format!("invalid derivation output name '{n}'")));
        }
    }
    if names.is_empty() {
        return Err(other("derivation cannot have an empty set of outputs"));
    }
    c.outputs = names;
    Ok(())
}

fn hash_mode(c: &mut Collected, mode: &str) -> Result<(), ErrorKind> {
    c.recursive = match mode {
        "recursive" => true,
        "flat" => false,
        _ => {
            return Err(other(format!(
                "invalid value '{mode}' for 'outputHashMode' attribute"
            )))
        }
    };
    Ok(())
}

async fn bool_attr(co: &Co, v: Value) -> Result<bool, ErrorKind> {
    match force(co, v).await? {
        Value::Bool(b) => Ok(b),
        other => Err(ErrorKind::type_error("a Boolean", &other)),
    }
}

fn derivation_strict(co: Co, [attrs]: [Value; 1]) -> GenFuture {
    sync(async move {
        let attrs = attrs_arg(&co, attrs).await?;
        let get = |k: &str| attrs.get(&NixString::from(k)).cloned();
        let Some(name) = get("name") else {
            return Err(other("required attribute 'name' missing"));
        };
        let mut c = Collected {
            name: no_context(&string_arg(&co, name).await?)?,
            outputs: vec!["out".into()],
            ..Collected::default()
        };
        let ignore_nulls = match get("__ignoreNulls") {
            Some(v) => bool_attr(&co, v).await?,
            None => false,
        };
        let structured = match get("__structuredAttrs") {
            Some(v) => bool_attr(&co, v).await?,
            None => false,
        };
        let mut json: Vec<(NixString, Vec<u8>)> = Vec::new();
        for (key, value) in attrs.iter() {
            let k = key.to_str_lossy().into_owned();
            if k == "__ignoreNulls" {
                continue;
            }
            let value = force(&co, value.clone()).await?;
            if ignore_nulls && matches!(value, Value::Null) {
                continue;
            }
            match k.as_str() {
                "__contentAddressed" => {
                    return Err(other(
                        "experimental Nix feature 'ca-derivations' is disabled; enable it with '--extra-experimental-features ca-derivations'",
                    ))
                }
                "__impure" => {
                    return Err(other(
                        "experimental Nix feature 'impure-derivations' is disabled; enable it with '--extra-experimental-features impure-derivations'",
                    ))
                }
                _ => {}
            }
            if k == "args" {
                let Value::List(items) = value else {
                    return Err(ErrorKind::type_error("a list", &value));
                };
                for item in items.iter() {
                    let s = coerce_to_string(&co, item.clone(), Coercion::DrvAttr).await?;
                    s.add_context_to(&mut c.context);
                    c.args.push(s.as_bytes().into());
                }
                continue;
            }
            if structured {
                if k == "__structuredAttrs" {
                    continue;
                }
                let bytes = super::json::to_json_bytes(&co, value.clone(), &mut c.context).await?;
                json.push((key.clone(), bytes));
                match k.as_str() {
                    "builder" | "system" => {
                        let s = string_arg(&co, value).await?;
                        s.add_context_to(&mut c.context);
                        if k == "builder" {
                            c.builder = s.as_bytes().into();
                        } else {
                            c.system = s.as_bytes().into();
                        }
                    }
                    "outputHash" => {
                        c.output_hash = Some(no_context(&string_arg(&co, value).await?)?)
                    }
                    "outputHashAlgo" => {
                        c.output_hash_algo = Some(no_context(&string_arg(&co, value).await?)?)
                    }
                    "outputHashMode" => {
                        let m = no_context(&string_arg(&co, value).await?)?;
                        hash_mode(&mut c, &m)?;
                    }
                    "outputs" => {
                        let Value::List(items) = value else {
                            return Err(ErrorKind::type_error("a list", &value));
                        };
                        let mut names = Vec::new();
                        for i in items.iter() {
                            names.push(no_context(&string_arg(&co, i.clone()).await?)?);
                        }
                        set_outputs(&mut c, names)?;
                    }
                    _ => {}
                }
                continue;
            }
            let s = coerce_to_string(&co, value, Coercion::DrvAttr).await?;
            s.add_context_to(&mut c.context);
            let text = s.to_str_lossy().into_owned();
            match k.as_str() {
                "builder" => c.builder = s.as_bytes().into(),
                "system" => c.system = s.as_bytes().into(),
                "outputHash" => c.output_hash = Some(no_context(&s)?),
                "outputHashAlgo" => c.output_hash_algo = Some(no_context(&s)?),
                "outputHashMode" => hash_mode(&mut c, &no_context(&s)?)?,
                "outputs" => set_outputs(
                    &mut c,
                    text.split([' ', '\t', '\n', '\r'])
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect(),
                )?,
                _ => {}
            }
            c.env.insert(key.as_bytes().into(), s.as_bytes().into());
        }
        if structured {
            let mut obj = b"{".to_vec();
            for (i, (k, v)) in json.iter().enumerate() {
                if i > 0 {
                    obj.push(b',');
                }
                let mut ignored = Context::new();
                let key =
                    super::json::to_json_bytes(&co, Value::String(k.clone()), &mut ignored).await?;
                obj.extend_from_slice(&key);
                obj.push(b':');
                obj.extend_from_slice(v);
            }
            obj.push(b'}');
            c.env.insert("__json".into(), obj.into());
        }
        with_evaluator(&co, Box::new(move |ev| instantiate(ev, c))).await
    })
}

/// The store part of `derivationStrict`: inputs from the context, output
/// paths, the `.drv` path; the result set `{ drvPath; <output> = path; }`.
fn instantiate(ev: &dyn Host, c: Collected) -> Result<Value, ErrorKind> {
    let inst = ev.instantiation();
    let store = &inst.store_dir;
    let parse = |p: &str| {
        store
            .parse_path(p)
            .map_err(|e| other(format!("path '{p}' is not in the Nix store: {e}")))
    };
    let mut drv = Derivation {
        system: c.system.clone(),
        builder: c.builder.clone(),
        args: c.args.clone(),
        env: c.env.clone(),
        ..Derivation::default()
    };
    for e in &c.context {
        match decode(e) {
            Element::Path(p) => {
                drv.input_srcs.insert(parse(p)?);
            }
            Element::Output { drv: d, output } => {
                drv.input_drvs
                    .entry(parse(d)?)
                    .or_default()
                    .insert(output.to_owned());
            }
            Element::AllOutputs(d) => {
                // The derivation's whole closure: every .drv in it with all
                // its outputs, and every source.
                let mut todo = vec![parse(d)?];
                let mut seen = BTreeSet::new();
                while let Some(p) = todo.pop() {
                    if !seen.insert(p.clone()) {
                        continue;
                    }
                    let dep = inst.derivation(&p).map_err(|e| other(e.to_string()))?;
                    drv.input_srcs.insert(p.clone());
                    drv.input_drvs
                        .entry(p.clone())
                        .or_default()
                        .extend(dep.outputs.keys().cloned());
                    drv.input_srcs.extend(dep.input_srcs.iter().cloned());
                    todo.extend(dep.input_drvs.keys().cloned());
                }
            }
        }
    }
    if drv.builder.is_empty() {
        return Err(other("required attribute 'builder' missing"));
    }
    if drv.system.is_empty() {
        return Err(other("required attribute 'system' missing"));
    }
    if c.name.ends_with(".drv") {
        return Err(other("derivation names are not allowed to end in '.drv'"));
    }
    // An invalid name fails where the output paths are made (C++ Nix names
    // the whole path in the message).
    if let Some(hash) = &c.output_hash {
        if c.outputs.len() != 1 || c.outputs[0] != "out" {
            return Err(other(
                "multiple outputs are not supported in fixed-output derivations",
            ));
        }
        let algo = match c.output_hash_algo.as_deref() {
            None | Some("") => None,
            Some(a) => Some(HashAlgo::from_name(a).map_err(|e| other(e.to_string()))?),
        };
        let h = parse_output_hash(hash, algo)?;
        let prefix = if c.recursive { "r:" } else { "" };
        drv.outputs.insert(
            "out".into(),
            Output {
                path: None,
                hash_algo: format!("{prefix}{}", h.algo().name()).into(),
                hash: h.encode(HashFormat::Base16).into(),
            },
        );
    } else {
        for o in &c.outputs {
            drv.outputs.insert(o.clone(), Output::default());
        }
    }
    let (drv_path, drv) = inst.add_derivation(drv, &c.name)?;
    let drv_printed = store.print(&drv_path);
    let mut result = Attrs::new();
    let mut ctx = Context::new();
    ctx.insert(format!("={drv_printed}").into());
    result.insert(
        NixString::from("drvPath"),
        Value::String(NixString::with_context(
            drv_printed.clone().into_bytes(),
            ctx,
        )),
    );
    for (name, output) in &drv.outputs {
        let Some(p) = &output.path else { continue };
        let mut ctx = Context::new();
        ctx.insert(format!("!{name}!{drv_printed}").into());
        result.insert(
            NixString::from(name.as_str()),
            Value::String(NixString::with_context(store.print(p).into_bytes(), ctx)),
        );
    }
    Ok(Value::attrs(result))
}

/// C++ Nix's `newHashAllowEmpty`: an empty hash is all zeros (with a
/// warning), otherwise any encoding, SRI or `algo:` prefixed form.
fn parse_output_hash(s: &str, algo: Option<HashAlgo>) -> Result<Hash, ErrorKind> {
    if s.is_empty() {
        let Some(algo) = algo else {
            return Err(other("empty hash requires explicit hash type"));
        };
        let h = Hash::from_digest(algo, &vec![0; algo.digest_len()])
            .ok_or_else(|| other("empty hash"))?;
        crate::log::warning(&format!(
            "found empty hash, assuming '{}'",
            h.encode(HashFormat::Sri)
        ));
        return Ok(h);
    }
    Hash::parse_any(s, algo).map_err(|e| other(e.to_string()))
}

/// The placeholder of output `output`.
fn placeholder_of(output: &NixString) -> Value {
    let h = Hash::of_bytes(
        HashAlgo::Sha256,
        format!("nix-output:{}", output.to_str_lossy()).as_bytes(),
    );
    Value::string(format!("/{}", crate::nixbase32::encode(h.digest())))
}

/// `placeholder`'s fast path: the output's name evaluated, without
/// context.
fn placeholder_fast([output]: &[Value; 1]) -> Option<Value> {
    match super::fast::ready(output)? {
        Value::String(output) if !output.has_context() => Some(placeholder_of(&output)),
        _ => None,
    }
}

/// `placeholder output`: a name with context is an error, as in C++ Nix.
fn placeholder(co: Co, [output]: [Value; 1]) -> GenFuture {
    sync(async move { Ok(placeholder_of(&name_arg(&co, output).await?)) })
}

fn to_file(co: Co, [name, contents]: [Value; 2]) -> GenFuture {
    sync(async move {
        let name = no_context(&string_arg(&co, name).await?)?;
        let contents = string_arg(&co, contents).await?;
        let ctx: Vec<std::rc::Rc<str>> =
            contents.context().into_iter().flatten().cloned().collect();
        let bytes = contents.as_bytes().to_vec();
        with_evaluator(
            &co,
            Box::new(move |ev| {
                let store = &ev.instantiation().store_dir;
                let mut refs = BTreeSet::new();
                for e in &ctx {
                    match decode(e) {
                        Element::Path(p) => {
                            refs.insert(store.parse_path(p).map_err(|e| other(e.to_string()))?);
                        }
                        _ => {
                            return Err(other(format!(
                                "in 'toFile': the file named '{name}' must not contain a reference to a derivation but contains ({e})"
                            )))
                        }
                    }
                }
                let path = ev.instantiation().add_text(&name, &bytes, refs)?;
                Ok(super::context::store_string(store, &path))
            }),
        )
        .await
    })
}
fn store_path(co: Co, [s]: [Value; 1]) -> GenFuture {
    sync(async move {
        let s = crate::eval::ops::coerce_no_copy(&co, s).await?;
        let text = s.to_str_lossy().into_owned();
        with_evaluator(
            &co,
            Box::new(move |ev| {
                let store = &ev.instantiation().store_dir;
                // The store path itself, without anything below it.
                let rest = text
                    .strip_prefix(store.as_str())
                    .and_then(|r| r.strip_prefix('/'))
                    .ok_or_else(|| other(format!("path '{text}' is not in the Nix store")))?;
                let base = rest.split('/').next().unwrap_or_default();
                let path = store
                    .parse_path(&format!("{}/{base}", store.as_str()))
                    .map_err(|_| other(format!("path '{text}' is not in the Nix store")))?;
                // C++ Nix 2.8 checks the path only in read-write mode.
                let printed = store.print(&path);
                if ev.instantiation().read_write()
                    && !ev
                        .io()
                        .is_valid_path(std::path::Path::new(&printed))
                        .map_err(other)?
                {
                    return Err(ErrorKind::Unlocated(format!(
                        "path '{printed}' does not exist and cannot be created"
                    )));
                }
                Ok(super::context::store_string(store, &path))
            }),
        )
        .await
    })
}

/// The entries of directory `dir`, sorted by name as a NAR orders them.
async fn sorted_entries(
    co: &Co,
    dir: &std::path::Path,
) -> Result<std::vec::IntoIter<(Vec<u8>, std::path::PathBuf, FileKind)>, ErrorKind> {
    let d = dir.to_owned();
    let entries = io_call(co, move |io| io.read_dir(&d))
        .await?
        .map_err(|e| io_error("opening directory", dir, &e))?;
    Ok(entries
        .into_iter()
        .map(|(name, kind)| {
            let full = dir.join(std::ffi::OsStr::from_bytes(&name));
            (name, full, kind)
        })
        .collect::<Vec<_>>()
        .into_iter())
}

async fn read_file(co: &Co, p: &std::path::Path) -> Result<Vec<u8>, ErrorKind> {
    let path = p.to_owned();
    io_call(co, move |io| io.read_file(&path))
        .await?
        .map_err(|e| io_error("opening file", p, &e))
}

async fn read_link(co: &Co, p: &std::path::Path) -> Result<Vec<u8>, ErrorKind> {
    let path = p.to_owned();
    io_call(co, move |io| io.read_link(&path))
        .await?
        .map(|t| t.as_os_str().as_bytes().to_vec())
        .map_err(|e| io_error("reading symbolic link", p, &e))
}

/// The kind of what `p` leads to (symlinks followed).
async fn stat(co: &Co, p: &std::path::Path) -> Result<FileKind, ErrorKind> {
    let path = p.to_owned();
    io_call(co, move |io| io.stat(&path))
        .await?
        .map_err(|e| io_error("getting status of", p, &e))
}

/// Writes one node (not a directory's contents) of a tree being copied.
async fn write_node(
    co: &Co,
    w: &mut crate::nar::writer::NarWriter<Vec<u8>>,
    path: &std::path::Path,
    kind: FileKind,
    stack: &mut Vec<std::vec::IntoIter<(Vec<u8>, std::path::PathBuf, FileKind)>>,
) -> Result<(), ErrorKind> {
    let nar_err = |e: std::io::Error| other(format!("writing NAR: {e}"));
    match kind {
        FileKind::Directory => {
            w.start_directory().map_err(nar_err)?;
            stack.push(sorted_entries(co, path).await?);
        }
        FileKind::Symlink => w.symlink(&read_link(co, path).await?).map_err(nar_err)?,
        FileKind::Regular { executable } => {
            let bytes = read_file(co, path).await?;
            w.regular_bytes(executable, &bytes).map_err(nar_err)?;
        }
        FileKind::Unknown => {
            return Err(other(format!(
                "file '{}' has an unsupported type",
                path.display()
            )))
        }
    }
    Ok(())
}

/// The NAR of `root`, keeping only what `filter` accepts (called with the
/// absolute path and the file type of every node below the root).
async fn filtered_nar(
    co: &Co,
    root: &std::path::Path,
    filter: Option<Value>,
) -> Result<Vec<u8>, ErrorKind> {
    use crate::nar::writer::NarWriter;
    let nar_err = |e: std::io::Error| other(format!("writing NAR: {e}"));
    let mut w = NarWriter::new(Vec::new()).map_err(nar_err)?;
    let mut stack = Vec::new();
    // The root is followed when it is a symlink, as newer Nix does.
    let kind = stat(co, root).await?;
    write_node(co, &mut w, root, kind, &mut stack).await?;
    while let Some(top) = stack.last_mut() {
        let Some((name, full, kind)) = top.next() else {
            stack.pop();
            w.end_directory().map_err(nar_err)?;
            continue;
        };
        if let Some(f) = &filter {
            let g = call(co, f.clone(), Value::string(full.display().to_string())).await?;
            let keep = call(co, g, Value::string(kind.type_name())).await?;
            match force(co, keep).await? {
                Value::Bool(true) => {}
                Value::Bool(false) => continue,
                other => return Err(ErrorKind::type_error("a Boolean", &other)),
            }
        }
        w.entry(&name).map_err(nar_err)?;
        write_node(co, &mut w, &full, kind, &mut stack).await?;
    }
    w.finish().map_err(nar_err)
}

/// `builtins.path` and `filterSource`: copies `root` (filtered) into the
/// store and returns its path as a string with context.
async fn add_path(
    co: &Co,
    root: std::path::PathBuf,
    name: Option<String>,
    filter: Option<Value>,
    recursive: bool,
    expected: Option<String>,
) -> Result<Value, ErrorKind> {
    use crate::store_path::IngestionMethod;
    let root = super::io::allowed(co, root).await?;
    let name = match name {
        Some(n) => n,
        None => root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let (nar, method, hash) = if recursive {
        let nar = filtered_nar(co, &root, filter).await?;
        let h = Hash::of_bytes(HashAlgo::Sha256, &nar);
        (nar, IngestionMethod::Recursive, h)
    } else {
        if !matches!(stat(co, &root).await?, FileKind::Regular { .. }) {
            return Err(other(format!(
                "reading from file '{}': Is a directory",
                root.display()
            )));
        }
        let nar = filtered_nar(co, &root, None).await?;
        let bytes = read_file(co, &root).await?;
        (
            nar,
            IngestionMethod::Flat,
            Hash::of_bytes(HashAlgo::Sha256, &bytes),
        )
    };
    if let Some(e) = &expected {
        let want = Hash::parse_any(e, Some(HashAlgo::Sha256)).map_err(|e| other(e.to_string()))?;
        if want != hash {
            return Err(other(format!(
                "store path mismatch in (possibly filtered) path added from '{}'",
                root.display()
            )));
        }
    }
    with_evaluator(
        co,
        Box::new(move |ev| {
            let inst = ev.instantiation();
            let path = inst.add_nar(&name, method, &hash, nar)?;
            Ok(super::context::store_string(&inst.store_dir, &path))
        }),
    )
    .await
}

fn path(co: Co, [attrs]: [Value; 1]) -> GenFuture {
    sync(async move {
        let attrs = attrs_arg(&co, attrs).await?;
        let get = |k: &str| attrs.get(&NixString::from(k)).cloned();
        let Some(p) = get("path") else {
            return Err(other(
                "missing required 'path' attribute in the first argument to builtins.path",
            ));
        };
        let root = super::io::path_with_realised_context(&co, p).await?;
        let name = match get("name") {
            Some(n) => Some(no_context(&string_arg(&co, n).await?)?),
            None => None,
        };
        let filter = match get("filter") {
            Some(f) => {
                let f = force(&co, f).await?;
                if !matches!(f, Value::Closure(_) | Value::Builtin(_) | Value::Attrs(_)) {
                    return Err(ErrorKind::type_error("a function", &f));
                }
                Some(f)
            }
            None => None,
        };
        let recursive = match get("recursive") {
            Some(r) => bool_attr(&co, r).await?,
            None => true,
        };
        let expected = match get("sha256") {
            Some(h) => Some(no_context(&string_arg(&co, h).await?)?),
            None => None,
        };
        for (k, _) in attrs.iter() {
            if !matches!(
                k.as_bytes(),
                b"path" | b"name" | b"filter" | b"recursive" | b"sha256"
            ) {
                return Err(other(format!(
                    "unsupported argument '{}' to 'addPath'",
                    k.to_str_lossy()
                )));
            }
        }
        add_path(&co, root, name, filter, recursive, expected).await
    })
}

fn filter_source(co: Co, [filter, root]: [Value; 2]) -> GenFuture {
    sync(async move {
        let filter = force(&co, filter).await?;
        if !matches!(
            filter,
            Value::Closure(_) | Value::Builtin(_) | Value::Attrs(_)
        ) {
            return Err(ErrorKind::type_error("a function", &filter));
        }
        let root = super::io::path_with_realised_context(&co, root).await?;
        add_path(&co, root, None, Some(filter), true, None).await
    })
}
