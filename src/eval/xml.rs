//! XML output of values (`builtins.toXML` and `nix-instantiate --xml`), in
//! C++ Nix's format. The value is walked with an explicit work list, so
//! deep structures cannot overflow the stack.

use std::collections::{BTreeMap, HashSet};

use super::code::{Params, Source};
use super::error::ErrorKind;
use super::print::format_float;
use super::value::{NixString, Value};
use super::vm::{force, Co};

enum Item {
    Val(Value),
    Open(&'static str, BTreeMap<&'static str, Vec<u8>>),
    Close(&'static str),
}

fn escape(out: &mut Vec<u8>, s: &[u8]) {
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"&quot;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'\n' => out.extend_from_slice(b"&#xA;"),
            c => out.push(c),
        }
    }
}

/// C++ Nix 2.8's location attributes. For `-E` and standard input text
/// it names the file by the text itself, as 2.8 does.
fn add_location(attrs: &mut BTreeMap<&'static str, Vec<u8>>, source: &Source, offset: u32) {
    let (line, col) = source.line_col(offset as usize);
    attrs.insert("path", source.position_file().as_bytes().to_vec());
    attrs.insert("line", line.to_string().into_bytes());
    attrs.insert("column", col.to_string().into_bytes());
}

struct Writer {
    out: Vec<u8>,
    depth: usize,
}

impl Writer {
    fn element(&mut self, tag: &str, attrs: &BTreeMap<&'static str, Vec<u8>>, empty: bool) {
        self.out.extend(std::iter::repeat_n(b' ', self.depth * 2));
        self.out.push(b'<');
        self.out.extend_from_slice(tag.as_bytes());
        for (k, v) in attrs {
            self.out.push(b' ');
            self.out.extend_from_slice(k.as_bytes());
            self.out.extend_from_slice(b"=\"");
            escape(&mut self.out, v);
            self.out.push(b'"');
        }
        self.out
            .extend_from_slice(if empty { b" />\n" } else { b">\n" });
        if !empty {
            self.depth += 1;
        }
    }

    fn close(&mut self, tag: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.out.extend(std::iter::repeat_n(b' ', self.depth * 2));
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(tag.as_bytes());
        self.out.extend_from_slice(b">\n");
    }

    fn scalar(&mut self, tag: &str, value: Option<Vec<u8>>) {
        let mut attrs = BTreeMap::new();
        if let Some(v) = value {
            attrs.insert("value", v);
        }
        self.element(tag, &attrs, true);
    }
}

/// The XML document for `v`. With `strict`, values are forced as they are
/// reached (as `toXML` does); otherwise unevaluated ones are shown as
/// `<unevaluated />`. With `location`, attributes and functions defined in
/// source carry `path`, `line` and `column` (`nix-instantiate --xml`
/// without `--no-location`).
pub async fn to_xml(co: &Co, v: Value, strict: bool, location: bool) -> Result<Vec<u8>, ErrorKind> {
    let mut w = Writer {
        out: b"<?xml version='1.0' encoding='utf-8'?>\n<expr>\n".to_vec(),
        depth: 1,
    };
    let mut drvs_seen = HashSet::new();
    let mut work = vec![Item::Val(v)];
    while let Some(item) = work.pop() {
        let v = match item {
            Item::Open(tag, attrs) => {
                w.element(tag, &attrs, false);
                continue;
            }
            Item::Close(tag) => {
                w.close(tag);
                continue;
            }
            Item::Val(v) => v,
        };
        let v = if strict {
            force(co, v).await?
        } else {
            v.resolved()
        };
        match v {
            Value::Null => w.scalar("null", None),
            Value::Bool(b) => w.scalar(
                "bool",
                Some(if b {
                    b"true".to_vec()
                } else {
                    b"false".to_vec()
                }),
            ),
            Value::Int(i) => w.scalar("int", Some(i.to_string().into_bytes())),
            Value::Float(f) => w.scalar("float", Some(format_float(f).into_bytes())),
            Value::String(s) => w.scalar("string", Some(s.as_bytes().to_vec())),
            Value::Path(p) => w.scalar("path", Some(p.as_os_str().as_encoded_bytes().to_vec())),
            Value::List(l) => {
                w.element("list", &BTreeMap::new(), false);
                work.push(Item::Close("list"));
                work.extend(l.iter().rev().map(|x| Item::Val(x.clone())));
            }
            Value::Attrs(a) => {
                let get = |k: &str| a.get(&NixString::from(k)).cloned();
                let is_drv = matches!(get("type").map(|t| t.resolved()), Some(Value::String(t)) if t.as_bytes() == b"derivation");
                let mut show = true;
                if is_drv {
                    let mut attrs = BTreeMap::new();
                    let mut drv_path = None;
                    for (key, name) in [("drvPath", "drvPath"), ("outPath", "outPath")] {
                        if let Some(x) = get(key) {
                            let x = if strict {
                                force(co, x).await?
                            } else {
                                x.resolved()
                            };
                            if let Value::String(s) = x {
                                if key == "drvPath" {
                                    drv_path = Some(s.as_bytes().to_vec());
                                }
                                attrs.insert(name, s.as_bytes().to_vec());
                            }
                        }
                    }
                    w.element("derivation", &attrs, false);
                    work.push(Item::Close("derivation"));
                    show = matches!(&drv_path, Some(p) if drvs_seen.insert(p.clone()));
                    if !show {
                        w.scalar("repeated", None);
                    }
                } else {
                    w.element("attrs", &BTreeMap::new(), false);
                    work.push(Item::Close("attrs"));
                }
                if show {
                    for (k, x) in a.iter().rev() {
                        work.push(Item::Close("attr"));
                        work.push(Item::Val(x.clone()));
                        let mut attrs = BTreeMap::new();
                        attrs.insert("name", k.as_bytes().to_vec());
                        if location {
                            if let Some((source, offset)) = a.pos_of(k) {
                                add_location(&mut attrs, &source, offset);
                            }
                        }
                        work.push(Item::Open("attr", attrs));
                    }
                }
            }
            Value::Closure(c) => {
                let lambda = &c.lambda;
                let mut attrs = BTreeMap::new();
                if location {
                    add_location(&mut attrs, &lambda.span.source, lambda.span.start);
                }
                w.element("function", &attrs, false);
                match &lambda.params {
                    Params::Formals {
                        formals, ellipsis, ..
                    } => {
                        let mut attrs = BTreeMap::new();
                        if *ellipsis {
                            attrs.insert("ellipsis", b"1".to_vec());
                        }
                        if let Some(n) = &lambda.param_name {
                            attrs.insert("name", n.as_bytes().to_vec());
                        }
                        w.element("attrspat", &attrs, false);
                        let mut names: Vec<&NixString> = formals.iter().map(|f| &f.name).collect();
                        names.sort();
                        for n in names {
                            let mut a = BTreeMap::new();
                            a.insert("name", n.as_bytes().to_vec());
                            w.element("attr", &a, true);
                        }
                        w.close("attrspat");
                    }
                    Params::Ident => {
                        let mut a = BTreeMap::new();
                        if let Some(n) = &lambda.param_name {
                            a.insert("name", n.as_bytes().to_vec());
                        }
                        w.element("varpat", &a, true);
                    }
                }
                w.close("function");
            }
            Value::Builtin(_) | Value::Thunk(_) => w.scalar("unevaluated", None),
        }
    }
    w.out.extend_from_slice(b"</expr>\n");
    Ok(w.out)
}
