//! Builtin signatures in a vocabulary of their own, so that this crate needs nothing from the
//! compiler: the checker maps these onto its types.

/// A concrete scalar type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    Bool,
    Int,
    Float,
    String,
    Bytes,
    Duration,
}

/// What one parameter accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Param {
    /// A value of exactly this type (an `int` widens to `float`).
    Is(Ty),
    /// Any non-optional scalar: bool, int, float, string, bytes, duration or an enum value.
    Scalar,
    /// Any list.
    List,
    /// Any map.
    Map,
    /// A value of the preceding map's key type.
    KeyOfMap,
    /// A lambda over the elements of the preceding list argument, returning bool.
    Predicate,
    /// Anything that may be absent: a `T?`, or a message, list or map field.
    Presence,
    /// A constant string holding a regular expression, compiled when the bundle is checked.
    Pattern,
    /// A constant JSON path such as `$.a.b[0]`.
    JsonPath,
    /// A constant CIDR block such as `10.0.0.0/8`.
    Cidr,
    /// A constant, positive duration (a window's size).
    Window,
}

impl Param {
    /// Whether the argument must be known when the bundle is checked.
    pub fn is_constant(self) -> bool {
        matches!(self, Param::Pattern | Param::JsonPath | Param::Cidr | Param::Window)
    }
}

/// What a call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    Is(Ty),
    /// `T?`: null when the function has no answer (a failed conversion, an absent path).
    Opt(Ty),
    ListOf(Ty),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overload {
    pub params: &'static [Param],
    pub ret: Ret,
    /// Whether the catalog implements it ([`Builtin::invoke`](crate::Builtin::invoke)); the
    /// others (lengths of collections, lambdas, velocity state, conversions by type) are built
    /// by each engine.
    pub native: bool,
}
