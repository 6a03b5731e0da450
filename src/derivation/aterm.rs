//! The ATerm text form of derivations,
//! `Derive([outputs],[inputDrvs],[inputSrcs],"system","builder",[args],[env])`,
//! byte for byte as C++ Nix writes it, and a strict parser for it.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use bstr::BString;

use super::{Derivation, DerivationError, Output};
use crate::store_path::{StoreDir, StorePath};

/// How the keys of `inputDrvs` are written.
pub(crate) enum InputDrvKeys<'a> {
    /// The absolute `.drv` paths (the stored form).
    Paths,
    /// Replacement keys, already in order (`hashDerivationModulo` uses the
    /// base-16 modulo hashes of the inputs).
    Replaced(&'a BTreeMap<String, BTreeSet<String>>),
}

/// Appends `s` as an ATerm string literal: `"` and `\` are escaped, newline,
/// CR and TAB become `\n`, `\r`, `\t`; every other byte is written raw.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(i) = next_special(s, start) {
        let escaped: &[u8] = match s[i] {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => b"\\t",
        };
        out.extend_from_slice(&s[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// Whether ATerm escapes byte `b`.
#[inline]
fn is_special(b: u8) -> bool {
    matches!(b, b'"' | b'\\' | b'\n' | b'\r' | b'\t')
}

/// The position of the first byte at or after `from` that ATerm escapes.
/// Environment values (build scripts, long lists of paths) are most of a
/// derivation's text and rarely need escaping, so the bytes are tested
/// eight at a time: a word with none of the five bytes is skipped whole.
fn next_special(s: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    /// Whether some byte of `w` is zero (exact: no false positives in the
    /// bytes that matter, since any hit is confirmed byte by byte).
    #[inline]
    fn has_zero(w: u64) -> bool {
        (w.wrapping_sub(ONES) & !w & HIGHS) != 0
    }
    let mut i = from;
    while let Some(chunk) = s.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let hit = [b'"', b'\\', b'\n', b'\r', b'\t']
            .iter()
            .any(|&c| has_zero(w ^ (ONES * u64::from(c))));
        if hit {
            break;
        }
        i += 8;
    }
    s[i..].iter().position(|&b| is_special(b)).map(|p| i + p)
}

/// Writes `[item,item,…]`.
fn write_list<I, F>(out: &mut Vec<u8>, items: I, mut write_item: F)
where
    I: IntoIterator,
    F: FnMut(&mut Vec<u8>, I::Item),
{
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_item(out, item);
    }
    out.push(b']');
}

fn write_input_drv(out: &mut Vec<u8>, key: &[u8], outputs: &BTreeSet<String>) {
    out.push(b'(');
    write_string(out, key);
    out.push(b',');
    write_list(out, outputs, |out, name| write_string(out, name.as_bytes()));
    out.push(b')');
}

/// The list of input derivations with replacement keys (already in order).
pub(crate) fn write_replaced_inputs(out: &mut Vec<u8>, map: &BTreeMap<String, BTreeSet<String>>) {
    write_list(out, map, |out, (key, outs)| {
        write_input_drv(out, key.as_bytes(), outs)
    })
}

impl Derivation {
    /// The ATerm form, store paths printed inside `store_dir`.
    pub fn to_aterm(&self, store_dir: &StoreDir) -> Vec<u8> {
        self.write_aterm(store_dir, InputDrvKeys::Paths)
    }

    pub(crate) fn write_aterm(&self, store_dir: &StoreDir, keys: InputDrvKeys<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(b"Derive(");
        write_list(&mut out, &self.outputs, |out, (name, output)| {
            out.push(b'(');
            write_string(out, name.as_bytes());
            out.push(b',');
            match &output.path {
                Some(path) => write_string(out, store_dir.print(path).as_bytes()),
                None => write_string(out, b""),
            }
            out.push(b',');
            write_string(out, &output.hash_algo);
            out.push(b',');
            write_string(out, &output.hash);
            out.push(b')');
        });
        out.push(b',');
        match keys {
            InputDrvKeys::Paths => write_list(&mut out, &self.input_drvs, |out, (path, outs)| {
                write_input_drv(out, store_dir.print(path).as_bytes(), outs)
            }),
            InputDrvKeys::Replaced(map) => write_replaced_inputs(&mut out, map),
        }
        out.push(b',');
        write_list(&mut out, &self.input_srcs, |out, path| {
            write_string(out, store_dir.print(path).as_bytes())
        });
        out.push(b',');
        write_string(&mut out, &self.system);
        out.push(b',');
        write_string(&mut out, &self.builder);
        out.push(b',');
        write_list(&mut out, &self.args, |out, arg| write_string(out, arg));
        out.push(b',');
        write_list(&mut out, &self.env, |out, (key, value)| {
            out.push(b'(');
            write_string(out, key);
            out.push(b',');
            write_string(out, value);
            out.push(b')');
        });
        out.push(b')');
        out
    }

    /// Parses the start of the ATerm form only, up to the input
    /// derivations: what the modulo hash of a text this evaluation wrote
    /// needs (see [`Derivation::hash_modulo_of_aterm`]).
    pub(crate) fn head_from_aterm(input: &[u8], store_dir: &StoreDir) -> Result<AtermHead> {
        Parser {
            input,
            pos: 0,
            store_dir,
        }
        .head()
    }

    /// Parses the ATerm form strictly: the exact syntax C++ Nix writes (no
    /// whitespace, nothing after the final `)`), valid store paths inside
    /// `store_dir`, and no duplicate keys. Entries need not be sorted.
    pub fn from_aterm(input: &[u8], store_dir: &StoreDir) -> Result<Derivation> {
        Parser {
            input,
            pos: 0,
            store_dir,
        }
        .derivation()
    }
}

/// A derivation's outputs and input derivations, read from the start of
/// its ATerm text, and the bytes of the text the input list takes.
pub(crate) struct AtermHead {
    pub outputs: BTreeMap<String, Output>,
    pub input_drvs: BTreeMap<StorePath, BTreeSet<String>>,
    pub inputs: Range<usize>,
}

/// A cursor over the input; every method either consumes what it expects or
/// reports the offset where it stopped.
struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    store_dir: &'a StoreDir,
}

/// How an unexpected byte is shown in an error.
fn describe(found: Option<u8>) -> String {
    match found {
        None => "end of input".to_owned(),
        Some(b) if b.is_ascii_graphic() || b == b' ' => format!("'{}'", b as char),
        Some(b) => format!("byte 0x{b:02x}"),
    }
}

type Result<T> = std::result::Result<T, DerivationError>;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn error<T>(&self, expected: &'static str) -> Result<T> {
        Err(DerivationError::Syntax {
            offset: self.pos,
            expected,
            found: describe(self.peek()),
        })
    }

    /// Consumes `literal` or fails naming it (`expected` is its quoted form).
    fn expect(&mut self, literal: &[u8], expected: &'static str) -> Result<()> {
        let end = self.pos.saturating_add(literal.len());
        match self.input.get(self.pos..end) {
            Some(s) if s == literal => {
                self.pos = end;
                Ok(())
            }
            _ => {
                // Point at the first byte that differs.
                let same = self.input[self.pos..]
                    .iter()
                    .zip(literal)
                    .take_while(|(a, b)| a == b)
                    .count();
                self.pos += same;
                self.error(expected)
            }
        }
    }

    /// Consumes `b` if it is next.
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A string literal; returns its start offset and unescaped bytes.
    fn string(&mut self) -> Result<(usize, Vec<u8>)> {
        let start = self.pos;
        self.expect(b"\"", "'\"'")?;
        let mut value = Vec::new();
        loop {
            let rest = &self.input[self.pos..];
            let Some(stop) = rest.iter().position(|&b| b == b'"' || b == b'\\') else {
                self.pos = self.input.len();
                return self.error("'\"' closing the string");
            };
            value.extend_from_slice(&rest[..stop]);
            self.pos += stop;
            if self.eat(b'"') {
                return Ok((start, value));
            }
            // A backslash: the next byte is escaped.
            self.pos += 1;
            let Some(c) = self.peek() else {
                return self.error("an escaped character");
            };
            value.push(match c {
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                other => other,
            });
            self.pos += 1;
        }
    }

    /// A string holding an absolute store path inside the store directory.
    fn store_path(&mut self, what: &'static str) -> Result<(usize, StorePath)> {
        let (offset, bytes) = self.string()?;
        let s = utf8(offset, what, bytes)?;
        let path = self
            .store_dir
            .parse_path(&s)
            .map_err(|source| DerivationError::InvalidStorePath { offset, source })?;
        Ok((offset, path))
    }

    /// `[item,item,…]`, calling `item` for each element.
    fn list(&mut self, mut item: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.expect(b"[", "'['")?;
        if self.eat(b']') {
            return Ok(());
        }
        loop {
            item(self)?;
            if self.eat(b']') {
                return Ok(());
            }
            if !self.eat(b',') {
                return self.error("',' or ']'");
            }
        }
    }

    /// The list of outputs: `[("out","/nix/store/…","",""),…]`.
    fn outputs(&mut self) -> Result<BTreeMap<String, Output>> {
        let mut outputs = BTreeMap::new();
        self.list(|p| {
            p.expect(b"(", "'('")?;
            let (offset, name) = p.string()?;
            let name = utf8(offset, "output name", name)?;
            p.expect(b",", "','")?;
            let (path_offset, path) = p.string()?;
            let path = if path.is_empty() {
                None
            } else {
                let path = utf8(path_offset, "output path", path)?;
                Some(p.store_dir.parse_path(&path).map_err(|source| {
                    DerivationError::InvalidStorePath {
                        offset: path_offset,
                        source,
                    }
                })?)
            };
            p.expect(b",", "','")?;
            let hash_algo = BString::from(p.string()?.1);
            p.expect(b",", "','")?;
            let hash = BString::from(p.string()?.1);
            p.expect(b")", "')'")?;
            if outputs.contains_key(&name) {
                return Err(DerivationError::DuplicateOutput { offset, name });
            }
            outputs.insert(
                name,
                Output {
                    path,
                    hash_algo,
                    hash,
                },
            );
            Ok(())
        })?;
        Ok(outputs)
    }

    /// The start of a derivation's text, up to its input derivations (see
    /// [`AtermHead`]).
    fn head(&mut self) -> Result<AtermHead> {
        self.expect(b"Derive(", "'Derive('")?;
        let outputs = self.outputs()?;
        self.expect(b",", "','")?;
        let start = self.pos;
        let input_drvs = self.input_drvs()?;
        Ok(AtermHead {
            outputs,
            input_drvs,
            inputs: start..self.pos,
        })
    }

    /// The list of input derivations: `[("/nix/store/…drv",["out",…]),…]`.
    fn input_drvs(&mut self) -> Result<BTreeMap<StorePath, BTreeSet<String>>> {
        let mut input_drvs = BTreeMap::new();
        self.list(|p| {
            p.expect(b"(", "'('")?;
            let (offset, drv_path) = p.store_path("input derivation path")?;
            if input_drvs.contains_key(&drv_path) {
                return Err(DerivationError::DuplicateInputDrv {
                    offset,
                    path: p.store_dir.print(&drv_path),
                });
            }
            p.expect(b",", "','")?;
            let mut outputs = BTreeSet::new();
            p.list(|p| {
                let (offset, name) = p.string()?;
                let name = utf8(offset, "output name", name)?;
                if outputs.contains(&name) {
                    return Err(DerivationError::DuplicateInputDrvOutput {
                        offset,
                        drv: p.store_dir.print(&drv_path),
                        output: name,
                    });
                }
                outputs.insert(name);
                Ok(())
            })?;
            p.expect(b")", "')'")?;
            input_drvs.insert(drv_path, outputs);
            Ok(())
        })?;
        Ok(input_drvs)
    }

    fn derivation(mut self) -> Result<Derivation> {
        let head = self.head()?;
        let mut drv = Derivation {
            outputs: head.outputs,
            input_drvs: head.input_drvs,
            ..Derivation::default()
        };
        self.expect(b",", "','")?;

        self.list(|p| {
            let (offset, path) = p.store_path("input source path")?;
            if drv.input_srcs.contains(&path) {
                return Err(DerivationError::DuplicateInputSrc {
                    offset,
                    path: p.store_dir.print(&path),
                });
            }
            drv.input_srcs.insert(path);
            Ok(())
        })?;
        self.expect(b",", "','")?;

        drv.system = self.string()?.1.into();
        self.expect(b",", "','")?;
        drv.builder = self.string()?.1.into();
        self.expect(b",", "','")?;

        self.list(|p| {
            drv.args.push(p.string()?.1.into());
            Ok(())
        })?;
        self.expect(b",", "','")?;

        self.list(|p| {
            p.expect(b"(", "'('")?;
            let (offset, key) = p.string()?;
            p.expect(b",", "','")?;
            let value = p.string()?.1;
            p.expect(b")", "')'")?;
            let key = BString::from(key);
            if drv.env.contains_key(&key) {
                return Err(DerivationError::DuplicateEnvKey { offset, key });
            }
            drv.env.insert(key, value.into());
            Ok(())
        })?;

        self.expect(b")", "')'")?;
        if self.pos != self.input.len() {
            return self.error("end of input");
        }
        Ok(drv)
    }
}

fn utf8(offset: usize, what: &'static str, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| DerivationError::NotUtf8 {
        offset,
        what,
        value: e.into_bytes().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nixbase32;
    use proptest::prelude::*;

    const P1: &str = "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar";
    const P2: &str = "/nix/store/0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv";
    const P3: &str = "/nix/store/5vyvcwah9l9kf07d52rcgdk70g2f4y13-foo";

    fn store() -> StoreDir {
        StoreDir::default()
    }

    fn parse(s: &str) -> Result<Derivation> {
        Derivation::from_aterm(s.as_bytes(), &store())
    }

    /// A derivation with something in every field.
    fn sample() -> String {
        format!(
            r#"Derive([("lib","","",""),("out","{P3}","","")],[("{P2}",["lib","out"])],["{P1}"],"x86_64-linux","/bin/sh",["-c","echo \"hi\"\n"],[("a","\\x\t"),("b","")])"#
        )
    }

    #[test]
    fn strings_are_escaped_wherever_the_special_bytes_fall() {
        fn naive(s: &[u8]) -> Vec<u8> {
            let mut out = vec![b'"'];
            for &b in s {
                match b {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    _ => out.push(b),
                }
            }
            out.push(b'"');
            out
        }
        // Every special byte (and bytes next to them in value: 0x21, 0x5b,
        // 0x0b, 0x80, 0xff) at every position of strings of length 0..24.
        for len in 0..24 {
            for pos in 0..len.max(1) {
                for &c in b"\"\\\n\r\t!\x5b\x0b\x80\xffa" {
                    let mut s = vec![b'x'; len];
                    if pos < len {
                        s[pos] = c;
                    }
                    if len > 3 {
                        s[len - 1] = b'\n';
                    }
                    let mut out = Vec::new();
                    write_string(&mut out, &s);
                    assert_eq!(out, naive(&s), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn parses_and_writes_back() {
        let s = sample();
        let drv = parse(&s).unwrap();
        assert_eq!(drv.outputs.len(), 2);
        assert_eq!(drv.outputs["lib"].path, None);
        assert_eq!(drv.outputs["out"].path.as_ref().unwrap().name(), "foo");
        assert_eq!(
            drv.input_drvs.values().next().unwrap(),
            &BTreeSet::from(["lib".to_owned(), "out".to_owned()])
        );
        assert_eq!(drv.args[1], "echo \"hi\"\n");
        assert_eq!(drv.env[&BString::from("a")], "\\x\t");
        assert_eq!(drv.to_aterm(&store()), s.as_bytes());
    }

    #[test]
    fn empty_derivation_round_trips() {
        let s = r#"Derive([],[],[],"","",[],[])"#;
        let drv = parse(s).unwrap();
        assert_eq!(drv, Derivation::default());
        assert_eq!(drv.to_aterm(&store()), s.as_bytes());
    }

    #[test]
    fn escapes() {
        let mut out = Vec::new();
        write_string(&mut out, b"a\"b\\c\nd\re\tf\x00\xff");
        assert_eq!(out, b"\"a\\\"b\\\\c\\nd\\re\\tf\x00\xff\"");
        // Unknown escapes stand for the escaped byte itself.
        let drv = parse(r#"Derive([],[],[],"\a\"\\\q\n","",[],[])"#).unwrap();
        assert_eq!(drv.system, "a\"\\q\n");
    }

    #[test]
    fn other_store_dirs() {
        let dir = StoreDir::new("/gnu/store").unwrap();
        let s = sample().replace("/nix/store", "/gnu/store");
        let drv = Derivation::from_aterm(s.as_bytes(), &dir).unwrap();
        assert_eq!(drv.to_aterm(&dir), s.as_bytes());
        assert_eq!(drv.to_aterm(&store()), sample().as_bytes());
        assert!(matches!(
            Derivation::from_aterm(s.as_bytes(), &store()),
            Err(DerivationError::InvalidStorePath { .. })
        ));
    }

    #[test]
    fn truncated_input_is_rejected_everywhere() {
        let s = sample();
        for end in 0..s.len() {
            let err = Derivation::from_aterm(&s.as_bytes()[..end], &store()).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("at byte"), "{message}");
        }
    }

    #[test]
    fn syntax_errors_say_where_and_what() {
        let err = parse(r#"Derive([],[],[],"","",[],[])x"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid derivation at byte 28: expected end of input, found 'x'"
        );
        let err = parse(r#"Derive([],[][],"","",[],[])"#).unwrap_err();
        assert_eq!(
            err,
            DerivationError::Syntax {
                offset: 12,
                expected: "','",
                found: "'['".into()
            }
        );
        let err = parse(r#"Derive([],[],[],"","",["a""b"],[])"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid derivation at byte 26: expected ',' or ']', found '\"'"
        );
        let err = parse(r#"Derive([],[],[],"","",[],[("a","b" )])"#).unwrap_err();
        assert!(err.to_string().contains("byte 34: expected ')'"), "{err}");
        let err = parse(r#"Derive ([],[],[],"","",[],[])"#).unwrap_err();
        assert!(
            err.to_string().contains("byte 6: expected 'Derive('"),
            "{err}"
        );
        let err = parse(r#"Derive([],[],[],"","",[],[],)"#).unwrap_err();
        assert!(err.to_string().contains("byte 27: expected ')'"), "{err}");
        assert!(parse(r#"Derive([],[],[],"","",[,],[])"#).is_err());
        assert!(parse(r#"Derive([],[],[],"","",["a",],[])"#).is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn unterminated_strings_and_escapes() {
        let err = parse(r#"Derive([],[],[],"abc"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid derivation at byte 20: expected '\"' closing the string, found end of input"
        );
        let err = parse(r#"Derive([],[],[],"abc\"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid derivation at byte 21: expected an escaped character, found end of input"
        );
    }

    #[test]
    fn bad_store_paths() {
        for bad in [
            "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3",
            "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-bar",
            "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar/x",
            "/tmp/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar",
            "bar",
        ] {
            let as_src = format!(r#"Derive([],[],["{bad}"],"","",[],[])"#);
            let err = parse(&as_src).unwrap_err();
            assert!(
                matches!(err, DerivationError::InvalidStorePath { offset: 14, .. }),
                "{bad}: {err}"
            );
            let as_out = format!(r#"Derive([("out","{bad}","","")],[],[],"","",[],[])"#);
            assert!(matches!(
                parse(&as_out),
                Err(DerivationError::InvalidStorePath { offset: 15, .. })
            ));
            let as_drv = format!(r#"Derive([],[("{bad}",["out"])],[],"","",[],[])"#);
            assert!(matches!(
                parse(&as_drv),
                Err(DerivationError::InvalidStorePath { offset: 12, .. })
            ));
        }
        let err = parse("Derive([],[],[\"/nix/store/\u{fc}\"],\"\",\"\",[],[])").unwrap_err();
        assert!(matches!(err, DerivationError::InvalidStorePath { .. }));
        let err = Derivation::from_aterm(b"Derive([],[],[\"\xff\"],\"\",\"\",[],[])", &store())
            .unwrap_err();
        assert!(matches!(err, DerivationError::NotUtf8 { offset: 14, .. }));
    }

    #[test]
    fn duplicates_are_rejected() {
        let err = parse(r#"Derive([],[],[],"","",[],[("a","1"),("b",""),("a","2")])"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid derivation at byte 46: duplicate environment variable \"a\""
        );
        let err = parse(&format!(
            r#"Derive([("out","{P3}","",""),("out","","","")],[],[],"","",[],[])"#
        ))
        .unwrap_err();
        assert!(
            matches!(&err, DerivationError::DuplicateOutput { name, .. } if name == "out"),
            "{err}"
        );
        let err = parse(&format!(
            r#"Derive([],[("{P2}",["out"]),("{P2}",["lib"])],[],"","",[],[])"#
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("invalid derivation at byte 76: duplicate input derivation '{P2}'")
        );
        let err = parse(&format!(
            r#"Derive([],[],["{P1}","{P3}","{P1}"],"","",[],[])"#
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("invalid derivation at byte 114: duplicate input source '{P1}'")
        );
        let err = parse(&format!(
            r#"Derive([],[("{P2}",["out","lib","out"])],[],"","",[],[])"#
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid derivation at byte 79: duplicate output 'out' of input derivation '{P2}'"
            )
        );
    }

    #[test]
    fn unsorted_entries_are_accepted() {
        let drv = parse(r#"Derive([],[],[],"","",[],[("b","1"),("a","2")])"#).unwrap();
        assert_eq!(
            drv.to_aterm(&store()),
            br#"Derive([],[],[],"","",[],[("a","2"),("b","1")])"#
        );
    }

    fn bytes() -> impl Strategy<Value = BString> {
        let byte = prop_oneof![
            Just(b'"'),
            Just(b'\\'),
            Just(b'\n'),
            Just(b'\r'),
            Just(b'\t'),
            Just(b'('),
            Just(b','),
            any::<u8>(),
        ];
        proptest::collection::vec(byte, 0..12).prop_map(BString::from)
    }

    fn store_path() -> impl Strategy<Value = StorePath> {
        (
            proptest::collection::vec(any::<u8>(), 20),
            "[a-zA-Z0-9+_?=-][a-zA-Z0-9+._?=-]{0,15}",
        )
            .prop_map(|(digest, name)| {
                StorePath::parse_base_name(&format!("{}-{name}", nixbase32::encode(&digest)))
                    .unwrap()
            })
    }

    fn output() -> impl Strategy<Value = Output> {
        (proptest::option::of(store_path()), bytes(), bytes()).prop_map(
            |(path, hash_algo, hash)| Output {
                path,
                hash_algo,
                hash,
            },
        )
    }

    fn derivation() -> impl Strategy<Value = Derivation> {
        use proptest::collection::{btree_map, btree_set, vec};
        (
            btree_map("[a-z\"\\\\\u{e9}]{0,6}", output(), 0..4),
            btree_map(store_path(), btree_set("[a-z]{1,4}", 0..3), 0..3),
            btree_set(store_path(), 0..3),
            bytes(),
            bytes(),
            vec(bytes(), 0..4),
            btree_map(bytes(), bytes(), 0..6),
        )
            .prop_map(
                |(outputs, input_drvs, input_srcs, system, builder, args, env)| Derivation {
                    outputs,
                    input_drvs,
                    input_srcs,
                    system,
                    builder,
                    args,
                    env,
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(drv in derivation()) {
            let aterm = drv.to_aterm(&store());
            let parsed = Derivation::from_aterm(&aterm, &store()).unwrap();
            prop_assert_eq!(&parsed, &drv);
            prop_assert_eq!(parsed.to_aterm(&store()), aterm);
        }

        /// The modulo hash taken from the text (only its outputs and
        /// input list parsed) is the one taken from the parsed derivation.
        #[test]
        fn modulo_hash_from_text(drv in derivation()) {
            let lookup = |p: &StorePath| {
                Ok(crate::hash::Hash::of_bytes(crate::hash::HashAlgo::Sha256, p.to_string().as_bytes()))
            };
            let from_text = Derivation::hash_modulo_of_aterm(&drv.to_aterm(&store()), &store(), &mut |p| lookup(p));
            let direct = drv.hash_derivation_modulo(&store(), &mut |p| lookup(p));
            match (from_text, direct) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                (a, b) => prop_assert!(false, "{:?} vs {:?}", a.map(|_| ()), b.map(|_| ())),
            }
        }

        #[test]
        fn garbage_never_panics(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Derivation::from_aterm(&input, &store());
        }

        #[test]
        fn damaged_derivations_never_panic(
            drv in derivation(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut aterm = drv.to_aterm(&store());
            let end = cut.index(aterm.len());
            prop_assert!(Derivation::from_aterm(&aterm[..end], &store()).is_err());
            for (at, byte) in edits {
                let i = at.index(aterm.len());
                aterm[i] = byte;
            }
            let _ = Derivation::from_aterm(&aterm, &store());
            let _ = Derivation::from_aterm(&aterm[..end], &store());
        }
    }
}
