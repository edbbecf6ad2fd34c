//! Protobuf schemas: `.proto` files compiled in Rust (protox, no `protoc`) into a descriptor pool,
//! and a flat table of messages, enums and fields with EVR types for the checker and evaluators.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use evr_grammar::ast::Span;
use prost_reflect::{Cardinality, DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};

use crate::diag::{Code, Diagnostic};
use crate::files::{Files, io_reason};
pub use crate::json_text::Shape;
use crate::types::Type;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnumId(pub u32);

/// How a field is stored on the wire; the EVR type alone does not say (int32 vs sint64 ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireKind {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
    Enum,
    Message,
    /// google.protobuf.Duration, which EVR reads as a `duration`.
    Duration,
    /// google.protobuf.Timestamp, which EVR reads as an `int` of milliseconds since the epoch.
    Timestamp,
    /// google.protobuf.Value, Struct or ListValue, which EVR reads as a `string` of JSON text
    /// (see `json_text`).
    Json(Shape),
    /// google.protobuf.FieldMask, which EVR reads as a `string`: its paths joined by `,`, as
    /// in JSON.
    FieldMask,
}

impl WireKind {
    /// The protobuf spelling of the kind, for messages.
    pub fn proto_name(self) -> &'static str {
        match self {
            WireKind::Int32 => "int32",
            WireKind::Int64 => "int64",
            WireKind::Uint32 => "uint32",
            WireKind::Uint64 => "uint64",
            WireKind::Sint32 => "sint32",
            WireKind::Sint64 => "sint64",
            WireKind::Fixed32 => "fixed32",
            WireKind::Fixed64 => "fixed64",
            WireKind::Sfixed32 => "sfixed32",
            WireKind::Sfixed64 => "sfixed64",
            WireKind::Double => "double",
            WireKind::Float => "float",
            WireKind::Bool => "bool",
            WireKind::String => "string",
            WireKind::Bytes => "bytes",
            WireKind::Enum => "enum",
            WireKind::Message => "message",
            WireKind::Duration => "google.protobuf.Duration",
            WireKind::Timestamp => "google.protobuf.Timestamp",
            WireKind::Json(Shape::Value) => "google.protobuf.Value",
            WireKind::Json(Shape::Struct) => "google.protobuf.Struct",
            WireKind::Json(Shape::List) => "google.protobuf.ListValue",
            WireKind::FieldMask => "google.protobuf.FieldMask",
        }
    }

    /// A message on the wire that EVR reads as a scalar: it has presence, and its unset value
    /// reads as the scalar's default.
    pub fn is_scalar_message(self) -> bool {
        matches!(self, WireKind::Duration | WireKind::Timestamp | WireKind::Json(_) | WireKind::FieldMask)
    }

    /// Whether values of this kind are length-delimited on the wire (never packed).
    pub fn is_length_delimited(self) -> bool {
        matches!(self, WireKind::String | WireKind::Bytes | WireKind::Message) || self.is_scalar_message()
    }

    /// Whether values of this kind are integers on the wire and in EVR.
    pub fn is_int(self) -> bool {
        matches!(
            self,
            WireKind::Int32
                | WireKind::Int64
                | WireKind::Uint32
                | WireKind::Uint64
                | WireKind::Sint32
                | WireKind::Sint64
                | WireKind::Fixed32
                | WireKind::Fixed64
                | WireKind::Sfixed32
                | WireKind::Sfixed64
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    Singular,
    Repeated,
    Map,
}

#[derive(Clone, Debug)]
pub struct Field {
    pub name: String,
    pub json_name: String,
    pub number: u32,
    /// The EVR type of a read: `T?` for fields with explicit presence (proto3 `optional`).
    pub ty: Type,
    pub wire: WireKind,
    pub label: Label,
    /// For map fields, how the key and value are stored.
    pub map_wire: Option<(WireKind, WireKind)>,
    /// The oneof this field is a member of (its index in `Message::oneofs`): at most one
    /// member of a oneof is set. proto3 `optional` fields, oneofs of their own, are none.
    pub oneof: Option<u32>,
    /// A singular `google.protobuf.*Value` wrapper: read as `T?` of its `wire` kind, written
    /// in binary as a message holding the value in field 1 (in JSON as the plain value).
    pub wrapper: bool,
    /// Its values are (or are maps of) `google.protobuf.Any`, whose JSON form is not its fields
    /// (`"@type"` and the packed message's): the serde path decodes them.
    pub holds_any: bool,
}

#[derive(Clone, Debug)]
pub struct Message {
    pub full_name: String,
    pub name: String,
    pub fields: Vec<Field>,
    /// The names of the message's oneofs.
    pub oneofs: Vec<String>,
    by_name: HashMap<String, u32>,
}

impl Message {
    pub fn field(&self, name: &str) -> Option<(u32, &Field)> {
        self.by_name.get(name).map(|&i| (i, &self.fields[i as usize]))
    }

    /// The other members of the oneof field `index` belongs to (none when it is in no oneof).
    pub fn oneof_siblings(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        let oneof = self.fields.get(index).and_then(|f| f.oneof);
        self.fields
            .iter()
            .enumerate()
            .filter(move |(i, f)| oneof.is_some() && f.oneof == oneof && *i != index)
            .map(|(i, _)| i)
    }
}

#[derive(Clone, Debug)]
pub struct Enum {
    pub full_name: String,
    pub name: String,
    pub values: Vec<(String, i32)>,
}

impl Enum {
    pub fn value(&self, name: &str) -> Option<i32> {
        self.values.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TypeRef {
    Message(MessageId),
    Enum(EnumId),
}

/// All messages and enums of a bundle's schemas.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    pub pool: DescriptorPool,
    messages: Vec<Message>,
    enums: Vec<Enum>,
    by_full_name: HashMap<String, TypeRef>,
    /// A schema in use did not compile (reported): a type not found may be one of its, so
    /// unknown types are not reported on top.
    pub incomplete: bool,
    /// Where each `.proto` file of the pool is on disk, by its name in the pool (none for a
    /// built bundle's schemas): what going to a field's definition opens.
    pub proto_paths: HashMap<String, PathBuf>,
    /// Its content hash ([`crate::meaning::schema_hash`]), worked out once: every reload asks.
    pub(crate) hash: std::sync::OnceLock<u64>,
}

/// A definition in a `.proto` file: where it is (0-based lines and columns, as protobuf
/// counts them) and the comment before it.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtoPlace {
    pub path: PathBuf,
    pub start: (u32, u32),
    pub end: (u32, u32),
    pub comment: Option<String>,
}

/// Something a schema defines.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ProtoItem {
    Message(MessageId),
    Field(MessageId, u32),
    Enum(EnumId),
    EnumValue(EnumId, i32),
}

impl Schema {
    /// Where a schema defines `item`, with its comment; `None` for a built bundle's schemas.
    pub fn place(&self, item: ProtoItem) -> Option<ProtoPlace> {
        let (file, path) = match item {
            ProtoItem::Message(m) => {
                let d = self.pool.get_message_by_name(&self.message(m).full_name)?;
                (d.parent_file_descriptor_proto().clone(), d.path().to_vec())
            }
            ProtoItem::Field(m, index) => {
                let number = self.message(m).fields.get(index as usize)?.number;
                let d = self.pool.get_message_by_name(&self.message(m).full_name)?.get_field(number)?;
                (d.parent_file().file_descriptor_proto().clone(), d.path().to_vec())
            }
            ProtoItem::Enum(e) => {
                let d = self.pool.get_enum_by_name(&self.enum_(e).full_name)?;
                (d.parent_file_descriptor_proto().clone(), d.path().to_vec())
            }
            ProtoItem::EnumValue(e, value) => {
                let d = self.pool.get_enum_by_name(&self.enum_(e).full_name)?.get_value(value)?;
                (d.parent_file().file_descriptor_proto().clone(), d.path().to_vec())
            }
        };
        let disk = self.proto_paths.get(file.name())?.clone();
        let location = file.source_code_info.as_ref()?.location.iter().find(|l| l.path == path)?;
        let (start, end) = match location.span.as_slice() {
            [line, col, end_col] => ((*line as u32, *col as u32), (*line as u32, *end_col as u32)),
            [line, col, end_line, end_col] => ((*line as u32, *col as u32), (*end_line as u32, *end_col as u32)),
            _ => return None,
        };
        let comment = [location.leading_comments(), location.trailing_comments()]
            .into_iter()
            .map(|c| c.lines().map(str::trim).collect::<Vec<_>>().join("\n").trim().to_owned())
            .find(|c| !c.is_empty());
        Some(ProtoPlace { path: disk, start, end, comment })
    }

    pub fn message(&self, id: MessageId) -> &Message {
        &self.messages[id.0 as usize]
    }

    pub fn enum_(&self, id: EnumId) -> &Enum {
        &self.enums[id.0 as usize]
    }

    pub fn messages(&self) -> impl Iterator<Item = (MessageId, &Message)> {
        self.messages.iter().enumerate().map(|(i, m)| (MessageId(i as u32), m))
    }

    pub fn enums(&self) -> impl Iterator<Item = (EnumId, &Enum)> {
        self.enums.iter().enumerate().map(|(i, e)| (EnumId(i as u32), e))
    }

    pub fn lookup(&self, full_name: &str) -> Option<TypeRef> {
        self.by_full_name.get(full_name).copied()
    }

    /// Fully qualified names of every type whose last segment is `short`.
    pub fn with_short_name<'a>(&'a self, short: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.by_full_name.keys().filter(move |k| k.rsplit('.').next() == Some(short)).map(String::as_str)
    }

    pub fn full_names(&self) -> impl Iterator<Item = &str> {
        self.by_full_name.keys().map(String::as_str)
    }

    pub fn type_ref_name(&self, t: TypeRef) -> &str {
        match t {
            TypeRef::Message(m) => &self.message(m).full_name,
            TypeRef::Enum(e) => &self.enum_(e).full_name,
        }
    }

    pub fn from_pool(pool: DescriptorPool) -> Schema {
        let mut schema = Schema { pool: pool.clone(), ..Schema::default() };
        let messages: Vec<MessageDescriptor> =
            pool.all_messages().filter(|m| !m.is_map_entry() && !is_scalar_message(m.full_name())).collect();
        for (i, m) in messages.iter().enumerate() {
            schema.by_full_name.insert(m.full_name().to_owned(), TypeRef::Message(MessageId(i as u32)));
        }
        for (i, e) in pool.all_enums().enumerate() {
            schema.by_full_name.insert(e.full_name().to_owned(), TypeRef::Enum(EnumId(i as u32)));
            schema.enums.push(Enum {
                full_name: e.full_name().to_owned(),
                name: e.name().to_owned(),
                values: e.values().map(|v| (v.name().to_owned(), v.number())).collect(),
            });
        }
        for m in &messages {
            let mut fields = Vec::new();
            let mut by_name = HashMap::new();
            let real: Vec<_> = m.oneofs().filter(|o| !o.is_synthetic()).collect();
            for f in m.fields() {
                by_name.insert(f.name().to_owned(), fields.len() as u32);
                let mut field = schema.field(&f);
                field.oneof = f
                    .containing_oneof()
                    .and_then(|o| real.iter().position(|r| r.full_name() == o.full_name()))
                    .map(|i| i as u32);
                fields.push(field);
            }
            schema.messages.push(Message {
                full_name: m.full_name().to_owned(),
                name: m.name().to_owned(),
                fields,
                oneofs: real.iter().map(|o| o.name().to_owned()).collect(),
                by_name,
            });
        }
        schema
    }

    fn field(&self, f: &FieldDescriptor) -> Field {
        let wrapper = wrapped(f);
        // The kind of the field's values (a map's: its values').
        let values = match (f.is_map(), f.kind()) {
            (true, Kind::Message(entry)) => entry.map_entry_value_field().kind(),
            (_, k) => k,
        };
        let (ty, wire, label, map_wire) = if f.is_map() {
            let Kind::Message(entry) = f.kind() else { unreachable!("a map field's kind is its entry message") };
            let (kt, kw) = self.kind_type(&entry.map_entry_key_field());
            let (vt, vw) = self.kind_type(&entry.map_entry_value_field());
            (Type::Map(Box::new(kt), Box::new(vt)), WireKind::Message, Label::Map, Some((kw, vw)))
        } else if f.is_list() {
            let (t, w) = self.kind_type(f);
            (Type::list(t), w, Label::Repeated, None)
        } else if let Some((t, w)) = wrapper.clone() {
            (t.optional(), w, Label::Singular, None)
        } else {
            let (t, w) = self.kind_type(f);
            let scalar_with_presence = f.supports_presence()
                && w != WireKind::Message
                && !w.is_scalar_message()
                && f.cardinality() != Cardinality::Required;
            let t = if scalar_with_presence { t.optional() } else { t };
            (t, w, Label::Singular, None)
        };
        Field {
            name: f.name().to_owned(),
            json_name: f.json_name().to_owned(),
            number: f.number(),
            ty,
            wire,
            label,
            map_wire,
            oneof: None,
            wrapper: wrapper.is_some(),
            holds_any: matches!(values, Kind::Message(m) if m.full_name() == ANY),
        }
    }

    fn kind_type(&self, f: &FieldDescriptor) -> (Type, WireKind) {
        match f.kind() {
            Kind::Double => (Type::Float, WireKind::Double),
            Kind::Float => (Type::Float, WireKind::Float),
            Kind::Int32 => (Type::Int, WireKind::Int32),
            Kind::Int64 => (Type::Int, WireKind::Int64),
            Kind::Uint32 => (Type::Int, WireKind::Uint32),
            Kind::Uint64 => (Type::Int, WireKind::Uint64),
            Kind::Sint32 => (Type::Int, WireKind::Sint32),
            Kind::Sint64 => (Type::Int, WireKind::Sint64),
            Kind::Fixed32 => (Type::Int, WireKind::Fixed32),
            Kind::Fixed64 => (Type::Int, WireKind::Fixed64),
            Kind::Sfixed32 => (Type::Int, WireKind::Sfixed32),
            Kind::Sfixed64 => (Type::Int, WireKind::Sfixed64),
            Kind::Bool => (Type::Bool, WireKind::Bool),
            Kind::String => (Type::String, WireKind::String),
            Kind::Bytes => (Type::Bytes, WireKind::Bytes),
            Kind::Message(m) if m.full_name() == "google.protobuf.Duration" => (Type::Duration, WireKind::Duration),
            Kind::Message(m) if m.full_name() == "google.protobuf.Timestamp" => (Type::Int, WireKind::Timestamp),
            Kind::Message(m) if m.full_name() == "google.protobuf.FieldMask" => (Type::String, WireKind::FieldMask),
            Kind::Message(m) if let Some(shape) = Shape::of_message(m.full_name()) => {
                (Type::String, WireKind::Json(shape))
            }
            Kind::Message(m) => match self.by_full_name.get(m.full_name()) {
                Some(TypeRef::Message(id)) => (Type::Message(*id), WireKind::Message),
                _ => (Type::Error, WireKind::Message),
            },
            Kind::Enum(e) => match self.by_full_name.get(e.full_name()) {
                Some(TypeRef::Enum(id)) => (Type::Enum(*id), WireKind::Enum),
                _ => (Type::Error, WireKind::Enum),
            },
        }
    }
}

/// The value type of a singular wrapper field (`google.protobuf.Int64Value` ...).
fn wrapped(f: &FieldDescriptor) -> Option<(Type, WireKind)> {
    let Kind::Message(m) = f.kind() else { return None };
    if f.is_list() || f.is_map() {
        return None;
    }
    Some(match m.full_name() {
        "google.protobuf.DoubleValue" => (Type::Float, WireKind::Double),
        "google.protobuf.FloatValue" => (Type::Float, WireKind::Float),
        "google.protobuf.Int64Value" => (Type::Int, WireKind::Int64),
        "google.protobuf.UInt64Value" => (Type::Int, WireKind::Uint64),
        "google.protobuf.Int32Value" => (Type::Int, WireKind::Int32),
        "google.protobuf.UInt32Value" => (Type::Int, WireKind::Uint32),
        "google.protobuf.BoolValue" => (Type::Bool, WireKind::Bool),
        "google.protobuf.StringValue" => (Type::String, WireKind::String),
        "google.protobuf.BytesValue" => (Type::Bytes, WireKind::Bytes),
        _ => return None,
    })
}

/// The message that packs another, whose JSON form is not its fields.
pub const ANY: &str = "google.protobuf.Any";

/// Well-known messages that EVR reads as scalars (`duration`, an `int` timestamp).
fn is_scalar_message(full_name: &str) -> bool {
    matches!(full_name, "google.protobuf.Duration" | "google.protobuf.Timestamp" | "google.protobuf.FieldMask")
        || Shape::of_message(full_name).is_some()
}

/// One `use "x.proto";`: the file on disk and the span of its path in the `.evr` source.
pub struct ProtoUse {
    pub path: PathBuf,
    /// `path` relative to where the user named the rule file from, for diagnostics.
    pub shown: String,
    pub written: String,
    pub span: Span,
}

/// Compiles every schema in use; each file that fails yields a diagnostic: in the `.proto`
/// file at its place when protobuf names one (the file is added to `files` to be shown), with
/// the `use` as a secondary place; else at the `use`.
pub fn load(uses: &[ProtoUse], files: &mut Files) -> (Schema, Vec<Diagnostic>) {
    load_cached(uses, files, &mut SchemaCache::default())
}

/// What one analysis keeps of its schemas for the next: the schema it compiled and the text of
/// every `.proto` file that went into it. While the same files are used and none of them
/// changed, the next analysis takes the schema as it is instead of compiling it again.
#[derive(Default)]
pub struct SchemaCache {
    /// Editor buffers of `.proto` files, by path: read instead of the files on disk.
    pub open: HashMap<PathBuf, String>,
    last: Option<Compiled>,
}

struct Compiled {
    uses: Vec<PathBuf>,
    /// Every file read, and its text.
    inputs: Vec<(PathBuf, String)>,
    schema: Schema,
}

impl SchemaCache {
    /// A file's text: its editor buffer when open, else what is on disk.
    fn text(&self, path: &Path) -> Option<String> {
        match self.open.get(path) {
            Some(t) => Some(t.clone()),
            None => std::fs::read_to_string(path).ok(),
        }
    }

    fn fresh(&self, uses: &[PathBuf]) -> Option<&Schema> {
        let last = self.last.as_ref()?;
        let same = last.uses == uses && last.inputs.iter().all(|(p, t)| self.text(p).as_deref() == Some(t.as_str()));
        same.then_some(&last.schema)
    }
}

/// Reads `.proto` files for protox from an include directory, editor buffers first, and
/// notes every file it read.
struct Sources {
    include: PathBuf,
    open: std::sync::Arc<HashMap<PathBuf, String>>,
    read: std::sync::Arc<std::sync::Mutex<Vec<(PathBuf, String)>>>,
}

impl protox::file::FileResolver for Sources {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        let relative = path.strip_prefix(&self.include).ok()?;
        let parts: Option<Vec<&str>> = relative.components().map(|c| c.as_os_str().to_str()).collect();
        Some(parts?.join("/"))
    }

    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        let path = self.include.join(name);
        let text = match self.open.get(&path) {
            Some(t) => t.clone(),
            None => match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(protox::Error::file_not_found(name)),
                Err(e) => return Err(protox::Error::new(e)),
            },
        };
        let file = protox::file::File::from_source(name, &text)?;
        if let Ok(mut read) = self.read.lock() {
            read.push((path, text));
        }
        Ok(file)
    }
}

/// [`load`], taking the schema from `cache` when nothing it was made of changed.
pub fn load_cached(uses: &[ProtoUse], files: &mut Files, cache: &mut SchemaCache) -> (Schema, Vec<Diagnostic>) {
    let canonical: Option<Vec<PathBuf>> = uses.iter().map(|u| u.path.canonicalize().ok()).collect();
    if let Some(paths) = &canonical
        && let Some(schema) = cache.fresh(paths)
    {
        return (schema.clone(), Vec::new());
    }
    let read = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let open = std::sync::Arc::new(cache.open.clone());
    let (schema, diagnostics) = compile_all(uses, files, &open, &read);
    cache.last = match (canonical, diagnostics.is_empty()) {
        (Some(uses), true) => {
            let inputs = std::mem::take(&mut *read.lock().unwrap_or_else(|e| e.into_inner()));
            Some(Compiled { uses, inputs, schema: schema.clone() })
        }
        _ => None,
    };
    (schema, diagnostics)
}

fn compile_all(
    uses: &[ProtoUse],
    files: &mut Files,
    open: &std::sync::Arc<HashMap<PathBuf, String>>,
    read: &std::sync::Arc<std::sync::Mutex<Vec<(PathBuf, String)>>>,
) -> (Schema, Vec<Diagnostic>) {
    let mut pool = DescriptorPool::new();
    let mut diagnostics = Vec::new();
    let mut loaded: Vec<PathBuf> = Vec::new();
    let mut proto_paths = HashMap::new();
    let mut failed = false;
    for u in uses {
        let canonical = match u.path.canonicalize() {
            Ok(p) => p,
            Err(e) => {
                diagnostics.push(
                    Diagnostic::new(Code::E0004, u.span, format!("cannot read `{}`: {}", u.written, io_reason(&e)))
                        .label("no such schema")
                        .hint(format!("the path is relative to this file; it resolved to {}", u.shown)),
                );
                continue;
            }
        };
        if loaded.contains(&canonical) {
            continue;
        }
        loaded.push(canonical.clone());
        match compile_one(&canonical, open, read) {
            Ok(fds) => {
                let dir = canonical.parent().unwrap_or(Path::new("."));
                for f in &fds.file {
                    proto_paths.entry(f.name().to_owned()).or_insert_with(|| dir.join(f.name()));
                }
                let fresh = prost_types_files(fds, &pool);
                if let Err(e) = pool.add_file_descriptor_set(fresh) {
                    diagnostics.push(
                        Diagnostic::new(
                            Code::E0004,
                            u.span,
                            format!("`{}` conflicts with another schema: {e}", u.written),
                        )
                        .label("this schema"),
                    );
                }
            }
            Err(e) => {
                failed = true;
                diagnostics.push(compile_error(u, &canonical, &e, files, open));
            }
        }
    }
    let mut schema = Schema::from_pool(pool);
    schema.incomplete = failed;
    schema.proto_paths = proto_paths;
    (schema, diagnostics)
}

/// A schema that does not compile, as a diagnostic in the `.proto` file where protobuf says.
fn compile_error(
    u: &ProtoUse,
    canonical: &Path,
    e: &protox::Error,
    files: &mut Files,
    open: &HashMap<PathBuf, String>,
) -> Diagnostic {
    use miette::Diagnostic as _;
    let at_use = || {
        Diagnostic::new(Code::E0004, u.span, format!("`{}` does not compile: {}", u.written, protox_reason(e)))
            .label("this schema")
    };
    let (Some(name), Some(label)) = (e.file(), e.labels().and_then(|mut l| l.next())) else { return at_use() };
    // Protobuf names files relative to the schema's directory, its include path.
    let dir = canonical.parent().unwrap_or(Path::new("."));
    let path = dir.join(name);
    let Some(text) = open.get(&path).cloned().or_else(|| std::fs::read_to_string(&path).ok()) else {
        return at_use();
    };
    let shown_dir = Path::new(&u.shown).parent().unwrap_or(Path::new(""));
    let shown = shown_dir.join(name).display().to_string();
    let known = files.iter().find(|(_, f)| f.path == path).map(|(id, _)| id);
    let id = known.unwrap_or_else(|| files.add(&path, shown, text));
    let len = files.get(id).text.len();
    let start = label.offset().min(len);
    let span = Span::new(id, start, (start + label.len()).min(len));
    let what = label.label().map_or_else(|| "here".to_owned(), str::to_owned);
    Diagnostic::new(Code::E0004, span, format!("the schema does not compile: {e}"))
        .label(what)
        .secondary(u.span, format!("`{}` is used here", u.written))
        .maybe_hint(e.help().map(|h| h.to_string()))
}

fn compile_one(
    path: &Path,
    open: &std::sync::Arc<HashMap<PathBuf, String>>,
    read: &std::sync::Arc<std::sync::Mutex<Vec<(PathBuf, String)>>>,
) -> Result<prost_reflect::prost_types::FileDescriptorSet, protox::Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut resolver = protox::file::ChainFileResolver::new();
    resolver.add(Sources { include: dir.to_path_buf(), open: open.clone(), read: read.clone() });
    resolver.add(protox::file::GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);
    // Places and comments, for the editor (built bundles leave them out).
    compiler.include_source_info(true);
    compiler.open_file(path)?;
    Ok(compiler.file_descriptor_set())
}

/// Files of the set that the pool does not hold yet (two schemas may import the same file).
fn prost_types_files(
    mut fds: prost_reflect::prost_types::FileDescriptorSet,
    pool: &DescriptorPool,
) -> prost_reflect::prost_types::FileDescriptorSet {
    fds.file.retain(|f| pool.get_file_by_name(f.name()).is_none());
    fds
}

fn protox_reason(e: &protox::Error) -> String {
    use std::fmt::Write;
    let mut text = e.to_string();
    if let Some(file) = e.file() {
        let _ = write!(text, " (in {file})");
    }
    text
}
