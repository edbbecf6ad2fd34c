//! Decoding into frames against decoding into value trees: for any input and any choice of
//! fields read, both fail with the same reason or both succeed, and every slot of the frame
//! holds what the tree holds at its path.

use evr_compiler::interp::value::{Message, Value};
use evr_compiler::ir::{FieldPath, WireFormat};
use evr_compiler::jit::frame::{FrameLayout, read_slot};
use evr_compiler::schema::{MessageId, Schema};
use evr_compiler::types::Type;
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

/// Decodes `bytes` both ways with a layout of the chosen paths and compares.
fn agree(format: WireFormat, bytes: &[u8], chosen: &[bool]) -> Result<(), TestCaseError> {
    let (s, all) = schema();
    let slots: Vec<(FieldPath, Type)> =
        readable(&s, all).into_iter().zip(chosen.iter().cycle()).filter(|(_, c)| **c).map(|(p, _)| p).collect();
    let layout = FrameLayout::with_slots(slots);
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
    let mut expected = vec![0u8; layout.size()];
    layout.fill(&tree, &mut expected);
    // Deferred: values read whole wait, then are decoded one by one as a unit would ask.
    let (mut late_frame, mut late_kept) = (vec![0u8; layout.size()], Kept::default());
    let mut late = FrameOut::new(&mut late_frame, &mut late_kept, &plan);
    late.defer = true;
    let deferred = decode::decode_into(&s, all, format, bytes, &mut late).map_err(|e| e.reason);
    prop_assert_eq!(&deferred, &framed, "deferring changed the outcome on {}", shown);
    for p in late.kept.pending().to_vec() {
        let v = decode::fast::settle(&s, bytes, &p);
        prop_assert!(v.is_some(), "a deferred value does not decode: {:?} in {}", p, shown);
        late.settle(p.whole, v.unwrap_or(evr_compiler::interp::value::Value::Null));
    }
    let mut frames = vec![("decode_into", &frame), ("deferred", &late_frame)];
    if fast {
        frames.push(("the fast path", &fast_frame));
    }
    for (who, frame) in frames {
        for (path, ty, at) in layout.slots() {
            let (a, b) = (read_slot(&expected, at), read_slot(frame, at));
            prop_assert_eq!(a.0, b.0, "presence of {:?} ({}) in {}", path, who, shown);
            // SAFETY: the frames were filled just now, from `tree` and from `bytes` (through
            // their `kept`), all still alive; each slot holds what its type says.
            let same = unsafe { same_slot(ty, a, b) };
            prop_assert!(same, "slot {:?} ({:?}) differs ({}) in {}", path, ty, who, shown);
        }
    }
    Ok(())
}

/// Plain events take the fast path (which would otherwise only ever hand over, and these tests
/// would prove nothing of it).
#[test]
fn plain_events_take_the_fast_path() {
    let (s, all) = schema();
    let every: Vec<bool> = vec![true; 40];
    let slots: Vec<(FieldPath, Type)> = readable(&s, all).into_iter().zip(every).map(|(p, _)| p).collect();
    let layout = FrameLayout::with_slots(slots);
    let plan = Plan::new(&layout);
    let (mut frame, mut kept) = (vec![0u8; layout.size()], Kept::default());
    for event in [
        r#"{}"#,
        r#" {"i32": -5, "i64": "12", "u64": 7, "fl": 1.5, "db": 2e3, "b": true, "s": "hé", "color": "RED"} "#,
        r#"{"inner": {"name": "n", "marks": [1, -2]}, "ints": [1, 2], "strs": ["a"], "inners": [{"name": "x"}]}"#,
        r#"{"counts": {"a": 1}, "byId": {"3": {"name": "q"}}, "opt": 0, "wait": "1.5s", "colors": [1, "GREEN"], "x": [{"y": null}]}"#,
        r#"{"s": null, "inner": null, "ints": null}"#,
        r#"{"counts": {"a": 1, "a": 2}, "byId": {"1": {"marks": [3]}, "1": {"name": "r"}}}"#,
    ] {
        let mut out = FrameOut::new(&mut frame, &mut kept, &plan);
        out.reset();
        assert!(decode::fast::decode_into(&s, all, event.as_bytes(), &mut out), "handed over: {event}");
        agree(WireFormat::Json, event.as_bytes(), &[true]).unwrap_or_else(|e| panic!("{event}: {e}"));
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
    ];
    (key, value).prop_map(|(k, v)| format!("\"{k}\":{v}"))
}

proptest! {
    #![proptest_config(crate::cases(500))]

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
