//! Embedded JSON: reading one value at a constant path. Never an error: null when the text is not
//! JSON, or the path is absent or holds another type.

use serde_json::Value;

use crate::constant::JsonStep;

fn at<'a>(mut v: &'a Value, path: &[JsonStep]) -> Option<&'a Value> {
    for step in path {
        v = match step {
            JsonStep::Key(k) => v.as_object()?.get(k)?,
            JsonStep::Index(i) => v.as_array()?.get(*i)?,
        };
    }
    Some(v)
}

pub fn json_string(text: &str, path: &[JsonStep]) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    at(&v, path)?.as_str().map(str::to_owned)
}

pub fn json_int(text: &str, path: &[JsonStep]) -> Option<i64> {
    let v: Value = serde_json::from_str(text).ok()?;
    at(&v, path)?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constant::parse_json_path;

    #[test]
    fn paths() {
        let p = parse_json_path("$.a.b[1]").unwrap();
        assert_eq!(json_int(r#"{"a":{"b":[1,2]}}"#, &p), Some(2));
        assert_eq!(json_string(r#"{"a":{"b":[1,2]}}"#, &p), None);
        assert_eq!(json_int("not json", &p), None);
        assert_eq!(json_int(r#"{"a":{"b":[1,2.5]}}"#, &p), None);
        assert_eq!(json_string(r#"{"s":"x"}"#, &parse_json_path("$.s").unwrap()).as_deref(), Some("x"));
    }
}
