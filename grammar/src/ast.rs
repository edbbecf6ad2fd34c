//! The syntax tree. Every node carries the byte span it was parsed from, and every span names
//! its file, so that diagnostics, the LSP and the formatter can point back into the source.

/// Index of a source file within one analysis (assigned by whoever loads the files).
pub type FileId = u32;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span { file, start: start as u32, end: end as u32 }
    }

    /// The smallest span covering both (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn contains(self, offset: u32) -> bool {
        self.start <= offset && offset <= self.end
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommentKind {
    Line,
    Block,
    /// `///`: documents the item that follows.
    Doc,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    pub kind: CommentKind,
    pub span: Span,
}

/// A name as written, with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

/// One parsed `.evr` file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Module {
    pub file: FileId,
    pub items: Vec<Item>,
    pub comments: Vec<Comment>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub kind: ItemKind,
    pub annotations: Vec<Annotation>,
    /// Text of the `///` comments right before the item, markers stripped.
    pub doc: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Annotation {
    pub name: Name,
    pub args: Vec<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    /// `use "path.proto";`
    UseFile {
        path: String,
        path_span: Span,
    },
    /// `use a.b.C;`, `use a.b.C as D;`, `use a.b.{C, D as E};`
    UseTypes {
        prefix: Vec<Name>,
        names: Vec<UseName>,
    },
    Source {
        name: Name,
        ty: TypeExpr,
        format: Name,
        time: Option<Name>,
    },
    Sink {
        name: Name,
        ty: TypeExpr,
        format: Name,
    },
    Const {
        name: Name,
        value: Expr,
    },
    Fn {
        name: Name,
        params: Vec<Param>,
        ret: Option<TypeExpr>,
        body: Expr,
    },
    Drop {
        name: Name,
        source: Name,
        cond: Expr,
    },
    Score {
        name: Name,
        source: Name,
        weights: Vec<Weight>,
    },
    Rule {
        name: Name,
        source: Name,
        cond: Option<Expr>,
        body: Vec<Stmt>,
    },
    Test {
        name: String,
        name_span: Span,
        body: Vec<TestStmt>,
    },
    /// An item the parser could not make sense of; its error is already reported.
    Error,
}

impl ItemKind {
    /// The word that opens a declaration of this kind (`use` items and errors have none).
    pub fn keyword(&self) -> Option<&'static str> {
        Some(match self {
            ItemKind::Source { .. } => "source",
            ItemKind::Sink { .. } => "sink",
            ItemKind::Const { .. } => "const",
            ItemKind::Fn { .. } => "fn",
            ItemKind::Drop { .. } => "drop",
            ItemKind::Score { .. } => "score",
            ItemKind::Rule { .. } => "rule",
            ItemKind::Test { .. } => "test",
            ItemKind::UseFile { .. } | ItemKind::UseTypes { .. } | ItemKind::Error => return None,
        })
    }

    /// The declared name, for items that have one.
    pub fn name(&self) -> Option<&Name> {
        match self {
            ItemKind::Source { name, .. }
            | ItemKind::Sink { name, .. }
            | ItemKind::Const { name, .. }
            | ItemKind::Fn { name, .. }
            | ItemKind::Drop { name, .. }
            | ItemKind::Score { name, .. }
            | ItemKind::Rule { name, .. } => Some(name),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct UseName {
    pub name: Name,
    pub alias: Option<Name>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Name,
    pub ty: TypeExpr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeExprKind,
    pub span: Span,
    /// Nesting depth (1 for a leaf); the parser keeps it bounded, see [`MAX_DEPTH`].
    pub depth: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TypeExprKind {
    /// `int`, `Platform`, `app.v1.AppLog`
    Named(Vec<Name>),
    /// `list<T>`, `map<K, V>`: a name applied to type arguments.
    Generic(Name, Vec<TypeExpr>),
    Optional(Box<TypeExpr>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Weight {
    pub weight: Expr,
    pub cond: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    Let {
        name: Name,
        value: Expr,
    },
    Emit {
        sink: Name,
        key: Option<Expr>,
        record: Record,
    },
    Route {
        sink: Name,
    },
    /// `if c1 { .. } else if c2 { .. } else { .. }`
    If {
        branches: Vec<(Expr, Vec<Stmt>)>,
        otherwise: Option<Vec<Stmt>>,
    },
    Error,
}

/// `{ ..base, field: value, "key": value }`
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub spread: Option<Box<Expr>>,
    pub fields: Vec<RecordField>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordField {
    pub key: FieldKey,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FieldKey {
    /// A field name (any word, reserved ones included).
    Name(Name),
    /// A quoted key: map entries (`"item_id": "7"`).
    Str(String, Span),
}

impl FieldKey {
    pub fn text(&self) -> &str {
        match self {
            FieldKey::Name(n) => &n.text,
            FieldKey::Str(s, _) => s,
        }
    }

    pub fn span(&self) -> Span {
        match self {
            FieldKey::Name(n) => n.span,
            FieldKey::Str(_, s) => *s,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TestStmt {
    pub kind: TestStmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TestStmtKind {
    Given { source: Name, record: Record },
    Expect { sink: Name, record: Record },
    ExpectNothing { sink: Name },
    ExpectDropped,
    ExpectDirty,
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    /// Nesting depth (1 for a leaf); the parser keeps it bounded, see [`MAX_DEPTH`].
    pub depth: u32,
}

/// How deeply expressions and types may nest. Everything after the parser (checking, the IR,
/// evaluation, even dropping the tree) recurses over them, so the bound is what keeps hostile
/// input from exhausting the stack.
pub const MAX_DEPTH: u32 = 200;

impl ExprKind {
    /// The largest depth among the direct sub-expressions (0 for a leaf).
    pub fn child_depth(&self) -> u32 {
        let d = |e: &Expr| e.depth;
        let record =
            |r: &Record| r.fields.iter().map(|f| f.value.depth).chain(r.spread.as_deref().map(d)).max().unwrap_or(0);
        match self {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::Duration(_)
            | ExprKind::Bool(_)
            | ExprKind::Null
            | ExprKind::Name(_)
            | ExprKind::SelfRef
            | ExprKind::Error => 0,
            ExprKind::List(items) => items.iter().map(d).max().unwrap_or(0),
            ExprKind::Record(r) => record(r),
            ExprKind::Unary(_, a) | ExprKind::Field(a, _) | ExprKind::Lambda { body: a, .. } => a.depth,
            ExprKind::Binary(_, a, b) | ExprKind::Index(a, b) | ExprKind::In { needle: a, haystack: b, .. } => {
                a.depth.max(b.depth)
            }
            ExprKind::Call { callee, args } => args.iter().map(d).max().unwrap_or(0).max(callee.depth),
            ExprKind::If { cond, then, otherwise } => cond.depth.max(then.depth).max(otherwise.depth),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Coalesce,
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Coalesce => "??",
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    Not,
    Neg,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// Digits as written, underscores removed; the checker decides whether it fits.
    Int(u64),
    Float(f64),
    Str(String),
    /// Milliseconds.
    Duration(i64),
    Bool(bool),
    Null,
    Name(Name),
    SelfRef,
    List(Vec<Expr>),
    Record(Record),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `x in list`, `x not in list`
    In {
        needle: Box<Expr>,
        haystack: Box<Expr>,
        negated: bool,
    },
    Field(Box<Expr>, Name),
    Index(Box<Expr>, Box<Expr>),
    Call {
        callee: Box<Expr>,
        args: Vec<Expr>,
    },
    /// `x => body`; the grammar allows it only as a call argument.
    Lambda {
        param: Name,
        body: Box<Expr>,
    },
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    Error,
}

/// Every span of a node, mutably: what moving an item to another place of its file (after an
/// edit before it) has to update. One visitor per node type, so that a new field with a span
/// is missed only where this file is not read.
pub trait Spans {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span));
}

impl<T: Spans> Spans for Vec<T> {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        self.iter_mut().for_each(|x| x.spans_mut(f));
    }
}

impl<T: Spans> Spans for Option<T> {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        if let Some(x) = self {
            x.spans_mut(f);
        }
    }
}

impl<T: Spans> Spans for Box<T> {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        (**self).spans_mut(f);
    }
}

impl Spans for Span {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(self);
    }
}

impl Spans for Name {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
    }
}

impl Spans for Item {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        self.annotations.spans_mut(f);
        match &mut self.kind {
            ItemKind::UseFile { path_span, .. } => f(path_span),
            ItemKind::UseTypes { prefix, names } => {
                prefix.spans_mut(f);
                for n in names {
                    n.name.spans_mut(f);
                    n.alias.spans_mut(f);
                }
            }
            ItemKind::Source { name, ty, format, time } => {
                name.spans_mut(f);
                ty.spans_mut(f);
                format.spans_mut(f);
                time.spans_mut(f);
            }
            ItemKind::Sink { name, ty, format } => {
                name.spans_mut(f);
                ty.spans_mut(f);
                format.spans_mut(f);
            }
            ItemKind::Const { name, value } => {
                name.spans_mut(f);
                value.spans_mut(f);
            }
            ItemKind::Fn { name, params, ret, body } => {
                name.spans_mut(f);
                for p in params {
                    p.name.spans_mut(f);
                    p.ty.spans_mut(f);
                }
                ret.spans_mut(f);
                body.spans_mut(f);
            }
            ItemKind::Drop { name, source, cond } => {
                name.spans_mut(f);
                source.spans_mut(f);
                cond.spans_mut(f);
            }
            ItemKind::Score { name, source, weights } => {
                name.spans_mut(f);
                source.spans_mut(f);
                for w in weights {
                    f(&mut w.span);
                    w.weight.spans_mut(f);
                    w.cond.spans_mut(f);
                }
            }
            ItemKind::Rule { name, source, cond, body } => {
                name.spans_mut(f);
                source.spans_mut(f);
                cond.spans_mut(f);
                body.spans_mut(f);
            }
            ItemKind::Test { name_span, body, .. } => {
                f(name_span);
                body.spans_mut(f);
            }
            ItemKind::Error => {}
        }
    }
}

impl Spans for Annotation {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        self.name.spans_mut(f);
        self.args.spans_mut(f);
    }
}

impl Spans for TypeExpr {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        match &mut self.kind {
            TypeExprKind::Named(names) => names.spans_mut(f),
            TypeExprKind::Generic(name, args) => {
                name.spans_mut(f);
                args.spans_mut(f);
            }
            TypeExprKind::Optional(t) => t.spans_mut(f),
        }
    }
}

impl Spans for Stmt {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        match &mut self.kind {
            StmtKind::Let { name, value } => {
                name.spans_mut(f);
                value.spans_mut(f);
            }
            StmtKind::Emit { sink, key, record } => {
                sink.spans_mut(f);
                key.spans_mut(f);
                record.spans_mut(f);
            }
            StmtKind::Route { sink } => sink.spans_mut(f),
            StmtKind::If { branches, otherwise } => {
                for (cond, body) in branches {
                    cond.spans_mut(f);
                    body.spans_mut(f);
                }
                otherwise.spans_mut(f);
            }
            StmtKind::Error => {}
        }
    }
}

impl Spans for Record {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        self.spread.spans_mut(f);
        for field in &mut self.fields {
            f(&mut field.span);
            match &mut field.key {
                FieldKey::Name(n) => n.spans_mut(f),
                FieldKey::Str(_, s) => f(s),
            }
            field.value.spans_mut(f);
        }
    }
}

impl Spans for TestStmt {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        match &mut self.kind {
            TestStmtKind::Given { source: name, record } | TestStmtKind::Expect { sink: name, record } => {
                name.spans_mut(f);
                record.spans_mut(f);
            }
            TestStmtKind::ExpectNothing { sink } => sink.spans_mut(f),
            TestStmtKind::ExpectDropped | TestStmtKind::ExpectDirty | TestStmtKind::Error => {}
        }
    }
}

impl Spans for Expr {
    fn spans_mut(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        match &mut self.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::Duration(_)
            | ExprKind::Bool(_)
            | ExprKind::Null
            | ExprKind::SelfRef
            | ExprKind::Error => {}
            ExprKind::Name(n) => n.spans_mut(f),
            ExprKind::List(items) => items.spans_mut(f),
            ExprKind::Record(r) => r.spans_mut(f),
            ExprKind::Unary(_, a) => a.spans_mut(f),
            ExprKind::Binary(_, a, b) | ExprKind::Index(a, b) | ExprKind::In { needle: a, haystack: b, .. } => {
                a.spans_mut(f);
                b.spans_mut(f);
            }
            ExprKind::Field(a, name) => {
                a.spans_mut(f);
                name.spans_mut(f);
            }
            ExprKind::Call { callee, args } => {
                callee.spans_mut(f);
                args.spans_mut(f);
            }
            ExprKind::Lambda { param, body } => {
                param.spans_mut(f);
                body.spans_mut(f);
            }
            ExprKind::If { cond, then, otherwise } => {
                cond.spans_mut(f);
                then.spans_mut(f);
                otherwise.spans_mut(f);
            }
        }
    }
}
