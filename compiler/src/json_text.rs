//! `google.protobuf.Value`, `Struct` and `ListValue`, which evr reads as a `string` holding their
//! JSON text: one canonical text for the same value, however it came (JSON or protobuf binary),
//! so rules can compare it and read into it with `json_string` / `json_int`.
//!
//! Canonical: no spaces; object keys sorted; numbers as protobuf's `double` holds them, an
//! integral one within ±2^53 without a fraction (`1`, not `1.0`), others in their shortest form.

use serde_json::Value as Json;

/// Which of the three messages a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Any JSON value (`null` too).
    Value,
    /// A JSON object.
    Struct,
    /// A JSON array.
    List,
}

impl Shape {
    pub fn of_message(full_name: &str) -> Option<Shape> {
        match full_name {
            "google.protobuf.Value" => Some(Shape::Value),
            "google.protobuf.Struct" => Some(Shape::Struct),
            "google.protobuf.ListValue" => Some(Shape::List),
            _ => None,
        }
    }

    pub fn fits(self, v: &Json) -> bool {
        match self {
            Shape::Value => true,
            Shape::Struct => v.is_object(),
            Shape::List => v.is_array(),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Shape::Value => "a JSON value",
            Shape::Struct => "a JSON object",
            Shape::List => "a JSON array",
        }
    }
}

/// The canonical text of a JSON value (see the module's doc).
pub fn canonical(v: &Json) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// The value of a text of the given shape, if it is one.
pub fn parse(shape: Shape, text: &str) -> Option<Json> {
    accept(shape, serde_json::from_str::<Json>(text).ok()?)
}

/// A value, if it has the given shape and protobuf's Value can hold its numbers.
pub fn accept(shape: Shape, v: Json) -> Option<Json> {
    (shape.fits(&v) && numbers_are_doubles(&v)).then_some(v)
}

/// Protobuf's Value holds numbers as doubles: NaN and infinities have no JSON form.
fn numbers_are_doubles(v: &Json) -> bool {
    match v {
        Json::Number(n) => n.as_f64().is_some_and(f64::is_finite),
        Json::Array(items) => items.iter().all(numbers_are_doubles),
        Json::Object(m) => m.values().all(numbers_are_doubles),
        _ => true,
    }
}

fn write(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&number(n.as_f64().unwrap_or(0.0))),
        Json::String(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                write(&m[k], out);
            }
            out.push('}');
        }
    }
}

/// A double as canonical JSON: integral within ±2^53 as an integer, else its shortest form.
pub fn number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
        format!("{}", f as i64)
    } else {
        serde_json::to_string(&f).unwrap_or_else(|_| "0".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_texts() {
        let v: Json =
            serde_json::from_str(r#"{ "b": [1, 2.5, 1e3, -0.0], "a": {"y": null, "x": "é\n"}, "c": true }"#).unwrap();
        assert_eq!(canonical(&v), r#"{"a":{"x":"é\n","y":null},"b":[1,2.5,1000,0],"c":true}"#);
        assert_eq!(number(1e300), "1e+300");
        assert_eq!(number(9_007_199_254_740_993.0), "9007199254740992");
        assert!(parse(Shape::Struct, "[1]").is_none());
        assert!(parse(Shape::List, "[1]").is_some());
        assert!(parse(Shape::Value, "nope").is_none());
    }
}
