//! Canonical JSON: one text per value, so that digests and signatures do not depend on key order.

use serde_json::Value;

/// Writes `v` as JSON with object keys sorted, whatever map type `serde_json` was built with: the
/// canonical text that hashes and signatures are computed over.
pub fn push_canonical(out: &mut String, v: &Value) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                push_canonical(out, &map[k]);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_canonical(out, item);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `v` as canonical JSON text.
#[must_use]
pub fn canonical(v: &Value) -> String {
    let mut s = String::new();
    push_canonical(&mut s, v);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"d": [1, {"z": 0, "y": "文"}], "c": null}});
        assert_eq!(
            canonical(&v),
            r#"{"a":{"c":null,"d":[1,{"y":"文","z":0}]},"b":1}"#
        );
    }
}
