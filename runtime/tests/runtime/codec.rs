//! The codecs: protobuf wire cases written by hand, JSON and protobuf round trips over random
//! values of every field kind, and decoders that never panic on arbitrary bytes.

use std::path::Path;
use std::sync::Arc;

use evr_compiler::ir::WireFormat;
use evr_compiler::schema::{self, Label, MessageId, ProtoUse, Schema, WireKind};
use evr_compiler::types::Type;
use evr_compiler::value::{Message, Value};
use evr_runtime::{decode, encode};
use proptest::prelude::*;

pub(crate) fn schema() -> (Schema, MessageId) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/codec.proto");
    let (schema, diags) = schema::load(
        &[ProtoUse { path, shown: "codec.proto".into(), written: "codec.proto".into(), span: Default::default() }],
        &mut evr_compiler::files::Files::default(),
    );
    assert!(diags.is_empty(), "{diags:?}");
    let Some(schema::TypeRef::Message(all)) = schema.lookup("codec.v1.All") else { panic!("codec.v1.All") };
    (schema, all)
}

fn field(schema: &Schema, ty: MessageId, name: &str) -> usize {
    schema.message(ty).field(name).expect("field exists").0 as usize
}

fn pb(schema: &Schema, ty: MessageId, bytes: &[u8]) -> Result<Value, String> {
    decode::decode(schema, ty, WireFormat::Protobuf, bytes).map_err(|e| e.reason)
}

fn get(v: &Value, i: usize) -> &Value {
    match v {
        Value::Message(m) => &m.fields[i],
        _ => panic!("not a message"),
    }
}

#[test]
fn protobuf_wire_cases() {
    let (s, all) = schema();
    // i64 = 150 (varint 0x96 0x01), then an unknown field 99 (varint), then s32 = -2 (zigzag 3).
    let v = pb(&s, all, &[0x10, 0x96, 0x01, 0x98, 0x06, 0x01, 0x28, 0x03]).unwrap();
    assert_eq!(get(&v, field(&s, all, "i64")), &Value::Int(150));
    assert_eq!(get(&v, field(&s, all, "s32")), &Value::Int(-2));
    // ints = [1, 2] packed, then 3 unpacked: both forms append.
    let v = pb(&s, all, &[0x92, 0x01, 0x02, 0x01, 0x02, 0x90, 0x01, 0x03]).unwrap();
    let ints = get(&v, field(&s, all, "ints"));
    assert_eq!(ints, &Value::List(Arc::new(vec![Value::Int(1), Value::Int(2), Value::Int(3)])));
    // inner given twice merges: name from the first, marks from both.
    let v = pb(&s, all, &[0x8a, 0x01, 0x03, 0x0a, 0x01, b'a', 0x8a, 0x01, 0x02, 0x10, 0x02]).unwrap();
    let Value::Message(inner) = get(&v, field(&s, all, "inner")) else { panic!("inner") };
    assert_eq!(inner.fields[0], Value::str("a"));
    assert_eq!(inner.fields[1], Value::List(Arc::new(vec![Value::Int(1)])));
    // fixed64 and negative int32 (ten-byte varint).
    let v =
        pb(&s, all, &[0x41, 1, 0, 0, 0, 0, 0, 0, 0, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
            .unwrap();
    assert_eq!(get(&v, field(&s, all, "f64")), &Value::Int(1));
    assert_eq!(get(&v, field(&s, all, "i32")), &Value::Int(-1));
    // Duration { seconds: 2, nanos: 500000000 } is 2500 ms.
    let v = pb(&s, all, &[0xc2, 0x01, 0x08, 0x08, 0x02, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01]).unwrap();
    assert_eq!(get(&v, field(&s, all, "wait")), &Value::Duration(2500));
}

#[test]
fn protobuf_errors_name_the_field() {
    let (s, all) = schema();
    let cases: &[(&[u8], &str)] = &[
        (&[0x10], "i64: invalid varint"),
        (&[0x72, 0x05, b'a'], "s: truncated"),
        (&[0x72, 0x01, 0xff], "s: string is not valid UTF-8"),
        (
            &[0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            "u64: 18446744073709551615 is out of range",
        ),
        (&[0x15, 1, 2, 3, 4], "i64: wire type ThirtyTwoBit does not match int64"),
        (&[0x0b], "i32: wire type StartGroup does not match int32"),
        (&[0x9b, 0x06], "groups are not supported"),
        (&[0x8a, 0x01, 0x02, 0x12, 0x01], "inner.marks: truncated"),
        (&[0x41, 1, 2], "f64: truncated fixed-width value"),
    ];
    for (bytes, want) in cases {
        let err = pb(&s, all, bytes).expect_err(want);
        assert!(err.contains(want), "{bytes:02x?}: {err:?} does not contain {want:?}");
    }
}

#[test]
fn json_rejects_what_is_not_an_event() {
    let (s, all) = schema();
    for text in [
        "",
        "{",
        "[]",
        "null",
        "1",
        "\"x\"",
        "{\"i32\":2147483648}",
        "{\"u32\":-1}",
        "{\"u64\":\"-5\"}",
        "{\"fl\":1e39}",
        "{\"color\":\"BLUE\"}",
        "{\"by\":\"%%\"}",
        "{\"ints\":[1,\"x\"]}",
        "{\"by_id\":{\"a\":{}}}",
        "{\"inner\":{\"marks\":[2147483648]}}",
        "{\"wait\":\"1m\"}",
        "{\"b\":1}",
        "{\"s\":true}",
        "{} {}",
        "{\"i32\":1,}",
        "{'i32':1}",
        "\u{feff}{}",
        "{\"s\":\"\\ud800\"}",
    ] {
        assert!(decode::decode(&s, all, WireFormat::Json, text.as_bytes()).is_err(), "{text:?} decoded");
    }
}

/// A random value for a field of `schema`, by its wire kind.
fn scalar(kind: WireKind, color_values: i32) -> BoxedStrategy<Value> {
    match kind {
        WireKind::Int32 | WireKind::Sint32 | WireKind::Sfixed32 => {
            any::<i32>().prop_map(|v| Value::Int(v.into())).boxed()
        }
        WireKind::Uint32 | WireKind::Fixed32 => any::<u32>().prop_map(|v| Value::Int(v.into())).boxed(),
        WireKind::Uint64 | WireKind::Fixed64 => (0..=i64::MAX).prop_map(Value::Int).boxed(),
        WireKind::Int64 | WireKind::Sint64 | WireKind::Sfixed64 => any::<i64>().prop_map(Value::Int).boxed(),
        WireKind::Float => {
            any::<f32>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| Value::Float(f.into())).boxed()
        }
        WireKind::Double => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::Float).boxed(),
        WireKind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        WireKind::String => "\\PC{0,12}".prop_map(|s| Value::str(&s)).boxed(),
        WireKind::Bytes => {
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(|b| Value::Bytes(Arc::from(b))).boxed()
        }
        WireKind::Enum => (0..color_values).prop_map(Value::Enum).boxed(),
        WireKind::Duration => (-1_000_000_000i64..1_000_000_000).prop_map(Value::Duration).boxed(),
        WireKind::Timestamp => evr_stdlib::time::TIMESTAMP_MS.prop_map(Value::Int).boxed(),
        WireKind::Json(shape) => json_text(shape).boxed(),
        WireKind::FieldMask => proptest::collection::vec("[a-z][a-z_]{0,4}(\\.[a-z]{1,3})?", 0..3)
            .prop_map(|paths| Value::str(&paths.join(",")))
            .boxed(),
        WireKind::Message => Just(Value::Null).boxed(),
    }
}

/// Canonical JSON texts of a shape, nested a little.
fn json_text(shape: evr_compiler::json_text::Shape) -> impl Strategy<Value = Value> {
    use evr_compiler::json_text::{Shape, canonical};
    use serde_json::Value as J;
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        (-1e6f64..1e6).prop_map(J::from),
        (-1000i64..1000).prop_map(J::from),
        "\\PC{0,6}".prop_map(J::String),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(J::Array),
            proptest::collection::btree_map("[a-z]{0,4}", inner, 0..4).prop_map(|m| J::Object(m.into_iter().collect())),
        ]
    });
    value
        .prop_map(move |v| match (shape, v) {
            (Shape::Struct, J::Object(m)) => J::Object(m),
            (Shape::Struct, v) => J::Object([("k".to_owned(), v)].into_iter().collect()),
            (Shape::List, J::Array(a)) => J::Array(a),
            (Shape::List, v) => J::Array(vec![v]),
            (Shape::Value, v) => v,
        })
        .prop_map(|v| Value::str(&canonical(&v)))
}

fn inner(s: &Schema, ty: MessageId) -> BoxedStrategy<Value> {
    let n = s.message(ty).fields.len();
    ("[a-z]{0,5}", proptest::collection::vec(any::<i32>(), 0..4))
        .prop_map(move |(name, marks)| {
            let mut fields = vec![Value::Null; n];
            fields[0] = if name.is_empty() { Value::Null } else { Value::str(&name) };
            fields[1] = if marks.is_empty() {
                Value::Null
            } else {
                Value::List(Arc::new(marks.into_iter().map(|m| Value::Int(m.into())).collect()))
            };
            Value::Message(Arc::new(Message { ty, fields }))
        })
        .boxed()
}

/// Random `All` messages; unset fields stay `Null`, as decoding leaves them.
pub(crate) fn message(s: &Schema, all: MessageId) -> BoxedStrategy<Value> {
    let msg = s.message(all);
    let Some(schema::TypeRef::Message(inner_ty)) = s.lookup("codec.v1.Inner") else { panic!("Inner") };
    let mut strategies: Vec<BoxedStrategy<Value>> = Vec::new();
    for f in &msg.fields {
        let element = if f.wire == WireKind::Message { inner(s, inner_ty) } else { scalar(f.wire, 3) };
        let strategy = match f.label {
            Label::Singular => prop_oneof![1 => Just(Value::Null), 3 => element].boxed(),
            Label::Repeated => proptest::collection::vec(element, 0..4)
                .prop_map(|items| if items.is_empty() { Value::Null } else { Value::List(Arc::new(items)) })
                .boxed(),
            Label::Map => {
                let key = match f.ty {
                    Type::Map(ref k, _) if **k == Type::String => "[a-z]{1,4}".prop_map(|k| Value::str(&k)).boxed(),
                    _ => any::<i32>().prop_map(|k| Value::Int(k.into())).boxed(),
                };
                let value = match f.map_wire {
                    Some((_, WireKind::Message)) => inner(s, inner_ty),
                    Some((_, wire)) => scalar(wire, 3),
                    None => scalar(WireKind::Int64, 3),
                };
                proptest::collection::vec((key, value), 0..4)
                    .prop_map(|entries| {
                        let mut unique: Vec<(Value, Value)> = Vec::new();
                        for (k, v) in entries {
                            if !unique.iter().any(|(u, _)| *u == k) {
                                unique.push((k, v));
                            }
                        }
                        if unique.is_empty() { Value::Null } else { Value::Map(Arc::new(unique)) }
                    })
                    .boxed()
            }
        };
        strategies.push(strategy);
    }
    strategies.prop_map(move |fields| Value::Message(Arc::new(Message { ty: all, fields }))).boxed()
}

/// What a decoder gives back for a value after encoding: fields at their default read as unset
/// (proto3 does not send them), except where the field has presence.
fn normalized(s: &Schema, v: &Value) -> Value {
    let Value::Message(m) = v else { return v.clone() };
    let msg = s.message(m.ty);
    let fields = msg
        .fields
        .iter()
        .zip(&m.fields)
        .map(|(f, v)| match v {
            Value::Message(_) => normalized(s, v),
            Value::List(items) => Value::List(Arc::new(items.iter().map(|i| normalized(s, i)).collect())),
            Value::Map(entries) => {
                Value::Map(Arc::new(entries.iter().map(|(k, v)| (k.clone(), normalized(s, v))).collect()))
            }
            v if !f.ty.is_optional() && v.is_default() => Value::Null,
            v => v.clone(),
        })
        .collect();
    Value::Message(Arc::new(Message { ty: m.ty, fields }))
}

proptest! {
    #![proptest_config(crate::cases(300))]

    #[test]
    fn json_round_trips(v in { let (s, all) = schema(); message(&s, all) }) {
        let (s, all) = schema();
        let mut bytes = Vec::new();
        encode::encode(&s, WireFormat::Json, &v, &mut bytes);
        let back = decode::decode(&s, all, WireFormat::Json, &bytes).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&bytes))))?;
        prop_assert_eq!(normalized(&s, &back), normalized(&s, &v), "{}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn protobuf_round_trips(v in { let (s, all) = schema(); message(&s, all) }) {
        let (s, all) = schema();
        let mut bytes = Vec::new();
        encode::encode(&s, WireFormat::Protobuf, &v, &mut bytes);
        let back = pb(&s, all, &bytes).map_err(TestCaseError::fail)?;
        prop_assert_eq!(normalized(&s, &back), normalized(&s, &v));
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (s, all) = schema();
        let _ = decode::decode(&s, all, WireFormat::Json, &bytes);
        let _ = decode::decode(&s, all, WireFormat::Protobuf, &bytes);
    }

    #[test]
    fn json_decoder_never_panics_on_near_json(text in "[{}\\[\\]\",:0-9a-z.eE+\\- ]{0,80}") {
        let (s, all) = schema();
        let _ = decode::decode(&s, all, WireFormat::Json, text.as_bytes());
    }
}

/// Length-delimited protobuf input through the file host: each record is an event; a truncated
/// last record is a dirty record, not a crash or a silent loss.
#[test]
fn delimited_protobuf_input() {
    use evr_runtime::executor::{Config, Executor, Loaded};
    use evr_runtime::file_host::{self, InputFormat};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files = evr_compiler::files::Files::default();
    let rules = "use \"codec.proto\";\nuse codec.v1.All;\nsource s: All as protobuf;\nsink out: All as json;\n\
                 rule r on s when i32 > 0 => route out;\nrule e on s when i32 < 0 { emit out { s: \"negative\" }; }\n";
    files.add(dir.join("bundle.evr"), "bundle.evr", rules.to_owned());
    let a = evr_compiler::analyze(files);
    assert!(!a.has_errors(), "{:?}", a.diagnostics);
    let mut exec = Executor::new(Loaded::from_analysis(&a, Config::default()).unwrap());
    let mut input = Vec::new();
    for record in [&[0x08, 0x05][..], &[0x08, 0xff, 0xff, 0xff, 0xff, 0x0f], &[0x72, 0x01, 0xff]] {
        prost::encoding::encode_varint(record.len() as u64, &mut input);
        input.extend_from_slice(record);
    }
    input.extend_from_slice(&[0x05, 0x08]); // announces 5 bytes, holds 1
    let mut out = Vec::new();
    let stats = file_host::run(
        &mut exec,
        &a.program.sources[0].name,
        InputFormat::DelimitedProtobuf,
        std::io::Cursor::new(input),
        &mut out,
        &mut (),
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], r#"{"sink":"out","value":{"i32":5}}"#);
    assert_eq!(lines[1], r#"{"sink":"out","value":{"s":"negative"}}"#);
    assert!(lines[2].starts_with(r#"{"sink":"dirty","error":"s: string is not valid UTF-8","line":3"#), "{}", lines[2]);
    assert!(
        lines[3].contains("input ends inside a record of 5 bytes") && lines[3].contains("\"line\":4"),
        "{}",
        lines[3]
    );
    assert_eq!((stats.events, stats.outputs, stats.dirty), (4, 2, 2));
}

/// What a routed event sends: its own bytes when the sink's format is the source's, the event
/// transcoded otherwise; emitted records in their sink's format.
#[test]
fn payloads_forward_or_transcode() {
    use evr_runtime::executor::{Config, Executor, Loaded, Output};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files = evr_compiler::files::Files::default();
    let rules = "use \"codec.proto\";\nuse codec.v1.{All, Inner};\nsource s: All as json;\n\
                 sink same: All as json;\nsink other: All as protobuf;\nsink rec: Inner as protobuf;\n\
                 rule r on s { route same; route other; emit rec { name: s }; }\n";
    files.add(dir.join("bundle.evr"), "bundle.evr", rules.to_owned());
    let a = evr_compiler::analyze(files);
    assert!(!a.has_errors(), "{:?}", a.diagnostics);
    let mut exec = Executor::new(Loaded::from_analysis(&a, Config::default()).unwrap());
    let input = br#"{"s":"hi","unknown":1, "i32": 5}"#;
    let mut outputs = Vec::new();
    assert!(exec.process(evr_compiler::ir::SourceId(0), input, 0, &mut outputs).decoded);
    let payloads: Vec<Vec<u8>> =
        outputs.iter().map(|o| exec.payload(evr_compiler::ir::SourceId(0), input, o).unwrap().into_owned()).collect();
    assert!(matches!(outputs[0], Output::Forward { .. }));
    assert_eq!(payloads[0], input.to_vec(), "same format: the original bytes");
    assert_eq!(payloads[1], vec![0x08, 0x05, 0x72, 0x02, b'h', b'i'], "transcoded to protobuf");
    assert_eq!(payloads[2], vec![0x0a, 0x02, b'h', b'i'], "an emitted Inner");
}
