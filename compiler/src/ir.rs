//! The typed IR: what the checker produces and what both the interpreter and the Cranelift
//! backend consume.
//!
//! Shape decisions, for both evaluators and for per-rule reload:
//! - Each drop, score and rule is a self-contained [`Unit`]: its own locals, its own velocity
//!   call sites, fns already inlined, consts already folded to literals. Nothing in one unit
//!   points into another except by the ids of sources, sinks and scores.
//! - Every conversion is explicit (`IntToFloat`, `Unwrap` of a narrowed optional, `Some`), and
//!   every operator is resolved to its operand type, so an evaluator never inspects types to
//!   decide what an operation means.
//! - Every node has its type and span.

use std::sync::Arc;

use evr_grammar::ast::Span;
use evr_stdlib::Builtin;

use crate::schema::{EnumId, MessageId};
use crate::types::Type;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SinkId(pub u32);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScoreId(pub u32);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireFormat {
    Json,
    Protobuf,
}

#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub message: MessageId,
    pub format: WireFormat,
    /// Field index (in the source message) of the event-time field, if the source names one.
    pub time_field: Option<u32>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Sink {
    pub name: String,
    pub message: MessageId,
    pub format: WireFormat,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Annotation {
    Priority(Priority),
    Shadow,
    Owner(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    Low,
    Normal,
    High,
}

/// Which checking made a unit. A unit moved to another place of its file (an edit before it)
/// keeps its origin: it means what it meant, so what was made for it (its hash, its code, its
/// place in the rule index) still holds. Shown as nothing in `Debug`: it is an identity, not
/// content, and two checkings of the same text give equal units.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnitOrigin(u64);

impl UnitOrigin {
    /// An origin no other unit has.
    pub fn fresh() -> UnitOrigin {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        UnitOrigin(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl std::fmt::Debug for UnitOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("_")
    }
}

/// The code of one drop, score or rule.
#[derive(Clone, Debug, Default)]
pub struct Unit {
    pub locals: Vec<Local>,
    /// Velocity call sites in this unit, numbered from 0 in order of appearance. A site's
    /// identity across reloads is (unit name, index).
    pub velocity_sites: u32,
}

#[derive(Clone, Debug)]
pub struct Local {
    pub name: String,
    pub ty: Type,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Drop {
    pub origin: UnitOrigin,
    pub name: String,
    pub source: SourceId,
    pub cond: Expr,
    pub unit: Unit,
    pub annotations: Vec<Annotation>,
    pub doc: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Score {
    pub origin: UnitOrigin,
    pub name: String,
    pub source: SourceId,
    pub weights: Vec<(i64, Expr)>,
    pub unit: Unit,
    pub annotations: Vec<Annotation>,
    pub doc: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub origin: UnitOrigin,
    pub name: String,
    pub source: SourceId,
    pub cond: Option<Expr>,
    pub body: Vec<Stmt>,
    pub unit: Unit,
    pub annotations: Vec<Annotation>,
    pub doc: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum Stmt {
    Let {
        local: LocalId,
        value: Expr,
    },
    /// `record` is a [`ExprKind::Record`] of the sink's message type.
    Emit {
        sink: SinkId,
        key: Option<Expr>,
        record: Expr,
        span: Span,
    },
    Route {
        sink: SinkId,
        span: Span,
    },
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
    },
}

#[derive(Clone, Debug)]
pub struct Test {
    pub name: String,
    pub steps: Vec<TestStep>,
    /// Locals of the step expressions (tests may call fns, which inline into lets).
    pub unit: Unit,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum TestStep {
    Given { source: SourceId, record: Expr, span: Span },
    Expect { sink: SinkId, record: Expr, span: Span },
    ExpectNothing { sink: SinkId, span: Span },
    ExpectDropped { span: Span },
    ExpectDirty { span: Span },
}

/// A checked bundle.
#[derive(Clone, Debug, Default)]
pub struct Program {
    pub sources: Vec<Source>,
    pub sinks: Vec<Sink>,
    /// In declaration order (files ordered by path), which is evaluation order. Each unit is
    /// shared: a version made from an unchanged file holds the very units of the version
    /// before — the file's block of them — so what a reload compares and rebuilds is what
    /// changed.
    pub drops: UnitList<Drop>,
    pub scores: UnitList<Score>,
    pub rules: UnitList<Rule>,
    pub tests: Vec<Test>,
}

/// The drops, scores or rules of a program, in blocks — the units of one file each — that
/// versions share: a reload hands an unchanged file's block on whole, without touching its
/// units. Read as one list (indexes count across blocks).
#[derive(Clone)]
pub struct UnitList<T> {
    blocks: Vec<Arc<[Placed<T>]>>,
    /// Where each block starts among all units.
    starts: Vec<u32>,
    len: usize,
}

impl<T> Default for UnitList<T> {
    fn default() -> UnitList<T> {
        UnitList { blocks: Vec::new(), starts: Vec::new(), len: 0 }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for UnitList<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T> UnitList<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The block holding unit `i`, and where in it the unit is.
    fn find(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.len {
            return None;
        }
        let block = self.starts.partition_point(|&s| s as usize <= i) - 1;
        Some((block, i - self.starts[block] as usize))
    }

    pub fn get(&self, i: usize) -> Option<&Placed<T>> {
        let (block, at) = self.find(i)?;
        self.blocks[block].get(at)
    }

    pub fn iter(&self) -> Units<'_, T> {
        self.blocks.iter().flat_map(|b| b.iter())
    }

    /// Adds a block of units (a file's) after the others.
    pub fn push_block(&mut self, block: Arc<[Placed<T>]>) {
        if block.is_empty() {
            return;
        }
        self.starts.push(self.len as u32);
        self.len += block.len();
        self.blocks.push(block);
    }

    /// Adds one unit, in a block of its own.
    pub fn push(&mut self, unit: Placed<T>) {
        self.push_block(Arc::from([unit]));
    }

    pub fn clear(&mut self) {
        *self = UnitList::default();
    }
}

impl<T: Clone> UnitList<T> {
    /// Puts `unit` in place of unit `i` (its block is copied when another version shares it).
    pub fn set(&mut self, i: usize, unit: Placed<T>) {
        if let Some((block, at)) = self.find(i) {
            Arc::make_mut(&mut self.blocks[block])[at] = unit;
        }
    }
}

impl<T> std::ops::Index<usize> for UnitList<T> {
    type Output = Placed<T>;
    fn index(&self, i: usize) -> &Placed<T> {
        match self.get(i) {
            Some(unit) => unit,
            None => panic!("unit {i} of {}", self.len),
        }
    }
}

impl<T> FromIterator<Placed<T>> for UnitList<T> {
    fn from_iter<I: IntoIterator<Item = Placed<T>>>(units: I) -> UnitList<T> {
        let mut list = UnitList::default();
        list.push_block(units.into_iter().collect());
        list
    }
}

/// The units of a [`UnitList`], in order.
pub type Units<'a, T> = std::iter::FlatMap<
    std::slice::Iter<'a, Arc<[Placed<T>]>>,
    std::slice::Iter<'a, Placed<T>>,
    fn(&'a Arc<[Placed<T>]>) -> std::slice::Iter<'a, Placed<T>>,
>;

impl<'a, T> IntoIterator for &'a UnitList<T> {
    type Item = &'a Placed<T>;
    type IntoIter = Units<'a, T>;
    fn into_iter(self) -> Units<'a, T> {
        self.iter()
    }
}

/// A unit of a program, and how far edits before it in its file moved it since it was
/// checked. The unit is shared — between versions, and with the checker's cache of the last
/// analysis — and a move changes nothing it means, so the move is kept here instead of in a
/// copy of the unit with every span moved: moving the units after an edit costs nothing per
/// node. Spans read from the unit are where they were when it was checked; [`place`]
/// (Self::place) says where one is now.
#[derive(Clone, Debug)]
pub struct Placed<T> {
    shared: Arc<T>,
    moved: i64,
}

/// What a drop, a score and a rule have in common for [`Placed`].
pub trait PlacedUnit: Clone + Spans {
    /// The span of the unit's item, when it was checked.
    fn item_span(&self) -> Span;
}

impl<T: PlacedUnit> Placed<T> {
    /// A unit where it was checked.
    pub fn new(unit: Arc<T>) -> Placed<T> {
        Placed { shared: unit, moved: 0 }
    }

    /// The same unit, `delta` bytes further in its file.
    pub fn moved_by(self, delta: i64) -> Placed<T> {
        Placed { moved: self.moved + delta, ..self }
    }

    /// Whether both hold the one unit a checking made (an unchanged item's, kept between
    /// analyses): read off the pointers, without touching the unit.
    pub fn shares(&self, other: &Placed<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Where a span read from the unit is now.
    pub fn place(&self, span: Span) -> Span {
        place(self.shared.item_span(), self.moved, span)
    }

    /// The unit as if checked where it is now: every span moved (a copy, when it moved).
    pub fn settled(&self) -> Placed<T> {
        if self.moved == 0 {
            return self.clone();
        }
        let mut unit = (*self.shared).clone();
        unit.spans_mut(&mut |s| *s = self.place(*s));
        Placed::new(Arc::new(unit))
    }
}

/// Where `span`, read from a unit checked as the item at `item` and moved by `moved` since, is
/// now. Spans inside the item moved with it; others (a fn inlined from another item) are where
/// they were: had that item moved, every unit would have been checked again.
fn place(item: Span, moved: i64, span: Span) -> Span {
    let inside = span.file == item.file && span.start >= item.start && span.end <= item.end;
    if moved == 0 || !inside {
        return span;
    }
    let at = |x: u32| (i64::from(x) + moved) as u32;
    Span { file: span.file, start: at(span.start), end: at(span.end) }
}

impl<T> std::ops::Deref for Placed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.shared
    }
}

impl PlacedUnit for Drop {
    fn item_span(&self) -> Span {
        self.span
    }
}

impl PlacedUnit for Score {
    fn item_span(&self) -> Span {
        self.span
    }
}

impl PlacedUnit for Rule {
    fn item_span(&self) -> Span {
        self.span
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Type,
    pub span: Span,
}

/// A constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    /// Milliseconds.
    Duration(i64),
    Enum(EnumId, i32),
    List(Vec<Literal>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Not,
    NegInt,
    NegFloat,
    NegDuration,
}

/// Arithmetic, resolved to its operand type. Int arithmetic is checked: overflow and division
/// by zero are runtime errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    AddInt,
    SubInt,
    MulInt,
    DivInt,
    RemInt,
    AddFloat,
    SubFloat,
    MulFloat,
    DivFloat,
    RemFloat,
    AddDuration,
    SubDuration,
    Concat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListPredKind {
    Any,
    All,
    CountIf,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Lit(Literal),
    /// The whole input event (`self`).
    Event,
    Local(LocalId),
    /// A score of the rule's source, computed before any rule runs.
    Score(ScoreId),
    /// Field `index` of a message. When `base` is `M?`, a null base gives null.
    Field {
        base: Box<Expr>,
        message: MessageId,
        index: u32,
    },
    /// `list[int]` or `map[key]`: null when absent.
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    Unary {
        op: UnaryOp,
        arg: Box<Expr>,
    },
    Arith {
        op: ArithOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// Operands have the same type up to optionality (after `IntToFloat`). Null equals only
    /// null; an ordering comparison with a null operand is false.
    Compare {
        op: CmpOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// Short-circuit.
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// Membership of `needle` (`T` or `T?`) in a `list<T>`.
    In {
        needle: Box<Expr>,
        list: Box<Expr>,
        negated: bool,
    },
    /// Membership of `needle` (`T` or `T?`) in a constant list: one lookup in a set made when
    /// the program is checked.
    InSet {
        needle: Box<Expr>,
        set: std::sync::Arc<crate::const_set::ConstSet>,
        negated: bool,
    },
    /// `value ?? default`.
    Coalesce {
        value: Box<Expr>,
        default: Box<Expr>,
    },
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// A local bound for the evaluation of `body` (what an inlined fn call becomes).
    Let {
        local: LocalId,
        value: Box<Expr>,
        body: Box<Expr>,
    },
    /// A builtin call. `overload` indexes `builtin.overloads()`; `site` numbers velocity calls
    /// within the unit.
    Call {
        builtin: Builtin,
        overload: u16,
        args: Vec<Expr>,
        site: Option<u32>,
    },
    /// `has(x)`: `x != null` for optionals, presence for message fields, non-empty for lists and maps.
    Has(Box<Expr>),
    /// `any` / `all` / `count_if` over a list, binding each element to `param`.
    ListPred {
        kind: ListPredKind,
        list: Box<Expr>,
        param: LocalId,
        body: Box<Expr>,
    },
    ListLit(Vec<Expr>),
    MapLit(Vec<(Expr, Expr)>),
    /// A message value: the fields of `spread` (same type) if any, then `fields` by index.
    Record {
        message: MessageId,
        spread: Option<Box<Expr>>,
        fields: Vec<(u32, Expr)>,
    },
    IntToFloat(Box<Expr>),
    /// A `T` used where a `T?` is expected (no-op for evaluators that represent null uniformly).
    Some(Box<Expr>),
    /// A `T?` known to be present (narrowed by `has(x)` or `x != null`).
    Unwrap(Box<Expr>),
}

/// The direct sub-expressions of an expression kind, shared by the two visitors below so they
/// cannot disagree on what a child is.
macro_rules! for_each_child {
    ($kind:expr, $f:ident, $iter:ident) => {{
        let mut f = $f;
        match $kind {
            ExprKind::Lit(_) | ExprKind::Event | ExprKind::Local(_) | ExprKind::Score(_) => {}
            ExprKind::Field { base, .. } => f(base),
            ExprKind::Index { base, index } => {
                f(base);
                f(index);
            }
            ExprKind::Unary { arg, .. }
            | ExprKind::InSet { needle: arg, .. }
            | ExprKind::Has(arg)
            | ExprKind::IntToFloat(arg)
            | ExprKind::Some(arg)
            | ExprKind::Unwrap(arg) => f(arg),
            ExprKind::Arith { lhs, rhs, .. } | ExprKind::Compare { lhs, rhs, .. } => {
                f(lhs);
                f(rhs);
            }
            ExprKind::And(a, b) | ExprKind::Or(a, b) => {
                f(a);
                f(b);
            }
            ExprKind::In { needle, list, .. } => {
                f(needle);
                f(list);
            }
            ExprKind::Coalesce { value, default } => {
                f(value);
                f(default);
            }
            ExprKind::If { cond, then, otherwise } => {
                f(cond);
                f(then);
                f(otherwise);
            }
            ExprKind::Let { value, body, .. } => {
                f(value);
                f(body);
            }
            ExprKind::Call { args, .. } | ExprKind::ListLit(args) => args.$iter().for_each(f),
            ExprKind::ListPred { list, body, .. } => {
                f(list);
                f(body);
            }
            ExprKind::MapLit(entries) => {
                for (k, v) in entries {
                    f(k);
                    f(v);
                }
            }
            ExprKind::Record { spread, fields, .. } => {
                if let Some(s) = spread {
                    f(s);
                }
                fields.$iter().for_each(|(_, e)| f(e));
            }
        }
    }};
}

impl Expr {
    pub fn new(kind: ExprKind, ty: Type, span: Span) -> Expr {
        Expr { kind, ty, span }
    }

    pub fn lit(lit: Literal, ty: Type, span: Span) -> Expr {
        Expr { kind: ExprKind::Lit(lit), ty, span }
    }

    pub fn error(span: Span) -> Expr {
        Expr { kind: ExprKind::Lit(Literal::Null), ty: Type::Error, span }
    }

    /// The same node with another type.
    pub fn with_type(mut self, ty: Type) -> Expr {
        self.ty = ty;
        self
    }

    /// How many expression nodes this one holds, itself included.
    pub fn nodes(&self) -> usize {
        let mut n = 1;
        self.for_each_child(|c| n += c.nodes());
        n
    }

    /// Calls `f` on every direct sub-expression.
    pub fn for_each_child(&self, f: impl FnMut(&Expr)) {
        for_each_child!(&self.kind, f, iter)
    }

    /// Calls `f` on every direct sub-expression, mutably.
    pub fn for_each_child_mut(&mut self, f: impl FnMut(&mut Expr)) {
        for_each_child!(&mut self.kind, f, iter_mut)
    }
}

/// Every span of an IR node, mutably: what moving a checked unit to another place of its file
/// (an edit before it) updates. The IR counterpart of [`evr_grammar::ast::Spans`].
pub trait Spans {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span));
}

impl Spans for Expr {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        self.for_each_child_mut(|c| c.spans_mut(f));
    }
}

impl Spans for Stmt {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            Stmt::Let { value, .. } => value.spans_mut(f),
            Stmt::Emit { key, record, span, .. } => {
                f(span);
                if let Some(k) = key {
                    k.spans_mut(f);
                }
                record.spans_mut(f);
            }
            Stmt::Route { span, .. } => f(span),
            Stmt::If { cond, then, otherwise } => {
                cond.spans_mut(f);
                then.iter_mut().chain(otherwise).for_each(|s| s.spans_mut(f));
            }
        }
    }
}

impl Spans for Unit {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        self.locals.iter_mut().for_each(|l| f(&mut l.span));
    }
}

impl Spans for Drop {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        self.unit.spans_mut(f);
        self.cond.spans_mut(f);
    }
}

impl Spans for Score {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        self.unit.spans_mut(f);
        self.weights.iter_mut().for_each(|(_, c)| c.spans_mut(f));
    }
}

impl Spans for Rule {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        self.unit.spans_mut(f);
        if let Some(c) = &mut self.cond {
            c.spans_mut(f);
        }
        self.body.iter_mut().for_each(|s| s.spans_mut(f));
    }
}

impl Stmt {
    /// Calls `f` on the expressions of this statement and of nested statements.
    pub fn for_each_expr(&self, f: &mut impl FnMut(&Expr)) {
        match self {
            Stmt::Let { value, .. } => f(value),
            Stmt::Emit { key, record, .. } => {
                if let Some(k) = key {
                    f(k);
                }
                f(record);
            }
            Stmt::Route { .. } => {}
            Stmt::If { cond, then, otherwise } => {
                f(cond);
                then.iter().chain(otherwise).for_each(|s| s.for_each_expr(f));
            }
        }
    }
}

/// A chain of field indexes from the event root: what decode-once projection and lineage need.
pub type FieldPath = Vec<u32>;

/// The field paths an expression reads from the event. A path that is a prefix of another is
/// kept too when the expression uses the message as a whole (spread, `has`, `self`).
pub fn field_paths(expr: &Expr, out: &mut Vec<FieldPath>) {
    if let Some(path) = event_path(expr) {
        if !out.contains(&path) {
            out.push(path);
        }
        return;
    }
    expr.for_each_child(|e| field_paths(e, out));
}

/// For `has(x)`: when `x` reads a field that has presence but reads as a value when unset (a
/// `google.protobuf.Duration` reads as `0ms`, a Timestamp as `0`), the message it is read from
/// and its index, so that `has` asks whether the field is set rather than looking at its value.
pub fn presence_field<'e>(x: &'e Expr, schema: &crate::schema::Schema) -> Option<(&'e Expr, u32)> {
    match &x.kind {
        ExprKind::Field { base, message, index } => {
            let field = schema.message(*message).fields.get(*index as usize)?;
            field.wire.is_scalar_message().then_some((&**base, *index))
        }
        _ => None,
    }
}

/// The field path of a chain of field reads from the event root (`self` is the empty path).
pub fn event_path(expr: &Expr) -> Option<FieldPath> {
    match &expr.kind {
        ExprKind::Event => Some(Vec::new()),
        ExprKind::Field { base, index, .. } => {
            let mut p = event_path(base)?;
            p.push(*index);
            Some(p)
        }
        _ => None,
    }
}

/// Whether annotations mark a unit `@shadow`: evaluated and counted, its effect not applied.
pub fn is_shadow(annotations: &[Annotation]) -> bool {
    annotations.contains(&Annotation::Shadow)
}

impl Drop {
    /// Calls `f` on the drop's top-level expressions.
    pub fn for_each_expr(&self, f: &mut impl FnMut(&Expr)) {
        f(&self.cond);
    }
}

impl Score {
    /// Calls `f` on the score's top-level expressions.
    pub fn for_each_expr(&self, f: &mut impl FnMut(&Expr)) {
        self.weights.iter().for_each(|(_, c)| f(c));
    }
}

impl Rule {
    /// Calls `f` on the rule's top-level expressions, condition first, then in statement order.
    pub fn for_each_expr(&self, f: &mut impl FnMut(&Expr)) {
        if let Some(c) = &self.cond {
            f(c);
        }
        self.body.iter().for_each(|s| s.for_each_expr(f));
    }

    /// Every field path the rule reads.
    pub fn reads(&self) -> Vec<FieldPath> {
        let mut out = Vec::new();
        self.for_each_expr(&mut |e| field_paths(e, &mut out));
        out
    }

    /// Every sink the rule can write to.
    pub fn writes(&self) -> Vec<SinkId> {
        fn walk(stmts: &[Stmt], out: &mut Vec<SinkId>) {
            for s in stmts {
                match s {
                    Stmt::Emit { sink, .. } | Stmt::Route { sink, .. } => {
                        if !out.contains(sink) {
                            out.push(*sink);
                        }
                    }
                    Stmt::If { then, otherwise, .. } => {
                        walk(then, out);
                        walk(otherwise, out);
                    }
                    Stmt::Let { .. } => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.body, &mut out);
        out
    }
}

/// One drop, score or rule of a program, by its place among its kind. Drops, scores and rules
/// form one table of units ([`Program::units`]): drops first, then scores, then rules, which is
/// the order they run in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnitRef {
    Drop(u32),
    Score(u32),
    Rule(u32),
}

/// What every kind of unit has, read through [`Program::unit`].
#[derive(Clone, Copy)]
pub struct UnitView<'p> {
    pub name: &'p str,
    pub source: SourceId,
    pub unit: &'p Unit,
    pub annotations: &'p [Annotation],
    /// The span of the unit's item, when it was checked (see [`place`](Self::place)).
    pub span: Span,
    /// How far the unit moved since it was checked ([`Placed`]).
    pub moved: i64,
    pub body: UnitBody<'p>,
}

/// A unit's code.
#[derive(Clone, Copy)]
pub enum UnitBody<'p> {
    Drop(&'p Expr),
    Score(&'p [(i64, Expr)]),
    Rule(&'p Rule),
}

impl UnitView<'_> {
    /// Where a span read from the unit is now.
    pub fn place(&self, span: Span) -> Span {
        place(self.span, self.moved, span)
    }

    /// Calls `f` on the unit's top-level expressions.
    pub fn for_each_expr(&self, f: &mut impl FnMut(&Expr)) {
        match self.body {
            UnitBody::Drop(cond) => f(cond),
            UnitBody::Score(weights) => weights.iter().for_each(|(_, c)| f(c)),
            UnitBody::Rule(r) => r.for_each_expr(f),
        }
    }
}

impl Program {
    /// Every unit, in the order they run: drops, scores, rules.
    pub fn units(&self) -> impl Iterator<Item = UnitRef> + '_ {
        (0..self.drops.len() as u32)
            .map(UnitRef::Drop)
            .chain((0..self.scores.len() as u32).map(UnitRef::Score))
            .chain((0..self.rules.len() as u32).map(UnitRef::Rule))
    }

    /// The program as if checked where it is now: the spans of every unit that moved since it
    /// was checked moved with it (for comparing with a fresh analysis).
    pub fn settled(&self) -> Program {
        Program {
            drops: self.drops.iter().map(Placed::settled).collect(),
            scores: self.scores.iter().map(Placed::settled).collect(),
            rules: self.rules.iter().map(Placed::settled).collect(),
            ..self.clone()
        }
    }

    /// A unit. Panics on a reference that is not this program's (a caller's bug).
    pub fn unit(&self, r: UnitRef) -> UnitView<'_> {
        fn view<'p>(
            name: &'p str,
            source: SourceId,
            unit: &'p Unit,
            annotations: &'p [Annotation],
            (span, moved): (Span, i64),
            body: UnitBody<'p>,
        ) -> UnitView<'p> {
            UnitView { name, source, unit, annotations, span, moved, body }
        }
        match r {
            UnitRef::Drop(i) => {
                let d = &self.drops[i as usize];
                view(&d.name, d.source, &d.unit, &d.annotations, (d.span, d.moved), UnitBody::Drop(&d.cond))
            }
            UnitRef::Score(i) => {
                let s = &self.scores[i as usize];
                view(&s.name, s.source, &s.unit, &s.annotations, (s.span, s.moved), UnitBody::Score(&s.weights))
            }
            UnitRef::Rule(i) => {
                let r = &self.rules[i as usize];
                view(&r.name, r.source, &r.unit, &r.annotations, (r.span, r.moved), UnitBody::Rule(r))
            }
        }
    }
}
