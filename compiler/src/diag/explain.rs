//! The long explanations behind `evr explain CODE`: what is wrong, why, and an example.

use super::Code;

pub fn text(code: Code) -> &'static str {
    match code {
        Code::E0001 => {
            r#"The parser met a token that cannot stand at this place, or the item ended early.

    rule r on app_log when => route raw;      // the condition is missing

Each item (use, source, sink, const, fn, drop, score, rule, test) is parsed on its own, so an
error in one item never hides errors in the next. Check the token the message points at and
what the grammar expected there: often a missing `;`, `}` or operand."#
        }
        Code::E0002 => {
            r#"The lexer found text that is not a token: a stray character, an unknown escape in a
string, a number with a suffix that is not a duration unit, a number too large for 64 bits,
or a block comment that never ends.

    const LIMIT = 5min;      // durations are 250ms, 30s, 5m, 2h, 7d
    const TAB = "a\qb";      // escapes are \n \t \r \0 \\ \" \u{1F600}"#
        }
        Code::E0003 => {
            r#"A string literal has no closing quote before the end of its line.

    rule r on app_log when event == "abc => route raw;

Strings cannot span lines; write `\n` for a line break inside one."#
        }
        Code::E0004 => {
            r#"A `use "file.proto";` names a schema that cannot be read or does not compile. The
path is relative to the `.evr` file that names it.

    use "schemas/app_log.proto";

The message gives the reason: the file is missing, or protobuf reports an error in it (with
its own file:line:col)."#
        }
        Code::E0005 => {
            r#"A type name is not known. Types are the builtins (bool, int, float, string, bytes,
duration, list<T>, map<K, V>, T?) and the messages and enums of the schemas in use: either
fully qualified (`app.v1.AppLog`) or brought in by a short name:

    use "schemas/app_log.proto";
    use app.v1.{AppLog, Platform};
    source app_log: AppLog as json;"#
        }
        Code::E0006 => {
            r#"A name in an expression is not in scope. Inside `on SOURCE`, the fields of the
source's message are in scope by their proto names, and so are `let` bindings, lambda
parameters, consts and (in rules) the scores of the same source. A `fn` sees only its
parameters and consts: pass event fields to it as arguments.

    rule r on app_log when evnt == "x" => route raw;    // did you mean `event`?"#
        }
        Code::E0007 => {
            r#"A field access names a field that the message does not have.

    rule r on app_log when header.colour == "red" => route raw;   // Header has no `colour`

Field names are the proto names (snake_case) of the message's schema."#
        }
        Code::E0008 => {
            r#"A value has a type other than the one this place needs: an operand of an operator,
an argument, a condition, or a field of an emitted record.

    rule r on app_log when event == 5 => route raw;     // string compared with int

An int widens to a float on its own; a float becomes an int only through to_int, round,
floor or ceil. Enum fields take values of their enum: `action: ActionType.CLICK`."#
        }
        Code::E0009 => {
            r#"A value that may be null (`T?`: an optional field, `m[k]`, `l[i]`, `to_int(...)`,
...) is used where a plain `T` is needed: arithmetic, a function argument, an emitted field.

    emit out { key: event, count: to_int(event) + 1 };        // error
    emit out { key: event, count: (to_int(event) ?? 0) + 1 };  // ok

Either give a default with `x ?? default`, or test first: `has(x) && ...` and
`if has(x) { ... }` let `x` be used as a plain value where the test holds."#
        }
        Code::E0010 => {
            r#"A name is declared twice. Rules, scores, drops, sinks, sources, consts and fns share
one namespace across all files of a bundle; a record literal names each field once; a
short type name (`use a.b.C as D`) means one type.

    rule r on app_log when event == "a" => route raw;
    rule r on app_log when event == "b" => route raw;    // `r` again"#
        }
        Code::E0011 => {
            r#"`emit`, `route`, `expect` and `expect nothing` name a sink that is not declared.

    sink ads_events: AppLog as json;
    rule r on app_log => route ads_event;     // did you mean `ads_events`?"#
        }
        Code::E0012 => {
            r#"`on SOURCE` or `given SOURCE` names a source that is not declared.

    source app_log: AppLog as json;
    rule r on applog => route raw;            // did you mean `app_log`?"#
        }
        Code::E0013 => {
            r#"`route SINK;` forwards the input event unchanged, so the sink must carry the same
message type as the rule's source.

    source app_log: AppLog as json;
    sink out: Counter as json;
    rule r on app_log => route out;           // AppLog events cannot go to a Counter sink

To send a different record, use `emit out { ... };`."#
        }
        Code::E0014 => {
            r#"The pattern of `matches` or `extract` is not a valid regular expression. Patterns are
compiled when the bundle is checked, so a bad one never reaches a running pipeline.

    rule r on app_log when matches(event, "([a-z") => route raw;   // unclosed group

The syntax is that of the Rust `regex` crate (no look-around, no back-references)."#
        }
        Code::E0015 => {
            r#"This argument must be known when the bundle is checked: regular expressions, JSON
paths, CIDR blocks and window sizes are prepared once, not per event.

    matches(event, header.os)          // error: the pattern varies per event
    matches(event, "^ad_")             // ok
    const AD = "^ad_"; matches(event, AD)   // ok: a const is constant"#
        }
        Code::E0016 => {
            r#"A call names neither a builtin nor a `fn` of the bundle.

    rule r on app_log when frobnicate(event) => route raw;

`evr explain` lists no builtins; the language reference (docs/LANGUAGE.md) does."#
        }
        Code::E0017 => {
            r#"A function is called with a different number of arguments than it takes.

    lower(event, "x")      // lower takes one argument"#
        }
        Code::E0018 => {
            r#"`Enum.VALUE` names a value that the enum does not have.

    rule r on app_log when platform == Platform.CLIK => route raw;

Enum values are the names of the proto enum's values."#
        }
        Code::E0019 => {
            r#"A `fn` calls itself, directly or through other fns. EVR has no recursion (and no
loops), so that every rule terminates and its cost is bounded by the size of its event.

    fn f(x: int) -> int = if x > 0 { f(x - 1) } else { 0 };

List functions with lambdas (any, all, count_if) cover what loops are usually for.

Calls are inlined, so an fn is also too deep when its chain of calls nests past 800 levels,
and too large when the fns it calls add up to more than 100,000 expression nodes (fns that
call the previous one twice double at each step). Bind a repeated call with `let`."#
        }
        Code::E0020 => {
            r#"An annotation is unknown, misplaced, or has wrong arguments. Annotations stand before
rules, drops and scores:

    @priority(low)       // low | normal | high: what to shed first under lag
    @shadow              // evaluated and measured, outputs not written
    @owner("ads-team")   // who to ask"#
        }
        Code::E0021 => {
            r#"The type of a value cannot be told from the value alone: a record literal `{ ... }`,
an empty list `[]`, or `null` with nothing around it to say what it is.

    let r = { user_id: 1 };       // a record of which message?

Record literals stand where a message type is known: in `emit`, `given` and `expect`, as a
field of another record, or as a `fn` argument or result of a declared type."#
        }
        Code::E0022 => {
            r#"A `const` must be a literal: a number, string, bool, duration, an enum value, or a list
of those (all of one type).

    const HIGH_RISK = ["KP", "IR"];       // ok
    const LIMIT = len("abc");             // error: not a literal"#
        }
        Code::E0023 => {
            r#"A constant argument is malformed: a CIDR block (`10.0.0.0/8`), a JSON path
(`$.a.b[0]`), a regular-expression group number, or a window size (a positive duration).

    ip_in(header.ip, "10.0.0.0/33")       // a prefix is at most 32 for IPv4
    json_int(params["p"], "a.b")          // a JSON path starts with `$`"#
        }
        Code::E0024 => {
            r#"An integer literal does not fit in a 64-bit signed int.

    const BIG = 9223372036854775808;      // the largest int is 9223372036854775807"#
        }
        Code::E0025 => {
            r#"A lambda (`x => ...`) stands somewhere other than the last argument of a list function
(any, all, count_if).

    any(items, i => i.price > 100.0)      // ok
    let f = i => i.price;                 // error"#
        }
        Code::E0026 => {
            r#"A source or sink declaration is malformed: its type must be a message, its wire format
`json` or `protobuf`, and a source's `time` field an int field of the message (milliseconds
since the epoch).

    source app_log: AppLog as json time event_time;"#
        }
        Code::E0027 => {
            r#"A test step cannot be checked: `expect dropped` and `expect dirty` refer to the last
`given`, so one must come before them.

    test "t" {
      expect dropped;                      // nothing was given yet
    }"#
        }
        Code::E0028 => {
            r#"`has(x)` tests whether `x` may be absent, but this value is always there: a plain
proto3 scalar field has no presence (absent reads as 0, "" or false).

    has(event)          // error: compare with "" instead: event != ""
    has(amount)         // ok: `optional double amount` has presence
    has(user)           // ok: message fields have presence"#
        }
        Code::E0029 => {
            r#"The bundle checks, but the JIT (the default engine) cannot compile this construct
yet. It never falls back to the interpreter silently, so the bundle is not run: `evr run`
stops and `evr test` counts every test of the bundle as failed.

    rule r on app_log when has(latency) => route slow;

Run the bundle with `--engine interp` meanwhile (the interpreter defines what every program
means), and report the construct: the JIT is meant to compile every checked program."#
        }
        Code::E0030 => {
            r#"A record literal sets two members of one oneof. A oneof holds at most one of its
fields, so the record could keep only the last: protobuf's JSON mapping rejects such an event
too (it is dirty), and in binary the last member on the wire wins.

    emit out { text: "a", num: 1 };       // text and num are members of `oneof payload`
    emit out { ..self, num: 1 };          // ok: num replaces whichever member self had

Choose between the members with `if`, or emit two records."#
        }
        Code::W0001 => {
            r#"The left side of `??` is never null, so the default is never used.

    let n = len(event) ?? 0;      // len never returns null

Remove the `?? default`, or check that the left side is the value you meant."#
        }
    }
}
