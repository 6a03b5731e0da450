//! Attribute-set builtins: `attrNames`, `attrValues`, `getAttr`, `hasAttr`,
//! `removeAttrs`, `listToAttrs`, `mapAttrs`, `catAttrs`, `intersectAttrs`,
//! `zipAttrsWith` and `unsafeGetAttrPos`, with C++ Nix 2.8's behaviour and
//! messages.

use std::collections::BTreeMap;

use super::args::{attrs_arg, function_arg, list_arg, name_arg, sync};
use super::fast;
use super::lists::force_while;
use crate::eval::error::ErrorKind;
use crate::eval::value::{Attrs, List, NixString, Thunk, Value};
use crate::eval::vm::{Co, GenFuture};

builtins! {
    #[fast(fast::attr_names)] "attrNames" => attr_names,
    #[fast(fast::attr_values)] "attrValues" => attr_values,
    #[fast(fast::get_attr)] "getAttr" => get_attr,
    #[fast(fast::has_attr)] "hasAttr" => has_attr,
    #[global] #[fast(remove_attrs_fast)] "removeAttrs" => remove_attrs,
    #[fast(list_to_attrs_fast)] "listToAttrs" => list_to_attrs, #[fast(map_attrs_fast)] #[strict_last] "mapAttrs" => map_attrs,
    "zipAttrsWith" => zip_attrs_with,
    "catAttrs" => cat_attrs, #[fast(intersect_attrs_fast)] "intersectAttrs" => intersect_attrs,
    "unsafeGetAttrPos" => unsafe_get_attr_pos,
}

fn attr_names(co: Co, [a]: [Value; 1]) -> GenFuture {
    sync(async move {
        let a = attrs_arg(&co, a).await?;
        Ok(Value::list(
            a.keys().map(|k| Value::String(k.clone())).collect(),
        ))
    })
}

fn attr_values(co: Co, [a]: [Value; 1]) -> GenFuture {
    sync(async move {
        let a = attrs_arg(&co, a).await?;
        Ok(Value::list(a.values().cloned().collect()))
    })
}

fn get_attr(co: Co, [k, a]: [Value; 2]) -> GenFuture {
    sync(async move {
        let k = name_arg(&co, k).await?;
        let a = attrs_arg(&co, a).await?;
        a.get(&k)
            .cloned()
            .ok_or_else(|| ErrorKind::AttributeMissing {
                name: k.to_string(),
                hint: String::new(),
            })
    })
}

fn has_attr(co: Co, [k, a]: [Value; 2]) -> GenFuture {
    sync(async move {
        let k = name_arg(&co, k).await?;
        let a = attrs_arg(&co, a).await?;
        Ok(Value::Bool(a.contains_key(&k)))
    })
}

/// `removeAttrs`'s fast path: the set and the list evaluated, every name
/// an evaluated string without context.
fn remove_attrs_fast([a, names]: &[Value; 2]) -> Option<Value> {
    let (Value::Attrs(a), Value::List(names)) = (fast::ready(a)?, fast::ready(names)?) else {
        return None;
    };
    let mut out = a.map.clone();
    for n in names.iter() {
        match fast::ready(n)? {
            Value::String(s) if !s.has_context() => {
                out.remove(&s);
            }
            _ => return None,
        }
    }
    Some(Value::attrs_with_pos(out, a.pos.clone()))
}

fn remove_attrs(co: Co, [a, names]: [Value; 2]) -> GenFuture {
    sync(async move {
        let a = attrs_arg(&co, a).await?;
        let names = list_arg(&co, names).await?;
        let mut out = a.map.clone();
        for n in names.iter() {
            out.remove(&name_arg(&co, n.clone()).await?);
        }
        // The positions of the attributes left stay.
        Ok(Value::attrs_with_pos(out, a.pos.clone()))
    })
}

/// `listToAttrs`'s fast path: a list of evaluated `{ name; value; }`
/// sets with evaluated names without context (as `nameValuePair`s are
/// once their list was used): no generator, and the set made by one sort.
fn list_to_attrs_fast([l]: &[Value; 1]) -> Option<Value> {
    let Value::List(l) = fast::ready(l)? else {
        return None;
    };
    let mut pairs = Vec::with_capacity(l.len());
    for item in l.iter() {
        let Value::Attrs(a) = fast::ready(item)? else {
            return None;
        };
        let Value::String(name) = fast::ready(a.get_bytes(b"name")?)? else {
            return None;
        };
        if name.has_context() {
            return None;
        }
        pairs.push((name, a.get_bytes(b"value")?.clone()));
    }
    Some(Value::attrs(Attrs::from_first_wins(pairs)))
}

fn list_to_attrs(co: Co, [l]: [Value; 1]) -> GenFuture {
    sync(async move {
        let l = list_arg(&co, l).await?;
        let mut pairs: Vec<(NixString, Value)> = Vec::with_capacity(l.len());
        for item in l.iter() {
            let a = attrs_arg(&co, item.clone()).await?;
            let name = a
                .get_bytes(b"name")
                .cloned()
                .ok_or(ErrorKind::AttributeMissing {
                    name: "name".into(),
                    hint: String::new(),
                })?;
            let name = name_arg(&co, name).await?;
            match a.get_bytes(b"value") {
                Some(value) => pairs.push((name, value.clone())),
                // As C++ Nix: a name given before wins, and this item's
                // value is never looked for.
                None if pairs.iter().any(|(n, _)| *n == name) => {}
                None => {
                    return Err(ErrorKind::AttributeMissing {
                        name: "value".into(),
                        hint: String::new(),
                    })
                }
            }
        }
        Ok(Value::attrs(Attrs::from_first_wins(pairs)))
    })
}

/// `f name v`, as a thunk (evaluated when needed).
fn apply_to_name(f: &Value, name: &NixString, v: Value) -> Value {
    let partial = Value::Thunk(Thunk::apply(f.clone(), Value::String(name.clone())));
    Value::Thunk(Thunk::apply(partial, v))
}

/// `mapAttrs`'s fast path: the set evaluated (the function is applied
/// lazily either way).
fn map_attrs_fast([f, a]: &[Value; 2]) -> Option<Value> {
    let Value::Attrs(a) = fast::ready(a)? else {
        return None;
    };
    Some(Value::attrs(
        a.iter()
            .map(|(k, v)| (k.clone(), apply_to_name(f, k, v.clone())))
            .collect(),
    ))
}

fn map_attrs(co: Co, [f, a]: [Value; 2]) -> GenFuture {
    sync(async move {
        let f = f;
        let a = attrs_arg(&co, a).await?;
        let out: Attrs = a
            .iter()
            .map(|(k, v)| (k.clone(), apply_to_name(&f, k, v.clone())))
            .collect();
        Ok(Value::attrs(out))
    })
}

/// `builtins.zipAttrsWith f sets`: for each name in any of the sets,
/// `f name [ values of that name, in list order ]`, applied lazily.
fn zip_attrs_with(co: Co, [f, l]: [Value; 2]) -> GenFuture {
    sync(async move {
        let f = function_arg(&co, f).await?;
        let l = list_arg(&co, l).await?;
        let mut seen: BTreeMap<NixString, List> = BTreeMap::new();
        for x in l.iter() {
            let a = attrs_arg(&co, x.clone()).await?;
            for (k, v) in a.iter() {
                seen.entry(k.clone()).or_default().push_back(v.clone());
            }
        }
        let out: Attrs = seen
            .into_iter()
            .map(|(k, vs)| {
                let v = apply_to_name(&f, &k, Value::list(vs));
                (k, v)
            })
            .collect();
        Ok(Value::attrs(out))
    })
}

/// `builtins.catAttrs name sets`: the values of attribute `name` in those
/// sets that have it, in order.
fn cat_attrs(co: Co, [name, l]: [Value; 2]) -> GenFuture {
    sync(async move {
        let name = name_arg(&co, name).await?;
        let l = list_arg(&co, l).await?;
        // The elements that are sets forced ahead, in order (the loop
        // below forces nothing else), without a round trip each.
        force_while(&co, &l, |v| matches!(v, Value::Attrs(_))).await?;
        let mut out = Vec::new();
        for x in l.iter() {
            if let Some(v) = attrs_arg(&co, x.clone()).await?.get(&name) {
                out.push(v.clone());
            }
        }
        Ok(Value::list(List::from(out)))
    })
}

/// `builtins.intersectAttrs e1 e2`: the attributes of `e2` whose names are
/// also in `e1`.
/// `intersectAttrs`'s fast path: both sets evaluated.
fn intersect_attrs_fast([names, values]: &[Value; 2]) -> Option<Value> {
    match (fast::ready(names)?, fast::ready(values)?) {
        (Value::Attrs(names), Value::Attrs(values)) => {
            Some(Value::attrs(intersection(&names, &values)))
        }
        _ => None,
    }
}

/// The entries of `values` whose names `names` has.
fn intersection(names: &Attrs, values: &Attrs) -> Attrs {
    if let (Some(n), Some(v)) = (names.as_sorted_slice(), values.as_sorted_slice()) {
        // Two small sets: one merge of the sorted names, already in order.
        let mut out = Vec::with_capacity(n.len().min(v.len()));
        let (mut i, mut j) = (0, 0);
        while let (Some((a, _)), Some((b, x))) = (n.get(i), v.get(j)) {
            match a.cmp(b) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    out.push((b.clone(), x.clone()));
                    i += 1;
                    j += 1;
                }
            }
        }
        return Attrs::from_distinct(out);
    }
    if names.len() < values.len() {
        names
            .keys()
            .filter_map(|k| values.get(k).map(|v| (k.clone(), v.clone())))
            .collect()
    } else {
        values
            .iter()
            .filter(|(k, _)| names.contains_key(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn intersect_attrs(co: Co, [names, values]: [Value; 2]) -> GenFuture {
    sync(async move {
        let names = attrs_arg(&co, names).await?;
        let values = attrs_arg(&co, values).await?;
        Ok(Value::attrs(intersection(&names, &values)))
    })
}

/// `builtins.unsafeGetAttrPos name set`: `{ file; line; column; }` where
/// the attribute was defined, or `null` (no such attribute, or a set made
/// by a builtin).
fn unsafe_get_attr_pos(co: Co, [name, set]: [Value; 2]) -> GenFuture {
    sync(async move {
        let name = name_arg(&co, name).await?;
        let set = attrs_arg(&co, set).await?;
        if !set.contains_key(&name) {
            return Ok(Value::Null);
        }
        Ok(match set.pos_of(&name) {
            Some((source, offset)) => crate::eval::compiler::offset_attrs(&source, offset),
            None => Value::Null,
        })
    })
}
