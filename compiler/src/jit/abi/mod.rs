//! The C ABI between native rule code and Rust: the context native code receives, and the
//! `extern "C"` helpers it calls. Helpers never unwind: they catch nothing because nothing they
//! call panics on bad input, and errors travel back as status codes.

use std::sync::Arc;

use evr_stdlib::velocity::Site;
use evr_stdlib::{RuntimeError, hash, number};

use crate::ir::SinkId;
use crate::schema::{MessageId, Schema};
pub(crate) mod builtins;
mod numbers;
mod reads;
mod records;
mod strings;
mod velocity;

use crate::value::Action;
use crate::value::{Message, Value, store};

/// What native code of one unit sees for one event.
pub struct Ctx<'a> {
    pub schema: &'a Schema,
    /// Constant arguments by index, resolved when compiling (patterns, CIDR blocks).
    pub constants: &'a [Constant],
    pub scores: &'a [Option<i64>],
    pub sites: &'a mut [Site],
    pub time_ms: i64,
    pub actions: &'a mut Vec<Action>,
    pub scratch: &'a mut Scratch,
    /// The event, for `self` and spreads.
    pub event: &'a Value,
}

/// What a unit makes while it runs, alive until it returns. Kept between units (cleared after
/// each) so that its buffers are allocated once, not per unit.
#[derive(Default)]
pub struct Scratch {
    /// Strings made during this unit's evaluation.
    strings: Vec<Box<str>>,
    /// Records being built by `emit`, innermost last, with where each one goes.
    building: Vec<(MessageId, Message, Place)>,
    key: Option<Value>,
    /// List (and map) values being built, innermost last: a record inside a list may hold a
    /// list of its own.
    lists_building: Vec<Vec<Value>>,
    /// Lists, maps and messages made during this unit's evaluation (`split`, values built
    /// outside `emit`).
    lists: Vec<Arc<Vec<Value>>>,
    maps: Vec<Arc<Vec<(Value, Value)>>>,
    messages: Vec<Arc<Message>>,
}

impl Scratch {
    /// Drops what the last unit made, keeping the buffers. Inlined: it runs after every unit,
    /// and most units make nothing.
    #[inline]
    pub fn clear(&mut self) {
        self.strings.clear();
        self.building.clear();
        self.key = None;
        self.lists_building.clear();
        self.lists.clear();
        self.maps.clear();
        self.messages.clear();
    }
}

/// Where a record under construction goes when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// It is the emitted record.
    Emit,
    /// It fills this field of the enclosing record.
    Field(u32),
    /// It is the next element of the list being built.
    ListItem,
    /// It is a value of its own (a record built outside `emit`).
    Value,
}

impl Place {
    /// The codes native code passes for places; a field is its index (>= 0).
    pub const EMIT: i64 = -1;
    pub const LIST_ITEM: i64 = -2;
    pub const VALUE: i64 = -3;

    fn from_code(code: i64) -> Place {
        match code {
            Place::VALUE => Place::Value,
            Place::LIST_ITEM => Place::ListItem,
            f if f >= 0 => Place::Field(f as u32),
            _ => Place::Emit,
        }
    }
}

/// The kinds of [`Words`]: how native code tags a value it passes to a helper that takes any
/// type. The translator writes them and the helpers read them, from this one table.
pub mod kind {
    pub const INT: i64 = 0;
    /// The word is the float's bits.
    pub const FLOAT: i64 = 1;
    pub const BOOL: i64 = 2;
    pub const ENUM: i64 = 3;
    pub const DURATION: i64 = 4;
    /// Pointer and length.
    pub const STRING: i64 = 5;
    pub const BYTES: i64 = 6;
    /// Pointer to the elements (or entries) and their number.
    pub const LIST: i64 = 7;
    pub const MAP: i64 = 8;
    /// Pointer to the message; null when absent.
    pub const MESSAGE: i64 = 9;
}

/// A constant argument prepared for native code.
pub enum Constant {
    Pattern(regex::Regex),
    Cidr(evr_stdlib::constant::Cidr),
    JsonPath(Vec<evr_stdlib::constant::JsonStep>),
}

/// # Safety
/// Native code passes pointers and lengths of strings it read from the frame, from literals
/// owned by the compiled module, or from `Ctx::strings`; all outlive the call.
unsafe fn str_of<'s>(ptr: *const u8, len: i64) -> &'s str {
    if len <= 0 || ptr.is_null() {
        return "";
    }
    // SAFETY: see the function's contract; every string handed to native code is valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr, len as usize)) }
}

fn ctx<'c>(p: *mut Ctx<'c>) -> &'c mut Ctx<'c> {
    // SAFETY: native code receives the context pointer from `Compiled::call` and passes it back
    // unchanged; it is valid and exclusive for the duration of the call.
    unsafe { &mut *p }
}

/// Stores a string made by a helper and returns it through `out` as (pointer, length).
fn give(c: &mut Ctx, s: String, out: *mut i64) {
    let boxed: Box<str> = s.into_boxed_str();
    let (ptr, len) = (boxed.as_ptr() as i64, boxed.len() as i64);
    c.scratch.strings.push(boxed);
    // SAFETY: `out` points at two i64s in the caller's stack frame.
    unsafe {
        *out = ptr;
        *out.add(1) = len;
    }
}

/// # Safety
/// As `str_of`, for bytes that need not be UTF-8.
unsafe fn bytes_of<'s>(ptr: *const u8, len: i64) -> &'s [u8] {
    if len <= 0 || ptr.is_null() {
        return &[];
    }
    // SAFETY: see the function's contract.
    unsafe { std::slice::from_raw_parts(ptr, len as usize) }
}

/// The machine types of helper parameters and results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    I8,
    I32,
    I64,
    F64,
}

/// Declares every helper once: its typed id (what the translator calls it by), its symbol
/// (`evr_` and the function's name), its address and its signature.
macro_rules! helpers {
    ($( $id:ident => $module:ident :: $f:ident ( $($p:ident),* ) $(-> $r:ident)? ;)*) => {
        /// A helper native code may call.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Helper {
            $($id),*
        }

        impl Helper {
            /// Every helper, in declaration order (`ALL[h as usize] == h`).
            pub const ALL: &[Helper] = &[$(Helper::$id),*];

            /// The symbol native code links it by.
            pub fn symbol(self) -> &'static str {
                match self {
                    $(Helper::$id => concat!("evr_", stringify!($f))),*
                }
            }

            /// Its address.
            pub fn address(self) -> *const u8 {
                match self {
                    $(Helper::$id => $module::$f as *const u8),*
                }
            }

            pub fn params(self) -> &'static [Ty] {
                match self {
                    $(Helper::$id => &[$(Ty::$p),*]),*
                }
            }

            pub fn ret(self) -> Option<Ty> {
                match self {
                    $(Helper::$id => helpers!(@ret $($r)?)),*
                }
            }
        }
    };
    (@ret) => { None };
    (@ret $r:ident) => { Some(Ty::$r) };
}

helpers! {
    StrCmp => strings::str_cmp(I64, I64, I64, I64) -> I32;
    Builtin => builtins::builtin(I64, I64, I64, I64, I64) -> I32;
    StrConcat => strings::str_concat(I64, I64, I64, I64, I64, I64);
    IntToString => strings::int_to_string(I64, I64, I64);
    FloatToString => strings::float_to_string(I64, F64, I64);
    FloatRem => numbers::float_rem(F64, F64) -> F64;
    HashStr => numbers::hash_str(I64, I64) -> I64;
    HashInt => numbers::hash_int(I64) -> I64;
    HashFloat => numbers::hash_float(F64) -> I64;
    HashBool => numbers::hash_bool(I8) -> I64;
    Velocity => velocity::velocity(I64, I64, I64, I64) -> I64;
    VelocitySum => velocity::velocity_sum(I64, I64, I64, F64) -> F64;
    VelocityDistinct => velocity::velocity_distinct(I64, I64, I64, I64) -> I64;
    Score => velocity::score(I64, I64, I64) -> I32;
    Route => records::route(I64, I64);
    RecordBegin => records::record_begin(I64, I64, I64);
    SetInt => records::set_int(I64, I64, I64) -> I32;
    SetFloat => records::set_float(I64, I64, F64) -> I32;
    SetBool => records::set_bool(I64, I64, I8) -> I32;
    SetEnum => records::set_enum(I64, I64, I64) -> I32;
    SetDuration => records::set_duration(I64, I64, I64) -> I32;
    SetStr => records::set_str(I64, I64, I64, I64) -> I32;
    SetNull => records::set_null(I64, I64) -> I32;
    RecordEnd => records::record_end(I64, I64) -> I32;
    KeyStr => records::key_str(I64, I64, I64);
    KeyBytes => records::key_bytes(I64, I64, I64);
    KeyInt => records::key_int(I64, I64);
    MapGet => reads::map_get(I64, I64, I64, I64, I64) -> I8;
    ListGet => reads::list_get(I64, I64, I64) -> I8;
    MsgField => reads::msg_field(I64, I64, I64) -> I8;
    Event => reads::event(I64) -> I64;
    RecordSpread => records::record_spread(I64, I64) -> I32;
    SetMessage => records::set_message(I64, I64, I64) -> I32;
    ListBegin => records::list_begin(I64);
    ListPush => records::list_push(I64, I64, I64, I64);
    ListEnd => records::list_end(I64, I64) -> I32;
    EnumName => strings::enum_name(I64, I64, I64, I64);
    DurationToString => strings::duration_to_string(I64, I64, I64);
    SetBytes => records::set_bytes(I64, I64, I64, I64) -> I32;
    MapEnd => records::map_end(I64, I64) -> I32;
    ListContains => reads::list_contains(I64, I64, I64, I64, I64) -> I8;
    SetContains => reads::set_contains(I64, I64, I64, I64) -> I8;
    WordsEqual => reads::words_equal(I64, I64, I64, I64, I64) -> I8;
    SetCollection => records::set_collection(I64, I64, I64, I64) -> I32;
    BytesToString => strings::bytes_to_string(I64, I64, I64, I64);
    RecordValue => records::record_value(I64, I64) -> I32;
    ListValue => records::list_value(I64, I64) -> I32;
    MapValue => records::map_value(I64, I64) -> I32;
}

/// # Safety
/// `p` is null or points at a `Message` of the event being evaluated (a frame slot's pointer or
/// a list element), alive for the call.
unsafe fn message<'m>(p: i64) -> Option<&'m Message> {
    // SAFETY: see the function's contract.
    (p != 0).then(|| unsafe { &*(p as *const Message) })
}

/// Writes a scalar value into two words: (i64 or f64 bits or pointer, length). 0 when null.
fn put(v: &Value, out: *mut i64) -> i8 {
    let (a, b) = match v {
        Value::Null => return 0,
        Value::Bool(x) => (i64::from(*x), 0),
        Value::Int(x) | Value::Duration(x) => (*x, 0),
        Value::Enum(x) => (i64::from(*x), 0),
        Value::Float(x) => (x.to_bits() as i64, 0),
        Value::Str(s) => (s.as_ptr() as i64, s.len() as i64),
        Value::Bytes(s) => (s.as_ptr() as i64, s.len() as i64),
        Value::Message(m) => (Arc::as_ptr(m) as i64, 0),
        Value::List(l) => (Arc::as_ptr(l) as i64, l.len() as i64),
        Value::Map(m) => (Arc::as_ptr(m) as i64, m.len() as i64),
    };
    // SAFETY: `out` points at two i64s in the caller's stack frame.
    unsafe {
        *out = a;
        *out.add(1) = b;
    }
    1
}

/// A value as native code passes it to helpers that take any type: a [`kind`] and two words.
#[derive(Clone, Copy)]
struct Words {
    kind: i64,
    a: i64,
    b: i64,
}

impl Words {
    /// # Safety
    /// Pointers among the words point at live values of the kind's type.
    unsafe fn equals(self, v: &Value) -> bool {
        let Words { kind, a, b } = self;
        // SAFETY: see the function's contract.
        unsafe {
            match (v, kind) {
                (Value::Int(x), kind::INT) | (Value::Duration(x), kind::DURATION) => *x == a,
                (Value::Float(x), kind::FLOAT) => *x == f64::from_bits(a as u64),
                (Value::Bool(x), kind::BOOL) => i64::from(*x) == a,
                (Value::Enum(x), kind::ENUM) => i64::from(*x) == a,
                (Value::Str(s), kind::STRING) => s.as_bytes() == bytes_of(a as *const u8, b),
                (Value::Bytes(s), kind::BYTES) => **s == *bytes_of(a as *const u8, b),
                (Value::List(l), kind::LIST) => a != 0 && **l == *(a as *const Vec<Value>),
                (Value::Map(m), kind::MAP) => a != 0 && **m == *(a as *const Vec<(Value, Value)>),
                (Value::Message(m), kind::MESSAGE) => message(a).is_some_and(|other| **m == *other),
                // An absent message (a null pointer) is null.
                (Value::Null, kind::MESSAGE) => a == 0,
                _ => false,
            }
        }
    }

    /// An owned value. Collections are copied deeply: they may be constants, whose values
    /// threads share (see `Pinned`).
    ///
    /// # Safety
    /// As for [`equals`](Self::equals).
    unsafe fn value(self) -> Value {
        let Words { kind, a, b } = self;
        // SAFETY: see the function's contract.
        unsafe {
            match kind {
                kind::INT => Value::Int(a),
                kind::FLOAT => Value::Float(f64::from_bits(a as u64)),
                kind::BOOL => Value::Bool(a != 0),
                kind::ENUM => Value::Enum(a as i32),
                kind::DURATION => Value::Duration(a),
                kind::STRING => Value::str(str_of(a as *const u8, b)),
                kind::BYTES => Value::Bytes(Arc::from(bytes_of(a as *const u8, b))),
                kind::LIST if a != 0 => Value::List(Arc::new((*(a as *const Vec<Value>)).to_vec())),
                kind::MAP if a != 0 => Value::Map(Arc::new((*(a as *const Vec<(Value, Value)>)).to_vec())),
                kind::LIST => Value::List(Arc::new(Vec::new())),
                kind::MAP => Value::Map(Arc::new(Vec::new())),
                _ => message(a).map_or(Value::Null, |m| Value::Message(Arc::new(m.clone()))),
            }
        }
    }
}
