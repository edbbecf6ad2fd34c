//! Every builtin, declared once: its name, overloads, documentation and examples. The checker reads signatures from here,
//! the LSP and `evr explain` read the docs, and the evaluators dispatch on [`Builtin`].

use crate::signature::{Overload, Param as P, Ret as R, Ty as T};

macro_rules! builtins {
    ($( $variant:ident $name:literal [$($ov:expr),* $(,)?] $doc:literal examples [$($ex:literal),* $(,)?]; )*) => {
        /// A builtin function. The discriminant is stable within one compiler version.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Builtin { $($variant),* }

        impl Builtin {
            pub const ALL: &'static [Builtin] = &[$(Builtin::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(Builtin::$variant => $name),* }
            }

            pub fn overloads(self) -> &'static [Overload] {
                match self { $(Builtin::$variant => const { &[$($ov),*] }),* }
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
        }
    };
}

const STR: P = P::Is(T::String);
const INT: P = P::Is(T::Int);
const FLOAT: P = P::Is(T::Float);

builtins! {
    // Strings
    Len "len" [
        Overload::new(&[STR], R::Is(T::Int)),
        Overload::new(&[P::List], R::Is(T::Int)),
        Overload::new(&[P::Map], R::Is(T::Int)),
        Overload::new(&[P::Is(T::Bytes)], R::Is(T::Int)),
    ] "len(string | list | map | bytes) -> int\nLength: Unicode scalar values of a string, elements of a list, entries of a map, bytes of bytes."
        examples [r#"len("héllo") == 5"#, r#"len([1, 2, 3]) == 3"#, r#"len(split("a,b", ",")) == 2"#];
    Lower "lower" [Overload::new(&[STR], R::Is(T::String))]
        "lower(s: string) -> string\nLower case (Unicode)."
        examples [r#"lower("ÀBC") == "àbc""#];
    Upper "upper" [Overload::new(&[STR], R::Is(T::String))]
        "upper(s: string) -> string\nUpper case (Unicode)."
        examples [r#"upper("straße") == "STRASSE""#];
    Trim "trim" [Overload::new(&[STR], R::Is(T::String))]
        "trim(s: string) -> string\nRemoves white space at both ends."
        examples [r#"trim("  x y \t") == "x y""#];
    StartsWith "starts_with" [Overload::new(&[STR, STR], R::Is(T::Bool))]
        "starts_with(s: string, prefix: string) -> bool"
        examples [r#"starts_with("ad_show", "ad_")"#, r#"!starts_with("x", "xy")"#];
    EndsWith "ends_with" [Overload::new(&[STR, STR], R::Is(T::Bool))]
        "ends_with(s: string, suffix: string) -> bool"
        examples [r#"ends_with("ShopItemView", "View")"#];
    Contains "contains" [Overload::new(&[STR, STR], R::Is(T::Bool))]
        "contains(s: string, part: string) -> bool"
        examples [r#"contains("ShopItemView", "Item")"#, r#"!contains("abc", "d")"#];
    Replace "replace" [Overload::new(&[STR, STR, STR], R::Is(T::String))]
        "replace(s: string, from: string, to: string) -> string\nReplaces every occurrence of `from`."
        examples [r#"replace("a-b-c", "-", "+") == "a+b+c""#, r#"replace("abc", "", "x") == "abc""#];
    Substr "substr" [Overload::new(&[STR, INT, INT], R::Is(T::String))]
        "substr(s: string, start: int, len: int) -> string\nCounts Unicode scalar values; clamps to the string's bounds."
        examples [r#"substr("日本国", 0, 2) == "日本""#,
                r#"substr("abc", 1, 100) == "bc""#,
                r#"substr("abc", 5, 1) == """#];
    Split "split" [Overload::new(&[STR, STR], R::ListOf(T::String))]
        "split(s: string, sep: string) -> list<string>\n`split(\"\", \",\")` is `[\"\"]`; trailing empty pieces are kept."
        examples [r#"split("", ",")[0] == """#, r#"len(split("a,,b,", ",")) == 4"#, r#"split("1.2.3", ".")[2] == "3""#];
    Matches "matches" [Overload::new(&[STR, P::Pattern], R::Is(T::Bool))]
        "matches(s: string, PATTERN) -> bool\nWhether the regular expression matches anywhere in `s`. PATTERN is a constant string, compiled once."
        examples [r#"matches("Android 14", "Android [0-9]+")"#, r#"!matches("iOS", "^Android")"#];
    Extract "extract" [Overload::new(&[STR, P::Pattern, INT], R::Opt(T::String))]
        "extract(s: string, PATTERN, group: int) -> string?\nThe text of a capture group of the first match; null when nothing matches."
        examples [r#"extract("Android 14; Pixel", "Android ([0-9]+)", 1) == "14""#,
                r#"extract("iOS", "Android ([0-9]+)", 1) == null"#,
                r#"extract("ab", "(a)(x)?", 2) == null"#];
    ToString "to_string" [Overload::new(&[P::Scalar], R::Is(T::String))]
        "to_string(x) -> string\nText of a scalar: `42`, `3.5`, `true`, an enum value's name, a duration as `1500ms`."
        examples [r#"to_string(42) == "42""#,
                r#"to_string(3.5) == "3.5""#,
                r#"to_string(2.0) == "2.0""#,
                r#"to_string(true) == "true""#,
                r#"to_string(1500ms) == "1500ms""#];

    // Numbers
    Abs "abs" [Overload::new(&[INT], R::Is(T::Int)), Overload::new(&[FLOAT], R::Is(T::Float))]
        "abs(x: int | float) -> same\nAbsolute value; `abs` of the smallest int is an overflow error."
        examples ["abs(-3) == 3", "abs(-2.5) == 2.5"];
    Min "min" [Overload::new(&[INT, INT], R::Is(T::Int)), Overload::new(&[FLOAT, FLOAT], R::Is(T::Float))]
        "min(a, b) -> int | float"
        examples ["min(4, 5) == 4", "min(1, 0.5) == 0.5"];
    Max "max" [Overload::new(&[INT, INT], R::Is(T::Int)), Overload::new(&[FLOAT, FLOAT], R::Is(T::Float))]
        "max(a, b) -> int | float"
        examples ["max(1, 2) == 2", "max(-1.5, -2.5) == -1.5"];
    Floor "floor" [Overload::new(&[FLOAT], R::Is(T::Int))]
        "floor(x: float) -> int\nAn error when the result does not fit in an int."
        examples ["floor(1.7) == 1", "floor(-1.5) == -2"];
    Ceil "ceil" [Overload::new(&[FLOAT], R::Is(T::Int))]
        "ceil(x: float) -> int\nAn error when the result does not fit in an int."
        examples ["ceil(1.2) == 2", "ceil(-1.5) == -1"];
    Round "round" [Overload::new(&[FLOAT], R::Is(T::Int))]
        "round(x: float) -> int\nRounds half away from zero; an error when the result does not fit in an int."
        examples ["round(2.5) == 3", "round(-2.5) == -3", "round(1500.4) == 1500"];
    ToInt "to_int" [
        Overload::new(&[STR], R::Opt(T::Int)),
        Overload::new(&[INT], R::Opt(T::Int)),
        Overload::new(&[FLOAT], R::Opt(T::Int)),
    ] "to_int(x: string | float) -> int?\nParses decimal text or truncates a float; null when that is impossible."
        examples [r#"to_int("42") == 42"#,
                r#"to_int(" -7 ") == -7"#,
                r#"to_int("abc") == null"#,
                "to_int(3.9) == 3",
                "to_int(1e300) == null"];
    ToFloat "to_float" [
        Overload::new(&[STR], R::Opt(T::Float)),
        Overload::new(&[FLOAT], R::Opt(T::Float)),
    ] "to_float(x: string | int) -> float?\nParses decimal text; null when it is not a number."
        examples [r#"to_float("1.5") == 1.5"#,
                r#"to_float("1e3") == 1000.0"#,
                r#"to_float("x") == null"#,
                "to_float(2) == 2.0"];

    // Hashing and sampling
    Hash64 "hash64" [Overload::new(&[P::Scalar], R::Is(T::Int))]
        "hash64(x) -> int\nA hash that is the same across runs, machines and versions."
        examples [r#"hash64("user-42") == hash64("user-42")"#, r#"hash64("a") != hash64("b")"#];
    Bucket "bucket" [Overload::new(&[P::Scalar, INT], R::Is(T::Int))]
        "bucket(x, n: int) -> int\nA stable bucket in [0, n) for gray releases: `bucket(user.user_id, 100) < 5`."
        examples [r#"bucket("user-42", 100) >= 0 && bucket("user-42", 100) < 100"#, "bucket(7, 1) == 0"];

    // Time
    HourOfDay "hour_of_day" [Overload::new(&[INT], R::Is(T::Int))]
        "hour_of_day(ms: int) -> int\nHour (0-23, UTC) of a time in milliseconds since the epoch."
        examples ["hour_of_day(1700000000000) == 22", "hour_of_day(0) == 0"];
    DayOfWeek "day_of_week" [Overload::new(&[INT], R::Is(T::Int))]
        "day_of_week(ms: int) -> int\nDay of the week (UTC), Monday = 1 .. Sunday = 7."
        examples ["day_of_week(0) == 4", "day_of_week(1700000000000) == 2"];
    NowMs "now_ms" [Overload::new(&[], R::Is(T::Int))]
        "now_ms() -> int\nProcessing time in milliseconds since the epoch."
        examples ["now_ms() > 1600000000000"];

    // Web and network
    IpIn "ip_in" [Overload::new(&[STR, P::Cidr], R::Is(T::Bool))]
        "ip_in(ip: string, CIDR) -> bool\nWhether an IPv4 or IPv6 address lies in a constant CIDR block; false when `ip` is not an address."
        examples [r#"ip_in("10.1.2.3", "10.0.0.0/8")"#,
                r#"!ip_in("11.1.2.3", "10.0.0.0/8")"#,
                r#"ip_in("2001:db8::1", "2001:db8::/32")"#,
                r#"!ip_in("not an ip", "0.0.0.0/0")"#];
    UrlHost "url_host" [Overload::new(&[STR], R::Opt(T::String))]
        "url_host(url: string) -> string?\nThe host of a URL; null when the text is not a URL."
        examples [r#"url_host("https://shop.example.com/a?b=1") == "shop.example.com""#,
                r#"url_host("not a url") == null"#];
    UrlParam "url_param" [Overload::new(&[STR, STR], R::Opt(T::String))]
        "url_param(url: string, name: string) -> string?\nThe first value of a query parameter, percent-decoded."
        examples [r#"url_param("https://x.io/?q=caf%C3%A9&n=2", "q") == "café""#,
                r#"url_param("https://x.io/?n=2", "q") == null"#];
    IsBot "is_bot" [Overload::new(&[STR], R::Is(T::Bool))]
        "is_bot(user_agent: string) -> bool\nWhether a user agent is a known crawler or automation tool."
        examples [r#"is_bot("Mozilla/5.0 (compatible; Googlebot/2.1)")"#,
                r#"!is_bot("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)")"#];

    // Embedded JSON
    JsonString "json_string" [Overload::new(&[STR, P::JsonPath], R::Opt(T::String))]
        "json_string(text: string, PATH) -> string?\nThe string at a constant path such as `$.a.b`; null when the text is not JSON or the path is absent or holds another type."
        examples [r#"json_string("{\"a\":{\"b\":\"x\"}}", "$.a.b") == "x""#,
                r#"json_string("{\"a\":1}", "$.a") == null"#,
                r#"json_string("not json", "$.a") == null"#];
    JsonInt "json_int" [Overload::new(&[STR, P::JsonPath], R::Opt(T::Int))]
        "json_int(text: string, PATH) -> int?\nThe integer at a constant path; null when the text is not JSON or the path is absent or holds another type."
        examples [r#"json_int("{\"a\":[5,6]}", "$.a[1]") == 6"#, r#"json_int("{\"a\":1.5}", "$.a") == null"#];

    // Collections
    Has "has" [Overload::new(&[P::Presence], R::Is(T::Bool))]
        "has(x) -> bool\nWhether an optional value is present (not null), or a message field was set. `has(x) && ...` and `if has(x)` let `x` be used as a plain value."
        examples [r#"has(to_int("1"))"#, r#"!has(to_int("x"))"#];
    ContainsKey "contains_key" [Overload::new(&[P::Map, P::KeyOfMap], R::Is(T::Bool))]
        "contains_key(m: map<K, V>, k: K) -> bool"
        examples [r#"contains_key({ "a": 1 }, "a")"#, r#"!contains_key({ "a": 1 }, "b")"#];
    Any "any" [Overload::new(&[P::List, P::Predicate], R::Is(T::Bool))]
        "any(list, x => cond) -> bool\nWhether some element satisfies the condition (false for an empty list)."
        examples ["any([1, 5, 9], x => x > 8)", "!any([1, 2], x => x > 8)"];
    All "all" [Overload::new(&[P::List, P::Predicate], R::Is(T::Bool))]
        "all(list, x => cond) -> bool\nWhether every element satisfies the condition (true for an empty list)."
        examples ["all([1, 5, 9], x => x > 0)", "!all([1, 5, 9], x => x > 1)"];
    CountIf "count_if" [Overload::new(&[P::List, P::Predicate], R::Is(T::Int))]
        "count_if(list, x => cond) -> int\nHow many elements satisfy the condition."
        examples ["count_if([1, 5, 9], x => x > 2) == 2"];

    // Velocity state
    WindowCount "window_count" [Overload::new(&[P::Scalar, P::Window], R::Is(T::Int))]
        "window_count(key, W) -> int\nEvents with this key that reached this call within the window W, the current one included."
        examples ["window_count(\"k\", 1m) == 1"];
    WindowSum "window_sum" [Overload::new(&[P::Scalar, FLOAT, P::Window], R::Is(T::Float))]
        "window_sum(key, amount: float, W) -> float\nSum of the amounts seen with this key at this call within W, the current one included."
        examples ["window_sum(\"k\", 2.5, 1h) == 2.5"];
    WindowDistinct "window_distinct" [Overload::new(&[P::Scalar, P::Scalar, P::Window], R::Is(T::Int))]
        "window_distinct(key, value, W) -> int\nDistinct values seen with this key at this call within W (approximate above 1,000)."
        examples ["window_distinct(\"k\", \"v\", 10m) == 1"];
    Seen "seen" [Overload::new(&[P::Scalar, P::Window], R::Is(T::Bool))]
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
