//! `builtins.fromTOML`, on the `toml_edit` parser: tables become sets,
//! arrays (and arrays of tables) lists, and integers, floats, Booleans and
//! strings the matching Nix values. Dates and times are an error, or with
//! the experimental feature `parse-toml-timestamps` (newer Nix) sets
//! `{ _type = "timestamp"; value = "…"; }` with the text C++ Nix's toml11
//! prints for them.

use std::fmt::Write as _;

use toml_edit::{Datetime, Item, Offset, Table, Value as TomlValue};

use super::args::{name_arg, sync};
use crate::eval::error::ErrorKind;
use crate::eval::value::{Attrs, List, NixString, Value};
use crate::eval::vm::{Co, GenFuture};

builtins! {
    #[global] "fromTOML" => from_toml,
}

/// `fromTOML` with the experimental feature `parse-toml-timestamps`.
pub(crate) fn from_toml_timestamps_spec() -> super::args::Spec {
    spec!(#[global] "fromTOML" => from_toml_timestamps)
}

fn from_toml(co: Co, [text]: [Value; 1]) -> GenFuture {
    sync(async move {
        let text = name_arg(&co, text).await?;
        parse(text.as_bytes(), false)
    })
}

fn from_toml_timestamps(co: Co, [text]: [Value; 1]) -> GenFuture {
    sync(async move {
        let text = name_arg(&co, text).await?;
        parse(text.as_bytes(), true)
    })
}

/// An error of `fromTOML`, worded as C++ Nix 2.8 words them.
fn toml_error(msg: impl std::fmt::Display) -> ErrorKind {
    let msg = msg.to_string();
    ErrorKind::Other(format!(
        "while parsing a TOML string: {}",
        msg.trim_end_matches('\n')
    ))
}

/// The Nix value of a TOML document.
pub(crate) fn parse(text: &[u8], timestamps: bool) -> Result<Value, ErrorKind> {
    let text = std::str::from_utf8(text)
        .map_err(|e| toml_error(format!("invalid UTF-8 in the input: {e}")))?;
    let doc = toml_edit::Document::parse(text).map_err(toml_error)?;
    let conv = Converter { timestamps };
    match doc.as_item() {
        Item::Table(t) => conv.table(t),
        _ => Ok(Value::attrs(Attrs::new())),
    }
}

struct Converter {
    timestamps: bool,
}

/// A key or string as a Nix string: Nix strings cannot hold NUL bytes.
fn nix_string(s: &str) -> Result<NixString, ErrorKind> {
    if s.contains('\0') {
        return Err(toml_error(format!(
            "input string '{}' cannot be represented as Nix string because it contains null bytes",
            s.replace('\0', "\u{2400}")
        )));
    }
    Ok(NixString::from(s))
}

impl Converter {
    fn table(&self, t: &Table) -> Result<Value, ErrorKind> {
        let mut out = Attrs::new();
        for (k, item) in t.iter() {
            let v = match item {
                Item::None => continue,
                Item::Value(v) => self.value(v)?,
                Item::Table(t) => self.table(t)?,
                Item::ArrayOfTables(a) => {
                    let mut list = List::new();
                    for t in a.iter() {
                        list.push_back(self.table(t)?);
                    }
                    Value::list(list)
                }
            };
            out.insert(nix_string(k)?, v);
        }
        Ok(Value::attrs(out))
    }

    fn value(&self, v: &TomlValue) -> Result<Value, ErrorKind> {
        Ok(match v {
            TomlValue::String(s) => Value::String(nix_string(s.value())?),
            TomlValue::Integer(i) => Value::Int(*i.value()),
            TomlValue::Float(f) => Value::Float(*f.value()),
            TomlValue::Boolean(b) => Value::Bool(*b.value()),
            TomlValue::Datetime(d) => {
                if !self.timestamps {
                    return Err(toml_error("Dates and times are not supported"));
                }
                super::args::attrs_from([
                    ("_type", Value::string("timestamp")),
                    ("value", Value::string(timestamp_text(d.value()))),
                ])
            }
            TomlValue::Array(a) => {
                let mut list = List::new();
                for v in a.iter() {
                    list.push_back(self.value(v)?);
                }
                Value::list(list)
            }
            TomlValue::InlineTable(t) => {
                let mut out = Attrs::new();
                for (k, v) in t.iter() {
                    out.insert(nix_string(k)?, self.value(v)?);
                }
                Value::attrs(out)
            }
        })
    }
}

/// A date or time as toml11 prints it: `T` between date and time, the
/// fraction of a second in groups of three digits as far as it is not
/// zero, and a zero offset as `Z`.
fn timestamp_text(d: &Datetime) -> String {
    let mut s = String::new();
    if let Some(date) = &d.date {
        let _ = write!(s, "{:04}-{:02}-{:02}", date.year, date.month, date.day);
    }
    if let Some(time) = &d.time {
        if d.date.is_some() {
            s.push('T');
        }
        let second = time.second.unwrap_or(0);
        let _ = write!(s, "{:02}:{:02}:{second:02}", time.hour, time.minute);
        let nanos = time.nanosecond.unwrap_or(0);
        if nanos != 0 {
            let (ms, us, ns) = (nanos / 1_000_000, nanos / 1_000 % 1_000, nanos % 1_000);
            let _ = write!(s, ".{ms:03}");
            if us != 0 || ns != 0 {
                let _ = write!(s, "{us:03}");
                if ns != 0 {
                    let _ = write!(s, "{ns:03}");
                }
            }
        }
    }
    match d.offset {
        None | Some(Offset::Z) | Some(Offset::Custom { minutes: 0 }) => {
            if d.offset.is_some() {
                s.push('Z');
            }
        }
        Some(Offset::Custom { minutes }) => {
            let sign = if minutes < 0 { '-' } else { '+' };
            let m = minutes.unsigned_abs();
            let _ = write!(s, "{sign}{:02}:{:02}", m / 60, m % 60);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> String {
        let doc = toml_edit::Document::parse(format!("a = {text}")).expect("valid TOML");
        match doc.as_table().get("a") {
            Some(Item::Value(TomlValue::Datetime(d))) => timestamp_text(d.value()),
            _ => panic!("not a datetime"),
        }
    }

    #[test]
    fn timestamps_as_toml11_prints_them() {
        assert_eq!(ts("1979-05-27 07:32:00Z"), "1979-05-27T07:32:00Z");
        assert_eq!(
            ts("1979-05-27t07:32:00.1234z"),
            "1979-05-27T07:32:00.123400Z"
        );
        assert_eq!(
            ts("1979-05-27T00:32:00.999999-07:00"),
            "1979-05-27T00:32:00.999999-07:00"
        );
        assert_eq!(ts("1979-05-27T00:32:00+00:00"), "1979-05-27T00:32:00Z");
        assert_eq!(ts("1979-05-27T00:32:00.1"), "1979-05-27T00:32:00.100");
        assert_eq!(ts("00:32:00.1234567"), "00:32:00.123456700");
        assert_eq!(ts("1979-05-27"), "1979-05-27");
    }
}
