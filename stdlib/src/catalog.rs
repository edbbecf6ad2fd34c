//! Every builtin, declared once: its name, overloads, documentation, examples and the body of
//! each overload the catalog implements. The checker reads signatures from here, the LSP and
//! `evr explain` read the docs, and both evaluators run the bodies through [`Builtin::invoke`]
//! (see [`crate::native`]); the test suite runs every example under every engine.
//!
//! An overload is written `native (name: param, ...) -> result { body }`, with the markers of
//! [`crate::native::params`] and [`crate::native::returns`], or `engine (...) -> result` when
//! each engine builds it itself (collections, lambdas, velocity state, conversions by type).

use crate::native::{Args, Declared, Read, Results, Ret, Typed, params, returns};
use crate::signature::Overload;
use crate::{RuntimeError, hash, json, number, text, time, web};

macro_rules! builtins {
    ($(
        $variant:ident $name:literal [$(
            $how:ident ( $($p:ident : $t:ident),* ) -> $r:ident $({ $($body:tt)* })?
        ),* $(,)?]
        $doc:literal examples [$($ex:literal),* $(,)?];
    )*) => {
        /// A builtin function. The discriminant is stable within one compiler version.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Builtin { $($variant),* }

        impl Builtin {
            pub const ALL: &'static [Builtin] = &[$(Builtin::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(Builtin::$variant => $name),* }
            }

            pub fn overloads(self) -> &'static [Overload] {
                match self { $(Builtin::$variant => const { &[$(Overload {
                    params: &[$(<params::$t as Declared>::PARAM),*],
                    ret: <returns::$r as Typed>::RET,
                    native: builtins!(@native $how),
                }),*] }),* }
            }

            /// One paragraph for hovers and `evr explain`; the first line is the signature.
            pub fn doc(self) -> &'static str {
                match self { $(Builtin::$variant => $doc),* }
            }

            /// Examples for the docs, each an EVR condition that holds. The test suite runs
            /// every one through both evaluators, so the docs cannot drift from the behaviour.
            pub fn examples(self) -> &'static [&'static str] {
                match self { $(Builtin::$variant => &[$($ex),*]),* }
            }

            /// Runs the body of overload `overload` on arguments an engine hands over.
            /// `Internal` for an overload the engines build themselves.
            #[inline]
            pub fn invoke<'a, A: Args<'a>, O: Results<'a>>(
                self,
                overload: u16,
                args: &mut A,
                out: &mut O,
            ) -> Result<(), RuntimeError> {
                match self {$(
                    Builtin::$variant => {
                        let mut index = 0u16;
                        $(
                            if index == overload {
                                return builtins!(@body $how args out [$($p $t)*] $r $({ $($body)* })?);
                            }
                            index += 1;
                        )*
                        let _ = (index, &args, &out);
                        Err(RuntimeError::Internal)
                    }
                )*}
            }
        }
    };
    (@native native) => { true };
    (@native engine) => { false };
    (@body native $args:ident $out:ident [$($p:ident $t:ident)*] $r:ident { $($body:tt)* }) => {{
        $(let $p = <params::$t as Read>::read($args)?;)*
        <_ as Ret<'a, returns::$r>>::give({ $($body)* }, $out)
    }};
    (@body engine $args:ident $out:ident [$($p:ident $t:ident)*] $r:ident) => {
        Err(RuntimeError::Internal)
    };
}

builtins! {
    // Strings
    Len "len" [
        native (s: str) -> int { text::len(s) },
        engine (l: list) -> int,
        engine (m: map) -> int,
        engine (b: bytes) -> int,
    ] "len(string | list | map | bytes) -> int\nLength: Unicode scalar values of a string, elements of a list, entries of a map, bytes of bytes."
        examples [r#"len("héllo") == 5"#, r#"len([1, 2, 3]) == 3"#, r#"len({ "a": 1, "b": 2 }) == 2"#, r#"len(split("a,b", ",")) == 2"#];
    Lower "lower" [native (s: str) -> string { s.to_lowercase() }]
        "lower(s: string) -> string\nLower case (Unicode)."
        examples [r#"lower("ÀBC") == "àbc""#];
    Upper "upper" [native (s: str) -> string { s.to_uppercase() }]
        "upper(s: string) -> string\nUpper case (Unicode)."
        examples [r#"upper("straße") == "STRASSE""#];
    Trim "trim" [native (s: str) -> string { s.trim() }]
        "trim(s: string) -> string\nRemoves white space at both ends."
        examples [r#"trim("  x y \t") == "x y""#];
    StartsWith "starts_with" [native (s: str, prefix: str) -> bool { s.starts_with(prefix) }]
        "starts_with(s: string, prefix: string) -> bool"
        examples [r#"starts_with("ad_show", "ad_")"#, r#"!starts_with("x", "xy")"#];
    EndsWith "ends_with" [native (s: str, suffix: str) -> bool { s.ends_with(suffix) }]
        "ends_with(s: string, suffix: string) -> bool"
        examples [r#"ends_with("ShopItemView", "View")"#];
    Contains "contains" [native (s: str, part: str) -> bool { s.contains(part) }]
        "contains(s: string, part: string) -> bool"
        examples [r#"contains("ShopItemView", "Item")"#, r#"!contains("abc", "d")"#];
    Replace "replace" [native (s: str, from: str, to: str) -> string { text::replace(s, from, to) }]
        "replace(s: string, from: string, to: string) -> string\nReplaces every occurrence of `from`."
        examples [r#"replace("a-b-c", "-", "+") == "a+b+c""#, r#"replace("abc", "", "x") == "abc""#];
    Substr "substr" [native (s: str, start: int, len: int) -> string { text::substr(s, start, len) }]
        "substr(s: string, start: int, len: int) -> string\nCounts Unicode scalar values; clamps to the string's bounds."
        examples [r#"substr("日本国", 0, 2) == "日本""#,
                r#"substr("abc", 1, 100) == "bc""#,
                r#"substr("abc", 5, 1) == """#];
    Split "split" [native (s: str, sep: str) -> strings { text::split(s, sep) }]
        "split(s: string, sep: string) -> list<string>\n`split(\"\", \",\")` is `[\"\"]`; trailing empty pieces are kept."
        examples [r#"split("", ",")[0] == """#, r#"len(split("a,,b,", ",")) == 4"#, r#"split("1.2.3", ".")[2] == "3""#];
    Matches "matches" [native (s: str, re: pattern) -> bool { re.is_match(s) }]
        "matches(s: string, PATTERN) -> bool\nWhether the regular expression matches anywhere in `s`. PATTERN is a constant string, compiled once."
        examples [r#"matches("Android 14", "Android [0-9]+")"#, r#"!matches("iOS", "^Android")"#];
    Extract "extract" [native (s: str, re: pattern, group: int) -> opt_string { text::extract(re, s, group) }]
        "extract(s: string, PATTERN, group: int) -> string?\nThe text of a capture group of the first match; null when nothing matches."
        examples [r#"extract("Android 14; Pixel", "Android ([0-9]+)", 1) == "14""#,
                r#"extract("iOS", "Android ([0-9]+)", 1) == null"#,
                r#"extract("ab", "(a)(x)?", 2) == null"#];
    ToString "to_string" [engine (x: scalar) -> string]
        "to_string(x) -> string\nText of a scalar: `42`, `3.5`, `true`, an enum value's name, a duration as `1500ms`."
        examples [r#"to_string(42) == "42""#,
                r#"to_string(3.5) == "3.5""#,
                r#"to_string(2.0) == "2.0""#,
                r#"to_string(true) == "true""#,
                r#"to_string(1500ms) == "1500ms""#];

    // Numbers
    Abs "abs" [
        native (x: int) -> int { number::abs(x) },
        native (x: float) -> float { x.abs() },
    ]
        "abs(x: int | float) -> same\nAbsolute value; `abs` of the smallest int is an overflow error."
        examples ["abs(-3) == 3", "abs(-2.5) == 2.5"];
    Min "min" [
        native (a: int, b: int) -> int { a.min(b) },
        native (a: float, b: float) -> float { number::min_float(a, b) },
    ]
        "min(a, b) -> int | float"
        examples ["min(4, 5) == 4", "min(1, 0.5) == 0.5"];
    Max "max" [
        native (a: int, b: int) -> int { a.max(b) },
        native (a: float, b: float) -> float { number::max_float(a, b) },
    ]
        "max(a, b) -> int | float"
        examples ["max(1, 2) == 2", "max(-1.5, -2.5) == -1.5"];
    Floor "floor" [native (x: float) -> int { number::floor(x) }]
        "floor(x: float) -> int\nAn error when the result does not fit in an int."
        examples ["floor(1.7) == 1", "floor(-1.5) == -2"];
    Ceil "ceil" [native (x: float) -> int { number::ceil(x) }]
        "ceil(x: float) -> int\nAn error when the result does not fit in an int."
        examples ["ceil(1.2) == 2", "ceil(-1.5) == -1"];
    Round "round" [native (x: float) -> int { number::round(x) }]
        "round(x: float) -> int\nRounds half away from zero; an error when the result does not fit in an int."
        examples ["round(2.5) == 3", "round(-2.5) == -3", "round(1500.4) == 1500"];
    ToInt "to_int" [
        native (s: str) -> opt_int { number::parse_int(s) },
        native (x: int) -> opt_int { Some(x) },
        native (x: float) -> opt_int { number::float_to_int(x) },
    ] "to_int(x: string | float) -> int?\nParses decimal text or truncates a float; null when that is impossible."
        examples [r#"to_int("42") == 42"#,
                r#"to_int(" -7 ") == -7"#,
                r#"to_int("abc") == null"#,
                "to_int(7) == 7",
                "to_int(3.9) == 3",
                "to_int(1e300) == null"];
    ToFloat "to_float" [
        native (s: str) -> opt_float { number::parse_float(s) },
        native (x: float) -> opt_float { Some(x) },
    ] "to_float(x: string | int) -> float?\nParses decimal text; null when it is not a number."
        examples [r#"to_float("1.5") == 1.5"#,
                r#"to_float("1e3") == 1000.0"#,
                r#"to_float("x") == null"#,
                "to_float(2) == 2.0"];

    // Hashing and sampling
    Hash64 "hash64" [native (x: hashed) -> int { x }]
        "hash64(x) -> int\nA hash that is the same across runs, machines and versions."
        examples [r#"hash64("user-42") == hash64("user-42")"#, r#"hash64("a") != hash64("b")"#];
    Bucket "bucket" [native (x: hashed, n: int) -> int { hash::bucket(x, n) }]
        "bucket(x, n: int) -> int\nA stable bucket in [0, n) for gray releases: `bucket(user.user_id, 100) < 5`."
        examples [r#"bucket("user-42", 100) >= 0 && bucket("user-42", 100) < 100"#, "bucket(7, 1) == 0"];

    // Time
    HourOfDay "hour_of_day" [native (ms: int) -> int { time::hour_of_day(ms) }]
        "hour_of_day(ms: int) -> int\nHour (0-23, UTC) of a time in milliseconds since the epoch."
        examples ["hour_of_day(1700000000000) == 22", "hour_of_day(0) == 0"];
    DayOfWeek "day_of_week" [native (ms: int) -> int { time::day_of_week(ms) }]
        "day_of_week(ms: int) -> int\nDay of the week (UTC), Monday = 1 .. Sunday = 7."
        examples ["day_of_week(0) == 4", "day_of_week(1700000000000) == 2"];
    NowMs "now_ms" [native () -> int { time::now_ms() }]
        "now_ms() -> int\nProcessing time in milliseconds since the epoch."
        examples ["now_ms() > 1600000000000"];

    // Web and network
    IpIn "ip_in" [native (ip: str, block: cidr) -> bool { web::ip_in(ip, block) }]
        "ip_in(ip: string, CIDR) -> bool\nWhether an IPv4 or IPv6 address lies in a constant CIDR block; false when `ip` is not an address."
        examples [r#"ip_in("10.1.2.3", "10.0.0.0/8")"#,
                r#"!ip_in("11.1.2.3", "10.0.0.0/8")"#,
                r#"ip_in("2001:db8::1", "2001:db8::/32")"#,
                r#"!ip_in("not an ip", "0.0.0.0/0")"#];
    UrlHost "url_host" [native (url: str) -> opt_string { web::url_host(url) }]
        "url_host(url: string) -> string?\nThe host of a URL; null when the text is not a URL."
        examples [r#"url_host("https://shop.example.com/a?b=1") == "shop.example.com""#,
                r#"url_host("not a url") == null"#];
    UrlParam "url_param" [native (url: str, name: str) -> opt_string { web::url_param(url, name) }]
        "url_param(url: string, name: string) -> string?\nThe first value of a query parameter, percent-decoded."
        examples [r#"url_param("https://x.io/?q=caf%C3%A9&n=2", "q") == "café""#,
                r#"url_param("https://x.io/?n=2", "q") == null"#];
    IsBot "is_bot" [native (user_agent: str) -> bool { web::is_bot(user_agent) }]
        "is_bot(user_agent: string) -> bool\nWhether a user agent is a known crawler or automation tool."
        examples [r#"is_bot("Mozilla/5.0 (compatible; Googlebot/2.1)")"#,
                r#"!is_bot("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)")"#];

    // Embedded JSON
    JsonString "json_string" [native (text: str, at: path) -> opt_string { json::json_string(text, at) }]
        "json_string(text: string, PATH) -> string?\nThe string at a constant path such as `$.a.b`; null when the text is not JSON or the path is absent or holds another type."
        examples [r#"json_string("{\"a\":{\"b\":\"x\"}}", "$.a.b") == "x""#,
                r#"json_string("{\"a\":1}", "$.a") == null"#,
                r#"json_string("not json", "$.a") == null"#];
    JsonInt "json_int" [native (text: str, at: path) -> opt_int { json::json_int(text, at) }]
        "json_int(text: string, PATH) -> int?\nThe integer at a constant path; null when the text is not JSON or the path is absent or holds another type."
        examples [r#"json_int("{\"a\":[5,6]}", "$.a[1]") == 6"#, r#"json_int("{\"a\":1.5}", "$.a") == null"#];

    // Collections
    Has "has" [engine (x: presence) -> bool]
        "has(x) -> bool\nWhether an optional value is present (not null), or a message field was set. `has(x) && ...` and `if has(x)` let `x` be used as a plain value."
        examples [r#"has(to_int("1"))"#, r#"!has(to_int("x"))"#];
    ContainsKey "contains_key" [engine (m: map, k: key) -> bool]
        "contains_key(m: map<K, V>, k: K) -> bool"
        examples [r#"contains_key({ "a": 1 }, "a")"#, r#"!contains_key({ "a": 1 }, "b")"#];
    Any "any" [engine (l: list, cond: predicate) -> bool]
        "any(list, x => cond) -> bool\nWhether some element satisfies the condition (false for an empty list)."
        examples ["any([1, 5, 9], x => x > 8)", "!any([1, 2], x => x > 8)"];
    All "all" [engine (l: list, cond: predicate) -> bool]
        "all(list, x => cond) -> bool\nWhether every element satisfies the condition (true for an empty list)."
        examples ["all([1, 5, 9], x => x > 0)", "!all([1, 5, 9], x => x > 1)"];
    CountIf "count_if" [engine (l: list, cond: predicate) -> int]
        "count_if(list, x => cond) -> int\nHow many elements satisfy the condition."
        examples ["count_if([1, 5, 9], x => x > 2) == 2"];

    // Velocity state
    WindowCount "window_count" [engine (key: scalar, w: window) -> int]
        "window_count(key, W) -> int\nEvents with this key that reached this call within the window W, the current one included."
        examples ["window_count(\"k\", 1m) == 1"];
    WindowSum "window_sum" [engine (key: scalar, amount: float, w: window) -> float]
        "window_sum(key, amount: float, W) -> float\nSum of the amounts seen with this key at this call within W, the current one included."
        examples ["window_sum(\"k\", 2.5, 1h) == 2.5"];
    WindowDistinct "window_distinct" [engine (key: scalar, value: scalar, w: window) -> int]
        "window_distinct(key, value, W) -> int\nDistinct values seen with this key at this call within W (approximate above 1,000)."
        examples ["window_distinct(\"k\", \"v\", 10m) == 1"];
    Seen "seen" [engine (key: scalar, w: window) -> bool]
        "seen(key, W) -> bool\nWhether this key reached this call earlier within W: deduplication."
        examples ["!seen(\"k\", 1h)"];
}

impl Builtin {
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.iter().copied().find(|b| b.name() == name)
    }

    /// Builtins that keep state between events; each call site has its own.
    pub fn is_velocity(self) -> bool {
        matches!(self, Builtin::WindowCount | Builtin::WindowSum | Builtin::WindowDistinct | Builtin::Seen)
    }

    /// How many arguments the builtin takes (every overload of one builtin has the same count).
    pub fn arity(self) -> usize {
        self.overloads().first().map_or(0, |o| o.params.len())
    }
}
