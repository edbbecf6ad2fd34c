//! Every builtin: its name, overloads and documentation. The checker reads signatures from here,
//! the LSP and `evr explain` read the docs, and the evaluators dispatch on [`Builtin`].

use crate::signature::{Overload, Param as P, Ret as R, Ty as T};

macro_rules! builtins {
    ($( $variant:ident $name:literal [$($ov:expr),* $(,)?] $doc:literal; )*) => {
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
    ] "len(string | list | map | bytes) -> int\nLength: Unicode scalar values of a string, elements of a list, entries of a map, bytes of bytes.";
    Lower "lower" [Overload::new(&[STR], R::Is(T::String))]
        "lower(s: string) -> string\nLower case (Unicode).";
    Upper "upper" [Overload::new(&[STR], R::Is(T::String))]
        "upper(s: string) -> string\nUpper case (Unicode).";
    Trim "trim" [Overload::new(&[STR], R::Is(T::String))]
        "trim(s: string) -> string\nRemoves white space at both ends.";
    StartsWith "starts_with" [Overload::new(&[STR, STR], R::Is(T::Bool))]
        "starts_with(s: string, prefix: string) -> bool";
    EndsWith "ends_with" [Overload::new(&[STR, STR], R::Is(T::Bool))]
        "ends_with(s: string, suffix: string) -> bool";
    Contains "contains" [Overload::new(&[STR, STR], R::Is(T::Bool))]
        "contains(s: string, part: string) -> bool";
    Replace "replace" [Overload::new(&[STR, STR, STR], R::Is(T::String))]
        "replace(s: string, from: string, to: string) -> string\nReplaces every occurrence of `from`.";
    Substr "substr" [Overload::new(&[STR, INT, INT], R::Is(T::String))]
        "substr(s: string, start: int, len: int) -> string\nCounts Unicode scalar values; clamps to the string's bounds.";
    Split "split" [Overload::new(&[STR, STR], R::ListOf(T::String))]
        "split(s: string, sep: string) -> list<string>\n`split(\"\", \",\")` is `[\"\"]`; trailing empty pieces are kept.";
    Matches "matches" [Overload::new(&[STR, P::Pattern], R::Is(T::Bool))]
        "matches(s: string, PATTERN) -> bool\nWhether the regular expression matches anywhere in `s`. PATTERN is a constant string, compiled once.";
    Extract "extract" [Overload::new(&[STR, P::Pattern, INT], R::Opt(T::String))]
        "extract(s: string, PATTERN, group: int) -> string?\nThe text of a capture group of the first match; null when nothing matches.";
    ToString "to_string" [Overload::new(&[P::Scalar], R::Is(T::String))]
        "to_string(x) -> string\nText of a scalar: `42`, `3.5`, `true`, an enum value's name, a duration as `1500ms`.";

    // Numbers
    Abs "abs" [Overload::new(&[INT], R::Is(T::Int)), Overload::new(&[FLOAT], R::Is(T::Float))]
        "abs(x: int | float) -> same\nAbsolute value; `abs` of the smallest int is an overflow error.";
    Min "min" [Overload::new(&[INT, INT], R::Is(T::Int)), Overload::new(&[FLOAT, FLOAT], R::Is(T::Float))]
        "min(a, b) -> int | float";
    Max "max" [Overload::new(&[INT, INT], R::Is(T::Int)), Overload::new(&[FLOAT, FLOAT], R::Is(T::Float))]
        "max(a, b) -> int | float";
    Floor "floor" [Overload::new(&[FLOAT], R::Is(T::Int))]
        "floor(x: float) -> int\nAn error when the result does not fit in an int.";
    Ceil "ceil" [Overload::new(&[FLOAT], R::Is(T::Int))]
        "ceil(x: float) -> int\nAn error when the result does not fit in an int.";
    Round "round" [Overload::new(&[FLOAT], R::Is(T::Int))]
        "round(x: float) -> int\nRounds half away from zero; an error when the result does not fit in an int.";
    ToInt "to_int" [
        Overload::new(&[STR], R::Opt(T::Int)),
        Overload::new(&[INT], R::Opt(T::Int)),
        Overload::new(&[FLOAT], R::Opt(T::Int)),
    ] "to_int(x: string | float) -> int?\nParses decimal text or truncates a float; null when that is impossible.";
    ToFloat "to_float" [
        Overload::new(&[STR], R::Opt(T::Float)),
        Overload::new(&[FLOAT], R::Opt(T::Float)),
    ] "to_float(x: string | int) -> float?\nParses decimal text; null when it is not a number.";

    // Hashing and sampling
    Hash64 "hash64" [Overload::new(&[P::Scalar], R::Is(T::Int))]
        "hash64(x) -> int\nA hash that is the same across runs, machines and versions.";
    Bucket "bucket" [Overload::new(&[P::Scalar, INT], R::Is(T::Int))]
        "bucket(x, n: int) -> int\nA stable bucket in [0, n) for gray releases: `bucket(user.user_id, 100) < 5`.";

    // Time
    HourOfDay "hour_of_day" [Overload::new(&[INT], R::Is(T::Int))]
        "hour_of_day(ms: int) -> int\nHour (0-23, UTC) of a time in milliseconds since the epoch.";
    DayOfWeek "day_of_week" [Overload::new(&[INT], R::Is(T::Int))]
        "day_of_week(ms: int) -> int\nDay of the week (UTC), Monday = 1 .. Sunday = 7.";
    NowMs "now_ms" [Overload::new(&[], R::Is(T::Int))]
        "now_ms() -> int\nProcessing time in milliseconds since the epoch.";

    // Web and network
    IpIn "ip_in" [Overload::new(&[STR, P::Cidr], R::Is(T::Bool))]
        "ip_in(ip: string, CIDR) -> bool\nWhether an IPv4 or IPv6 address lies in a constant CIDR block; false when `ip` is not an address.";
    UrlHost "url_host" [Overload::new(&[STR], R::Opt(T::String))]
        "url_host(url: string) -> string?\nThe host of a URL; null when the text is not a URL.";
    UrlParam "url_param" [Overload::new(&[STR, STR], R::Opt(T::String))]
        "url_param(url: string, name: string) -> string?\nThe first value of a query parameter, percent-decoded.";
    IsBot "is_bot" [Overload::new(&[STR], R::Is(T::Bool))]
        "is_bot(user_agent: string) -> bool\nWhether a user agent is a known crawler or automation tool.";

    // Embedded JSON
    JsonString "json_string" [Overload::new(&[STR, P::JsonPath], R::Opt(T::String))]
        "json_string(text: string, PATH) -> string?\nThe string at a constant path such as `$.a.b`; null when the text is not JSON or the path is absent or holds another type.";
    JsonInt "json_int" [Overload::new(&[STR, P::JsonPath], R::Opt(T::Int))]
        "json_int(text: string, PATH) -> int?\nThe integer at a constant path; null when the text is not JSON or the path is absent or holds another type.";

    // Collections
    Has "has" [Overload::new(&[P::Presence], R::Is(T::Bool))]
        "has(x) -> bool\nWhether an optional value is present (not null), or a message field was set. `has(x) && ...` and `if has(x)` let `x` be used as a plain value.";
    ContainsKey "contains_key" [Overload::new(&[P::Map, P::KeyOfMap], R::Is(T::Bool))]
        "contains_key(m: map<K, V>, k: K) -> bool";
    Any "any" [Overload::new(&[P::List, P::Predicate], R::Is(T::Bool))]
        "any(list, x => cond) -> bool\nWhether some element satisfies the condition (false for an empty list).";
    All "all" [Overload::new(&[P::List, P::Predicate], R::Is(T::Bool))]
        "all(list, x => cond) -> bool\nWhether every element satisfies the condition (true for an empty list).";
    CountIf "count_if" [Overload::new(&[P::List, P::Predicate], R::Is(T::Int))]
        "count_if(list, x => cond) -> int\nHow many elements satisfy the condition.";

    // Velocity state
    WindowCount "window_count" [Overload::new(&[P::Scalar, P::Window], R::Is(T::Int))]
        "window_count(key, W) -> int\nEvents with this key that reached this call within the window W, the current one included.";
    WindowSum "window_sum" [Overload::new(&[P::Scalar, FLOAT, P::Window], R::Is(T::Float))]
        "window_sum(key, amount: float, W) -> float\nSum of the amounts seen with this key at this call within W, the current one included.";
    WindowDistinct "window_distinct" [Overload::new(&[P::Scalar, P::Scalar, P::Window], R::Is(T::Int))]
        "window_distinct(key, value, W) -> int\nDistinct values seen with this key at this call within W (approximate above 1,000).";
    Seen "seen" [Overload::new(&[P::Scalar, P::Window], R::Is(T::Bool))]
        "seen(key, W) -> bool\nWhether this key reached this call earlier within W: deduplication.";
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
