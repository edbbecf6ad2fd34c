//! Web and network helpers: addresses, URLs, user agents.

use std::net::IpAddr;
use std::sync::LazyLock;

use crate::constant::Cidr;

/// `ip_in(ip, CIDR)`: false when `ip` is not an address.
pub fn ip_in(ip: &str, cidr: &Cidr) -> bool {
    ip.trim().parse::<IpAddr>().is_ok_and(|ip| cidr.contains(ip))
}

fn parse_url(s: &str) -> Option<url::Url> {
    url::Url::parse(s.trim()).ok()
}

pub fn url_host(s: &str) -> Option<String> {
    parse_url(s)?.host_str().filter(|h| !h.is_empty()).map(str::to_owned)
}

pub fn url_param(s: &str, name: &str) -> Option<String> {
    parse_url(s)?.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Crawlers, monitors and automation tools, matched case-insensitively anywhere in the agent.
const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "mediapartners",
    "facebookexternalhit",
    "bingpreview",
    "feedfetcher",
    "headlesschrome",
    "phantomjs",
    "selenium",
    "puppeteer",
    "playwright",
    "python-requests",
    "python-urllib",
    "curl/",
    "wget/",
    "go-http-client",
    "okhttp/",
    "java/",
    "libwww-perl",
    "httpclient",
    "scrapy",
    "axios/",
    "node-fetch",
    "postmanruntime",
    "insomnia",
    "pingdom",
    "uptimerobot",
    "statuscake",
    "lighthouse",
];

/// Plain substrings, ASCII case ignored: an Aho-Corasick automaton finds any of them in one pass.
static BOTS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
    aho_corasick::AhoCorasick::builder().ascii_case_insensitive(true).build(BOT_MARKERS).expect("bot markers build")
});

pub fn is_bot(user_agent: &str) -> bool {
    BOTS.is_match(user_agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(url_host("https://Shop.example.com:8080/a?b=1").as_deref(), Some("shop.example.com"));
        assert_eq!(url_host("not a url"), None);
        assert_eq!(url_param("https://x.io/?q=caf%C3%A9&q=2", "q").as_deref(), Some("café"));
        assert_eq!(url_param("https://x.io/?a=1", "q"), None);
    }

    #[test]
    fn bots() {
        assert!(is_bot("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"));
        assert!(is_bot("curl/8.4.0"));
        assert!(!is_bot("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"));
        assert!(!is_bot("Mozilla/5.0 (Linux; Android 14; Pixel 8)"));
    }
}
