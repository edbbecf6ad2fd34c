//! Constant arguments: regular expressions, JSON paths and CIDR blocks. They are parsed once,
//! when the bundle is checked (so a bad one is a compile-time error pointing at it), and the
//! parsed form is what the evaluators use.

use std::net::IpAddr;

/// A regular expression argument of `matches` / `extract`.
pub fn compile_pattern(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| match e {
        regex::Error::Syntax(text) => {
            let last = text.lines().last().unwrap_or("invalid syntax").trim();
            last.strip_prefix("error: ").unwrap_or(last).to_owned()
        }
        regex::Error::CompiledTooBig(limit) => format!("the compiled pattern is larger than {limit} bytes"),
        other => other.to_string(),
    })
}

/// One step of a JSON path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonStep {
    Key(String),
    Index(usize),
}

/// Parses `$`, `$.a.b`, `$.a[0]`, `$["a b"]`.
pub fn parse_json_path(path: &str) -> Result<Vec<JsonStep>, String> {
    let rest = path.strip_prefix('$').ok_or("a JSON path starts with `$`")?;
    let mut steps = Vec::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '.' => {
                let start = i + 1;
                let mut end = start;
                while let Some(&(j, c)) = chars.peek() {
                    if c == '.' || c == '[' {
                        break;
                    }
                    end = j + c.len_utf8();
                    chars.next();
                }
                if end == start {
                    return Err(format!("empty key at position {}", start + 1));
                }
                steps.push(JsonStep::Key(rest[start..end].to_owned()));
            }
            '[' => {
                let close = rest[i..].find(']').ok_or("`[` without a closing `]`")? + i;
                let inner = &rest[i + 1..close];
                let step = if let Some(quoted) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    JsonStep::Key(quoted.to_owned())
                } else {
                    JsonStep::Index(inner.parse().map_err(|_| format!("`[{inner}]` is not an index or a quoted key"))?)
                };
                steps.push(step);
                while chars.peek().is_some_and(|&(j, _)| j <= close) {
                    chars.next();
                }
            }
            other => return Err(format!("unexpected `{other}`; steps are `.key`, `[0]` or `[\"key\"]`")),
        }
    }
    Ok(steps)
}

/// A CIDR block, e.g. `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub network: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

pub fn parse_cidr(text: &str) -> Result<Cidr, String> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let network: IpAddr = addr.parse().map_err(|_| format!("`{addr}` is not an IP address"))?;
    let max = if network.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|&p| p <= max)
            .ok_or_else(|| format!("prefix length `{p}` must be a number from 0 to {max}"))?,
    };
    Ok(Cidr { network, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths() {
        assert_eq!(parse_json_path("$").unwrap(), vec![]);
        assert_eq!(
            parse_json_path("$.a[2][\"b c\"].d").unwrap(),
            vec![JsonStep::Key("a".into()), JsonStep::Index(2), JsonStep::Key("b c".into()), JsonStep::Key("d".into())]
        );
        assert!(parse_json_path("a.b").is_err());
        assert!(parse_json_path("$..a").is_err());
        assert!(parse_json_path("$[x]").is_err());
        assert!(parse_json_path("$[1").is_err());
    }

    #[test]
    fn cidrs() {
        let c = parse_cidr("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.1.2.3".parse().unwrap()));
        assert!(parse_cidr("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(parse_cidr("2001:db8::/32").unwrap().contains("2001:db8::1".parse().unwrap()));
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("nope/8").is_err());
    }

    #[test]
    fn patterns() {
        assert!(compile_pattern("Android [0-9]+").is_ok());
        assert!(compile_pattern("([a-z").unwrap_err().contains("unclosed"));
    }
}
