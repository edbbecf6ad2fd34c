//! What the names of a bundle refer to, as the checker resolved them. Checking folds consts
//! and inlines fns, so the IR no longer links a use to its definition; the checker writes each
//! link here as it resolves a name, and the editor features (`ide`) read them.

use evr_grammar::ast::Span;
use evr_stdlib::Builtin;

use crate::schema::{EnumId, MessageId, TypeRef};
use crate::types::Type;

/// The names resolved in one file's items — one slice per item — or in the bundle's
/// declarations: an unchanged file hands the next analysis its group whole.
pub type Names = std::sync::Arc<[std::sync::Arc<[Ref]>]>;

/// Every name of an analysis's groups.
pub fn all(groups: &[Names]) -> impl Iterator<Item = &Ref> {
    groups.iter().flat_map(|g| g.iter()).flat_map(|item| item.iter())
}

/// A group of one item's names.
pub fn group(refs: Vec<Ref>) -> Names {
    std::sync::Arc::from([std::sync::Arc::from(refs)])
}

/// What a name is.
#[derive(Clone, Debug, PartialEq)]
pub enum Def {
    /// A `let`, a fn parameter or a lambda parameter, known by where it is bound.
    Local {
        binding: Span,
    },
    Field {
        message: MessageId,
        index: u32,
    },
    EnumValue {
        id: EnumId,
        value: i32,
    },
    Const(String),
    Fn(String),
    Score(String),
    Sink(String),
    Source(String),
    Builtin(Builtin),
    /// A message or enum of the schemas.
    Type(TypeRef),
}

/// One name as written (`span`: the name alone), what it is and the type of its value there.
#[derive(Clone, Debug, PartialEq)]
pub struct Ref {
    pub span: Span,
    pub def: Def,
    pub ty: Type,
}

impl Ref {
    pub fn new(span: Span, def: Def, ty: Type) -> Ref {
        Ref { span, def, ty }
    }

    /// The same reference once an edit moved its file's text by `shift`.
    pub fn moved(&self, shift: &evr_grammar::Shift) -> Ref {
        let mut r = self.clone();
        r.shift(shift);
        r
    }

    /// Moves the reference, in place, as an edit moved its file's text.
    pub fn shift(&mut self, shift: &evr_grammar::Shift) {
        self.span = shift.span(self.span);
        if let Def::Local { binding } = &mut self.def {
            *binding = shift.span(*binding);
        }
    }
}
