//! Strings. Lengths and positions count Unicode scalar values, not bytes.

pub fn len(s: &str) -> i64 {
    s.chars().count() as i64
}

/// `substr(s, start, len)`, clamped to the string's bounds: a negative start counts as 0, a
/// negative length as 0.
pub fn substr(s: &str, start: i64, len: i64) -> &str {
    let start = start.max(0) as usize;
    let len = len.max(0) as usize;
    let mut indices = s.char_indices().map(|(i, _)| i).chain(std::iter::once(s.len()));
    let Some(from) = indices.nth(start) else { return "" };
    let to = if len == 0 { from } else { indices.nth(len - 1).unwrap_or(s.len()) };
    &s[from..to]
}

/// `split(s, sep)`: every piece, empty ones included (`split("", ",") == [""]`). An empty
/// separator splits into characters.
pub fn split<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    if sep.is_empty() {
        return s.char_indices().map(|(i, c)| &s[i..i + c.len_utf8()]).collect();
    }
    s.split(sep).collect()
}

/// `replace(s, from, to)`: every occurrence; an empty `from` changes nothing.
pub fn replace(s: &str, from: &str, to: &str) -> String {
    if from.is_empty() { s.to_owned() } else { s.replace(from, to) }
}

/// `extract(s, pattern, group)`: the text of a group of the first match.
pub fn extract<'a>(re: &regex::Regex, s: &'a str, group: i64) -> Option<&'a str> {
    let group = usize::try_from(group).ok()?;
    re.captures(s)?.get(group).map(|m| m.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substr_counts_characters_and_clamps() {
        assert_eq!(substr("日本国", 0, 2), "日本");
        assert_eq!(substr("héllo", 1, 3), "éll");
        assert_eq!(substr("abc", 2, 10), "c");
        assert_eq!(substr("abc", 5, 1), "");
        assert_eq!(substr("abc", -1, 2), "ab");
        assert_eq!(substr("abc", 1, -1), "");
        assert_eq!(substr("abc", 3, 0), "");
    }

    #[test]
    fn split_keeps_empty_pieces() {
        assert_eq!(split("", ","), vec![""]);
        assert_eq!(split("a,,b,", ","), vec!["a", "", "b", ""]);
        assert_eq!(split("né", ""), vec!["n", "é"]);
    }
}
