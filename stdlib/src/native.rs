//! How an engine runs a builtin's implementation: it hands the arguments over through [`Args`]
//! and takes the result through [`Results`]. The interpreter implements both over its values,
//! native code over machine words, so each builtin's body (in the catalog) is written once, on
//! plain Rust types, and both engines run that same body.
//!
//! The vocabulary of the catalog's declarations lives here too: a parameter is declared by a
//! marker of [`params`] (which says what the checker accepts and how the body receives it), a
//! result by a marker of [`returns`] (what the checker types the call as, and which Rust values
//! a body may produce for it).

use crate::RuntimeError;
use crate::constant::{Cidr, JsonStep};
use crate::signature::{Param, Ret as Returns, Ty};

type Result<T> = std::result::Result<T, RuntimeError>;

/// The arguments of one call, taken in declaration order.
pub trait Args<'a> {
    fn str(&mut self) -> Result<&'a str>;
    fn int(&mut self) -> Result<i64>;
    fn float(&mut self) -> Result<f64>;
    /// A scalar of any type, as its stable hash (see [`crate::hash`]).
    fn hashed(&mut self) -> Result<i64>;
    fn pattern(&mut self) -> Result<&'a regex::Regex>;
    fn cidr(&mut self) -> Result<&'a Cidr>;
    fn path(&mut self) -> Result<&'a [JsonStep]>;
}

/// Where one call's result goes.
pub trait Results<'a> {
    fn null(&mut self);
    fn bool(&mut self, v: bool);
    fn int(&mut self, v: i64);
    fn float(&mut self, v: f64);
    fn string(&mut self, v: String);
    /// A part of a string argument: an engine may point into the argument instead of copying.
    fn part(&mut self, v: &'a str);
    fn strings(&mut self, v: Vec<&'a str>);
}

/// A parameter marker: what the checker accepts at this position.
pub trait Declared {
    const PARAM: Param;
}

/// A parameter the catalog's bodies receive as a Rust value (the others are the engines' own
/// business: lists, lambdas, windows).
pub trait Read: Declared {
    type Value<'a>;
    fn read<'a, A: Args<'a>>(args: &mut A) -> Result<Self::Value<'a>>;
}

/// A result marker: what the checker types the call as.
pub trait Typed {
    const RET: Returns;
}

/// A Rust value a body may produce for the result marker `K`.
pub trait Ret<'a, K: Typed> {
    fn give<O: Results<'a>>(self, out: &mut O) -> Result<()>;
}

/// Parameter markers, named as the catalog writes them.
#[allow(non_camel_case_types)]
pub mod params {
    use super::*;

    macro_rules! markers {
        ($( $(#[$doc:meta])* $name:ident = $param:expr $(, $value:ty => $method:ident)?; )*) => {$(
            $(#[$doc])*
            pub struct $name;
            impl Declared for $name {
                const PARAM: Param = $param;
            }
            $(impl Read for $name {
                type Value<'a> = $value;
                #[inline]
                fn read<'a, A: Args<'a>>(args: &mut A) -> Result<$value> {
                    args.$method()
                }
            })?
        )*};
    }

    markers! {
        str = Param::Is(Ty::String), &'a core::primitive::str => str;
        int = Param::Is(Ty::Int), i64 => int;
        /// An int argument widens to float.
        float = Param::Is(Ty::Float), f64 => float;
        /// Any scalar, received as its stable hash.
        hashed = Param::Scalar, i64 => hashed;
        pattern = Param::Pattern, &'a regex::Regex => pattern;
        cidr = Param::Cidr, &'a Cidr => cidr;
        path = Param::JsonPath, &'a [JsonStep] => path;
        bytes = Param::Is(Ty::Bytes);
        /// Any scalar, as itself (the engines convert it by its type).
        scalar = Param::Scalar;
        list = Param::List;
        map = Param::Map;
        key = Param::KeyOfMap;
        predicate = Param::Predicate;
        presence = Param::Presence;
        window = Param::Window;
    }
}

/// Result markers, named as the catalog writes them.
#[allow(non_camel_case_types)]
pub mod returns {
    use super::*;

    macro_rules! markers {
        ($($name:ident = $ret:expr;)*) => {$(
            pub struct $name;
            impl Typed for $name {
                const RET: Returns = $ret;
            }
        )*};
    }

    markers! {
        bool = Returns::Is(Ty::Bool);
        int = Returns::Is(Ty::Int);
        float = Returns::Is(Ty::Float);
        string = Returns::Is(Ty::String);
        opt_int = Returns::Opt(Ty::Int);
        opt_float = Returns::Opt(Ty::Float);
        opt_string = Returns::Opt(Ty::String);
        strings = Returns::ListOf(Ty::String);
    }
}

macro_rules! ret {
    ($marker:ident: $($ty:ty => |$v:ident, $o:ident| $give:expr;)*) => {$(
        impl<'a> Ret<'a, returns::$marker> for $ty {
            #[inline]
            fn give<O: Results<'a>>(self, $o: &mut O) -> Result<()> {
                let $v = self;
                $give;
                Ok(())
            }
        }
    )*};
}

ret!(bool: bool => |v, o| o.bool(v););
ret!(int:
    i64 => |v, o| o.int(v);
    Result<i64> => |v, o| o.int(v?);
);
ret!(float: f64 => |v, o| o.float(v););
ret!(string:
    String => |v, o| o.string(v);
    &'a str => |v, o| o.part(v);
);
ret!(opt_int: Option<i64> => |v, o| match v { Some(v) => o.int(v), None => o.null() };);
ret!(opt_float: Option<f64> => |v, o| match v { Some(v) => o.float(v), None => o.null() };);
ret!(opt_string:
    Option<String> => |v, o| match v { Some(v) => o.string(v), None => o.null() };
    Option<&'a str> => |v, o| match v { Some(v) => o.part(v), None => o.null() };
);
ret!(strings: Vec<&'a str> => |v, o| o.strings(v););
