//! Decoding into frames against decoding into value trees: for any input and any choice of
//! fields read, both fail with the same reason or both succeed, and every slot of the frame
//! holds what the tree holds at its path.

use evr_compiler::frame::{ColumnPath, FrameLayout, KeyedPath, SLOT, read_slot};
use evr_compiler::ir::{FieldPath, WireFormat};
use evr_compiler::schema::{MessageId, Schema};
use evr_compiler::types::Type;
use evr_compiler::value::{Message, Value};
use evr_runtime::decode::plan::{FrameOut, Kept, Plan};
use evr_runtime::{decode, encode};
use proptest::prelude::*;

use crate::codec::{message, schema};

/// Every path a rule could read in `All`: each field, and each field of `inner`.
fn readable(s: &Schema, all: MessageId) -> Vec<(FieldPath, Type)> {
    let msg = s.message(all);
    let mut paths = Vec::new();
    for (i, f) in msg.fields.iter().enumerate() {
        paths.push((vec![i as u32], f.ty.clone()));
        if let Type::Message(inner) = f.ty {
            for (j, g) in s.message(inner).fields.iter().enumerate() {
                paths.push((vec![i as u32, j as u32], g.ty.clone()));
            }
        }
    }
    paths
}

/// Every map value a rule could read by key in `All`: a few keys of each `map<string, _>`.
fn readable_by_key(s: &Schema, all: MessageId) -> Vec<(KeyedPath, Type)> {
    let mut keyed = Vec::new();
    for (i, f) in s.message(all).fields.iter().enumerate() {
        if let Type::Map(k, v) = &f.ty
            && **k == Type::String
            && !matches!(**v, Type::Message(_))
        {
            for key in ["a", "k", "x", ""] {
                keyed.push((KeyedPath { map: vec![i as u32], key: key.into() }, Type::Optional(v.clone())));
            }
        }
    }
    keyed
}

/// Every field of the elements of a list of messages in `All` a list predicate could read
/// through a column.
fn readable_in_columns(s: &Schema, all: MessageId) -> Vec<(ColumnPath, Type)> {
    let mut columns = Vec::new();
    let mut lists_in = |msg: MessageId, prefix: Vec<u32>| {
        for (i, f) in s.message(msg).fields.iter().enumerate() {
            if let Type::List(elem) = &f.ty
                && let Type::Message(m) = **elem
            {
                for (j, g) in s.message(m).fields.iter().enumerate() {
                    if !matches!(g.ty.strip_optional(), Type::List(_) | Type::Map(..) | Type::Message(_)) {
                        let list = [prefix.clone(), vec![i as u32]].concat();
                        columns.push((ColumnPath { list, field: j as u32 }, g.ty.clone()));
                    }
                }
            }
        }
    };
    lists_in(all, Vec::new());
    // Lists in a message: `inner.leaves`.
    for (i, f) in s.message(all).fields.iter().enumerate() {
        if let Type::Message(m) = f.ty {
            lists_in(m, vec![i as u32]);
        }
    }
    columns
}

/// A layout of the chosen fields, map values read by key and columns (those of a list also
/// chosen whole are left out, as for programs).
fn layout_of(s: &Schema, all: MessageId, chosen: &[bool]) -> FrameLayout {
    let fields = readable(s, all);
    let mut chosen = chosen.iter().cycle();
    let mut pick = || *chosen.next().unwrap_or(&true);
    let slots: Vec<(FieldPath, Type)> = fields.into_iter().filter(|_| pick()).collect();
    let keyed: Vec<(KeyedPath, Type)> = readable_by_key(s, all).into_iter().filter(|_| pick()).collect();
    let columns: Vec<(ColumnPath, Type)> = readable_in_columns(s, all).into_iter().filter(|_| pick()).collect();
    FrameLayout::with_slots(slots, keyed, columns)
}

/// Decodes `bytes` both ways with a layout of the chosen paths and compares.
fn agree(format: WireFormat, bytes: &[u8], chosen: &[bool]) -> Result<(), TestCaseError> {
    let (s, all) = schema();
    let layout = layout_of(&s, all, chosen);
    let plan = Plan::new(&layout);
    let (mut frame, mut kept) = (vec![0xa5u8; layout.size()], Kept::default());
    let mut out = FrameOut::new(&mut frame, &mut kept, &plan);
    let framed = decode::decode_into(&s, all, format, bytes, &mut out).map_err(|e| e.reason);
    let tree = decode::decode(&s, all, format, bytes).map_err(|e| e.reason);
    let shown = String::from_utf8_lossy(bytes);
    // The JSON fast path alone, when it takes the event: the serde path must take it too.
    let (mut fast_frame, mut fast_kept) = (vec![0u8; layout.size()], Kept::default());
    let mut fast_out = FrameOut::new(&mut fast_frame, &mut fast_kept, &plan);
    fast_out.reset();
    let fast = format == WireFormat::Json && decode::fast::decode_into(&s, all, bytes, &mut fast_out);
    if fast {
        fast_out.finish();
        prop_assert!(tree.is_ok(), "the fast path took what the serde path rejects ({:?}): {}", tree, shown);
    }
    match (&tree, &framed) {
        (Err(a), Err(b)) => prop_assert_eq!(a, b, "{}", shown),
        (Ok(_), Ok(())) => {}
        _ => return Err(TestCaseError::fail(format!("tree {tree:?} vs frame {framed:?} on {shown}"))),
    }
    let Ok(tree) = tree else { return Ok(()) };
    let (mut expected, mut expected_columns) = (vec![0u8; layout.size()], Vec::new());
    layout.fill(&tree, &mut expected, &mut expected_columns);
    // Deferred: values read whole wait, then are decoded one by one as a unit would ask.
    let (mut late_frame, mut late_kept) = (vec![0u8; layout.size()], Kept::default());
    let mut late = FrameOut::new(&mut late_frame, &mut late_kept, &plan);
    late.defer = true;
    let deferred = decode::decode_into(&s, all, format, bytes, &mut late).map_err(|e| e.reason);
    prop_assert_eq!(&deferred, &framed, "deferring changed the outcome on {}", shown);
    for p in late.kept.pending().to_vec() {
        let v = decode::fast::settle(&s, bytes, &p);
        prop_assert!(v.is_some(), "a deferred value does not decode: {:?} in {}", p, shown);
        late.settle(p.whole, v.unwrap_or(evr_compiler::value::Value::Null));
    }
    let mut frames = vec![("decode_into", &frame), ("deferred", &late_frame)];
    if fast {
        frames.push(("the fast path", &fast_frame));
    }
    let every: Vec<(String, &Type, u32)> = layout
        .slots()
        .map(|(p, t, at)| (format!("{p:?}"), t, at))
        .chain(layout.keyed().map(|(k, t, at)| (format!("{:?}[{:?}]", k.map, k.key), t, at)))
        .collect();
    for (who, frame) in frames {
        // Columns: as many element slots, each holding what the tree's element holds.
        for (c, ty, at) in layout.columns() {
            let ((_, aw, an), (_, bw, bn)) = (read_slot(&expected, at), read_slot(frame, at));
            prop_assert_eq!(an, bn, "elements in column {:?} ({}) in {}", c, who, shown);
            let size = an as usize * SLOT as usize;
            if size == 0 {
                continue;
            }
            // SAFETY: a column slot points at its elements' slots, alive with the frame.
            let (ca, cb) = unsafe {
                (std::slice::from_raw_parts(aw as *const u8, size), std::slice::from_raw_parts(bw as *const u8, size))
            };
            for i in 0..an as u32 {
                let (a, b) = (read_slot(ca, i * SLOT), read_slot(cb, i * SLOT));
                prop_assert_eq!(a.0, b.0, "presence in column {:?}, element {} ({}) in {}", c, i, who, shown);
                // SAFETY: as for frame slots, below.
                let same = unsafe { same_slot(ty, a, b) };
                prop_assert!(same, "column {:?}, element {} differs ({}) in {}", c, i, who, shown);
            }
        }
        for (path, ty, at) in &every {
            let (a, b) = (read_slot(&expected, *at), read_slot(frame, *at));
            prop_assert_eq!(a.0, b.0, "presence of {} ({}) in {}", path, who, shown);
            // SAFETY: the frames were filled just now, from `tree` and from `bytes` (through
            // their `kept`), all still alive; each slot holds what its type says.
            let same = unsafe { same_slot(ty, a, b) };
            prop_assert!(same, "slot {} ({:?}) differs ({}) in {}", path, ty, who, shown);
        }
    }
    Ok(())
}

/// Plain events take the fast path (which would otherwise only ever hand over, and these tests
/// would prove nothing of it).
#[test]
fn plain_events_take_the_fast_path() {
    let (s, all) = schema();
    let layout = layout_of(&s, all, &[true]);
    let plan = Plan::new(&layout);
    let (mut frame, mut kept) = (vec![0u8; layout.size()], Kept::default());
    for event in [
        r#"{}"#,
        r#" {"i32": -5, "i64": "12", "u64": 7, "fl": 1.5, "db": 2e3, "b": true, "s": "hé", "color": "RED"} "#,
        r#"{"inner": {"name": "n", "marks": [1, -2]}, "ints": [1, 2], "strs": ["a"], "inners": [{"name": "x"}]}"#,
        r#"{"counts": {"a": 1}, "byId": {"3": {"name": "q"}}, "opt": 0, "wait": "1.5s", "colors": [1, "GREEN"], "x": [{"y": null}]}"#,
        r#"{"s": null, "inner": null, "ints": null}"#,
        r#"{"counts": {"a": 1, "a": 2}, "byId": {"1": {"marks": [3]}, "1": {"name": "r"}}}"#,
        r#"{"labels": {"a": "x", "k": "é", "z": "no", "a": "y"}, "rates": {"x": 1.5, "": 2}, "counts": {"k": "12"}}"#,
        r#"{"inners": [{"name": "a"}, {}, {"name": "é", "marks": [1]}, {"marks": [], "name": ""}]}"#,
        r#"{"inner": {"name": "n", "leaves": [{"tag": "t", "n": 1}, {}]}, "inners": [{"leaves": [{"n": 5}]}]}"#,
    ] {
        let mut out = FrameOut::new(&mut frame, &mut kept, &plan);
        out.reset();
        assert!(decode::fast::decode_into(&s, all, event.as_bytes(), &mut out), "handed over: {event}");
        agree(WireFormat::Json, event.as_bytes(), &[true]).unwrap_or_else(|e| panic!("{event}: {e}"));
        // Maps and lists not read whole, so that their values read by key and their columns
        // are decoded on their own too.
        let parts_alone = parts_alone(&s, all);
        agree(WireFormat::Json, event.as_bytes(), &parts_alone).unwrap_or_else(|e| panic!("{event}: {e}"));
    }
}

/// JSON the fast path hands over, for lists read through columns and maps read by key: a list
/// or map given twice (the last one counts), an element's field given again as null, escapes.
#[test]
fn columns_and_keys_follow_the_serde_path() {
    let (s, all) = schema();
    let parts_alone = parts_alone(&s, all);
    for event in [
        r#"{"inners": [{"name": "a"}, {"name": "b"}], "inners": [{"name": "c"}]}"#,
        r#"{"inners": [{"name": "a"}], "inners": null}"#,
        r#"{"inner": {"leaves": [{"tag": "a"}, {"n": 2}]}, "inner": {"name": "x"}}"#,
        r#"{"inner": {"leaves": [{"tag": "a"}]}, "inner": null}"#,
        r#"{"inner": {"leaves": [{"tag": "a"}]}, "inner": {"leaves": [{"tag": "b", "n": "3"}]}}"#,
        r#"{"inners": [{"name": "a", "name": null}, {"name": "b", "name": "d"}]}"#,
        r#"{"inners": [{"name": "\u00e9"}, {"name": "x"}]}"#,
        r#"{"labels": {"a": "x"}, "labels": {"k": "y"}}"#,
        r#"{"labels": {"\u0061": "x\n"}}"#,
    ] {
        for chosen in [&[true][..], &parts_alone] {
            agree(WireFormat::Json, event.as_bytes(), chosen).unwrap_or_else(|e| panic!("{event}: {e}"));
        }
    }
}

/// Chosen paths with no map, list or message read whole, so that map values read by key and
/// columns are decoded on their own.
fn parts_alone(s: &Schema, all: MessageId) -> Vec<bool> {
    readable(s, all)
        .iter()
        .map(|(_, t)| !matches!(t.strip_optional(), Type::Map(..) | Type::List(_) | Type::Message(_)))
        .chain(readable_by_key(s, all).iter().map(|_| true))
        .chain(readable_in_columns(s, all).iter().map(|_| true))
        .collect()
}

/// Protobuf map entries as encoders may write them: a key or a value left out (its default
/// then), an entry given twice (the last one wins), fields an entry does not know; and list
/// elements read through columns, between other fields.
#[test]
fn protobuf_map_entries_and_elements() {
    let (s, all) = schema();
    let field = |name: &str| s.message(all).fields.iter().find(|f| f.name == name).map(|f| f.number).unwrap();
    let delimited = |number: u32, body: &[u8]| {
        let mut out = Vec::new();
        prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, &mut out);
        prost::encoding::encode_varint(body.len() as u64, &mut out);
        out.extend_from_slice(body);
        out
    };
    let labels = |key: Option<&str>, value: Option<&str>| {
        let mut body = Vec::new();
        if let Some(k) = key {
            body.extend(delimited(1, k.as_bytes()));
        }
        if let Some(v) = value {
            body.extend(delimited(2, v.as_bytes()));
        }
        delimited(field("labels"), &body)
    };
    let counts = |key: &str, value: Option<u64>, unknown: bool| {
        let mut body = delimited(1, key.as_bytes());
        if let Some(v) = value {
            prost::encoding::encode_key(2, prost::encoding::WireType::Varint, &mut body);
            prost::encoding::encode_varint(v, &mut body);
        }
        if unknown {
            prost::encoding::encode_key(3, prost::encoding::WireType::Varint, &mut body);
            prost::encoding::encode_varint(7, &mut body);
        }
        delimited(field("counts"), &body)
    };
    let parts_alone = parts_alone(&s, all);
    let inner = |name: Option<&str>| {
        let body = name.map_or_else(Vec::new, |n| delimited(1, n.as_bytes()));
        delimited(field("inners"), &body)
    };
    for event in [
        [inner(Some("a")), labels(Some("a"), None), inner(None), inner(Some("é"))].concat(),
        labels(Some("a"), None),
        labels(None, Some("v")),
        [labels(Some("a"), Some("x")), labels(Some("k"), Some("é")), labels(Some("a"), Some("y"))].concat(),
        [counts("k", Some(5), false), counts("k", None, true), counts("x", Some(3), true)].concat(),
    ] {
        for chosen in [&[true][..], &parts_alone] {
            agree(WireFormat::Protobuf, &event, chosen).unwrap_or_else(|e| panic!("{event:?}: {e}"));
        }
    }
}

/// # Safety
/// Both slots must hold live values of type `ty`.
unsafe fn same_slot(ty: &Type, (_, aw, al): (bool, u64, u64), (_, bw, bl): (bool, u64, u64)) -> bool {
    // SAFETY: per the contract, pointers in the slots are live values of the slot's type.
    unsafe {
        let bytes =
            |w: u64, l: u64| if l == 0 { &[][..] } else { std::slice::from_raw_parts(w as *const u8, l as usize) };
        match ty.strip_optional() {
            Type::String | Type::Bytes => bytes(aw, al) == bytes(bw, bl),
            Type::Message(_) => match (aw, bw) {
                (0, 0) => true,
                (0, _) | (_, 0) => false,
                _ => *(aw as *const Message) == *(bw as *const Message),
            },
            Type::List(_) => al == bl && (al == 0 || *(aw as *const Vec<Value>) == *(bw as *const Vec<Value>)),
            Type::Map(..) => {
                al == bl && (al == 0 || *(aw as *const Vec<(Value, Value)>) == *(bw as *const Vec<(Value, Value)>))
            }
            _ => aw == bw && al == bl,
        }
    }
}

/// JSON members, valid and not, for fields of every kind; names in both spellings, duplicates,
/// nulls and escapes included.
fn member() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("i32"),
        Just("i64"),
        Just("u32"),
        Just("u64"),
        Just("s32"),
        Just("f64"),
        Just("fl"),
        Just("db"),
        Just("b"),
        Just("s"),
        Just("by"),
        Just("color"),
        Just("inner"),
        Just("ints"),
        Just("strs"),
        Just("inners"),
        Just("counts"),
        Just("by_id"),
        Just("byId"),
        Just("opt"),
        Just("wait"),
        Just("colors"),
        Just("labels"),
        Just("rates"),
        Just("unknown"),
    ];
    let value = prop_oneof![
        Just("0"),
        Just("-1"),
        Just("\"12\""),
        Just("1.5"),
        Just("1e3"),
        Just("true"),
        Just("null"),
        Just("\"abc\""),
        Just("\"a\\u00e9\\nb\""),
        Just("\"QUJD\""),
        Just("[1,2]"),
        Just("[\"x\",\"y\\\"\"]"),
        Just("[{\"name\":\"n\"}]"),
        Just("[null]"),
        Just("{\"name\":\"x\",\"marks\":[1,-2]}"),
        Just("{\"name\":\"\\u0041\"}"),
        Just("{\"a\":1}"),
        Just("{\"1\":{\"name\":\"q\"}}"),
        Just("{\"k\":3}"),
        Just("\"RED\""),
        Just("\"1.5s\""),
        Just("4294967296"),
        Just("{}"),
        Just("[]"),
        Just("{\"x\":null}"),
        Just("[[1]]"),
        Just("9223372036854775808"),
        Just("\"NaN\""),
        Just("{\"name\":5}"),
        Just("0.1"),
        Just("1e39"),
        Just("-2.5e-3"),
        Just("-0"),
        Just("01"),
        Just("\"-7\""),
        Just("\"+7\""),
        Just("[1,null]"),
        Just("{\"a\":\"x\",\"a\":\"y\"}"),
        Just("1e400"),
        Just("-9223372036854775808"),
        Just("[\"GREEN\",2]"),
        Just("{\"name\":\"a\"} "),
        Just("{\"k\":3,\"k\":4}"),
        Just("{\"1\":{\"marks\":[3]},\"1\":{\"name\":\"r\"}}"),
        // Lists read through columns: elements without the field, with it given twice or null.
        Just("[{\"name\":\"a\"},{\"marks\":[2]},{\"name\":\"\\u0041\"}]"),
        Just("[{\"name\":\"a\",\"name\":null},{\"name\":\"b\"}]"),
        Just("[{\"name\":\"x\"},null]"),
        // Maps read by key: escaped keys and values, a key given twice, null values.
        Just("{\"\\u0061\":5,\"k\":\"x\\u00e9\"}"),
        Just("{\"a\":\"é\",\"x\":\"y\",\"a\":\"b\"}"),
        Just("{\"a\":null}"),
        Just("{\"\":1.5,\"k\":-2,\"x\":\"3\"}"),
        Just("{\"x\":true}"),
    ];
    (key, value).prop_map(|(k, v)| format!("\"{k}\":{v}"))
}

/// JSON members for the maps of `All`, whose values rules read by key: keys read and not,
/// escaped, given twice; values mostly of the map's type, sometimes of another.
fn map_member() -> impl Strategy<Value = String> {
    let key = prop_oneof![Just("a"), Just("k"), Just("x"), Just(""), Just("\\u0061"), Just("z")];
    let wrong = prop_oneof![
        3 => Just("null"),
        1 => Just("true"),
        1 => Just("{}"),
        1 => Just("[1]"),
        1 => Just("1e400"),
        1 => Just("1.5"),
        1 => Just("\"s\"")
    ];
    let maps = [
        ("labels", prop_oneof![Just("\"s\""), Just("\"é\""), Just("\"x\\u00e9\""), Just("\"\"")].boxed()),
        ("rates", prop_oneof![Just("1.5"), Just("-2"), Just("0"), Just("1e3"), Just("\"-Infinity\"")].boxed()),
        ("counts", prop_oneof![Just("1"), Just("-2"), Just("\"12\""), Just("9223372036854775807")].boxed()),
    ];
    proptest::sample::select(vec![0usize, 1, 2]).prop_flat_map(move |m| {
        let (name, right) = maps[m].clone();
        let value = prop_oneof![9 => right, 1 => wrong.clone()];
        let entries = proptest::collection::vec((key.clone(), value).prop_map(|(k, v)| format!("\"{k}\":{v}")), 0..5);
        prop_oneof![9 => entries.prop_map(|e| format!("{{{}}}", e.join(","))), 1 => Just("null".to_owned())]
            .prop_map(move |m| format!("\"{name}\":{m}"))
    })
}

proptest! {
    #![proptest_config(crate::cases(500))]

    #[test]
    fn maps_read_by_key_decode_alike(members in proptest::collection::vec(prop_oneof![3 => map_member(), 1 => member()], 0..4), chosen in proptest::collection::vec(any::<bool>(), 1..60)) {
        agree(WireFormat::Json, format!("{{{}}}", members.join(",")).as_bytes(), &chosen)?;
    }

    #[test]
    fn json_members_decode_alike(members in proptest::collection::vec(member(), 0..6), chosen in proptest::collection::vec(any::<bool>(), 1..40)) {
        agree(WireFormat::Json, format!("{{{}}}", members.join(",")).as_bytes(), &chosen)?;
    }

    #[test]
    fn encoded_events_decode_alike(
        v in { let (s, all) = schema(); message(&s, all) },
        chosen in proptest::collection::vec(any::<bool>(), 1..40),
        cut in any::<prop::sample::Index>(),
        flip in proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
    ) {
        let (s, _) = schema();
        for format in [WireFormat::Json, WireFormat::Protobuf] {
            let mut bytes = Vec::new();
            encode::encode(&s, format, &v, &mut bytes);
            agree(format, &bytes, &chosen)?;
            // Damaged: a byte changed, or the event cut short.
            if let Some((at, byte)) = flip && !bytes.is_empty() {
                let mut damaged = bytes.clone();
                damaged[at.index(bytes.len())] = byte;
                agree(format, &damaged, &chosen)?;
            }
            agree(format, &bytes[..cut.index(bytes.len() + 1)], &chosen)?;
        }
    }

    #[test]
    fn arbitrary_bytes_decode_alike(bytes in proptest::collection::vec(any::<u8>(), 0..120), chosen in proptest::collection::vec(any::<bool>(), 1..40)) {
        agree(WireFormat::Json, &bytes, &chosen)?;
        agree(WireFormat::Protobuf, &bytes, &chosen)?;
    }
}
