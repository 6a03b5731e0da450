//! The JSON form of a derivation as `nix show-derivation` prints it (without
//! the outer object keyed by the `.drv` path): keys sorted, two-space indent.
//! Derivation strings are bytes, so bytes that are not ASCII are written raw
//! and the result is not necessarily UTF-8, just as C++ Nix's output.

use super::Derivation;
use crate::store_path::StoreDir;

/// Appends `s` as a JSON string: `"` and `\` escaped, control characters as
/// `\b \f \n \r \t` or `\u00XX`, everything else (bytes ≥ 0x80 included) raw.
pub fn write_json_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// A pretty printer for the few shapes the derivation JSON has.
struct Writer {
    out: Vec<u8>,
    depth: usize,
}

impl Writer {
    fn newline(&mut self) {
        self.out.push(b'\n');
        for _ in 0..self.depth {
            self.out.extend_from_slice(b"  ");
        }
    }

    /// Writes `open`, the entries (each on its own line), then `close`;
    /// empty containers stay on one line (`[]`, `{}`).
    fn container<I>(
        &mut self,
        open: u8,
        close: u8,
        entries: I,
        mut entry: impl FnMut(&mut Self, I::Item),
    ) where
        I: IntoIterator,
    {
        self.out.push(open);
        self.depth += 1;
        let mut empty = true;
        for item in entries {
            if !empty {
                self.out.push(b',');
            }
            empty = false;
            self.newline();
            entry(self, item);
        }
        self.depth -= 1;
        if !empty {
            self.newline();
        }
        self.out.push(close);
    }

    fn key(&mut self, key: &[u8]) {
        write_json_string(&mut self.out, key);
        self.out.extend_from_slice(b": ");
    }

    fn string(&mut self, s: &[u8]) {
        write_json_string(&mut self.out, s);
    }

    fn string_list<'a>(&mut self, items: impl IntoIterator<Item = &'a [u8]>) {
        self.container(b'[', b']', items, |w, item| w.string(item));
    }
}

/// The top-level fields, in sorted order.
enum Field {
    Args,
    Builder,
    Env,
    InputDrvs,
    InputSrcs,
    Outputs,
    System,
}

impl Derivation {
    /// The JSON form (see the module documentation).
    pub fn to_json(&self, store_dir: &StoreDir) -> Vec<u8> {
        use Field::*;
        let mut w = Writer {
            out: Vec::with_capacity(1024),
            depth: 0,
        };
        let fields = [Args, Builder, Env, InputDrvs, InputSrcs, Outputs, System];
        w.container(b'{', b'}', fields, |w, field| match field {
            Args => {
                w.key(b"args");
                w.string_list(self.args.iter().map(|a| a.as_slice()));
            }
            Builder => {
                w.key(b"builder");
                w.string(&self.builder);
            }
            Env => {
                w.key(b"env");
                w.container(b'{', b'}', &self.env, |w, (key, value)| {
                    w.key(key);
                    w.string(value);
                });
            }
            InputDrvs => {
                w.key(b"inputDrvs");
                w.container(b'{', b'}', &self.input_drvs, |w, (path, outputs)| {
                    w.key(store_dir.print(path).as_bytes());
                    w.string_list(outputs.iter().map(|o| o.as_bytes()));
                });
            }
            InputSrcs => {
                w.key(b"inputSrcs");
                let paths: Vec<String> =
                    self.input_srcs.iter().map(|p| store_dir.print(p)).collect();
                w.string_list(paths.iter().map(|p| p.as_bytes()));
            }
            Outputs => {
                w.key(b"outputs");
                w.container(b'{', b'}', &self.outputs, |w, (name, output)| {
                    w.key(name.as_bytes());
                    let path = output.path.as_ref().map(|p| store_dir.print(p));
                    let fields = [
                        (
                            &b"hash"[..],
                            Some(output.hash.as_slice()).filter(|h| !h.is_empty()),
                        ),
                        (
                            &b"hashAlgo"[..],
                            Some(output.hash_algo.as_slice()).filter(|h| !h.is_empty()),
                        ),
                        (&b"path"[..], path.as_ref().map(|p| p.as_bytes())),
                    ];
                    let present = fields
                        .into_iter()
                        .filter_map(|(key, value)| Some((key, value?)));
                    w.container(b'{', b'}', present, |w, (key, value)| {
                        w.key(key);
                        w.string(value);
                    });
                });
            }
            System => {
                w.key(b"system");
                w.string(&self.system);
            }
        });
        w.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derivation::Output;
    use crate::store_path::StorePath;
    use bstr::BString;

    #[test]
    fn escapes_like_json() {
        let mut out = Vec::new();
        write_json_string(&mut out, b"a\"\\\n\r\t\x08\x0c\x01\x1f\x7f\xc5/");
        assert_eq!(out, b"\"a\\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f\x7f\xc5/\"");
    }

    #[test]
    fn layout() {
        let store = StoreDir::default();
        let empty = Derivation::default().to_json(&store);
        assert_eq!(
            String::from_utf8(empty).unwrap(),
            "{\n  \"args\": [],\n  \"builder\": \"\",\n  \"env\": {},\n  \"inputDrvs\": {},\n  \"inputSrcs\": [],\n  \"outputs\": {},\n  \"system\": \"\"\n}"
        );
        let path = StorePath::parse_base_name("4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar").unwrap();
        let drv = Derivation {
            outputs: [
                (
                    "out".to_owned(),
                    Output {
                        path: Some(path.clone()),
                        hash_algo: "r:sha256".into(),
                        hash: "00".into(),
                    },
                ),
                ("dev".to_owned(), Output::default()),
            ]
            .into(),
            input_drvs: [(path.clone(), ["out".to_owned()].into())].into(),
            input_srcs: [path].into(),
            args: vec![BString::from("-e")],
            env: [("k".into(), "v".into())].into(),
            ..Derivation::default()
        };
        let json = String::from_utf8(drv.to_json(&store)).unwrap();
        let p = "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar";
        assert_eq!(
            json,
            format!(
                r#"{{
  "args": [
    "-e"
  ],
  "builder": "",
  "env": {{
    "k": "v"
  }},
  "inputDrvs": {{
    "{p}": [
      "out"
    ]
  }},
  "inputSrcs": [
    "{p}"
  ],
  "outputs": {{
    "dev": {{}},
    "out": {{
      "hash": "00",
      "hashAlgo": "r:sha256",
      "path": "{p}"
    }}
  }},
  "system": ""
}}"#
            )
        );
    }
}
