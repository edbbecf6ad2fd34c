//! Diagnostics are data: a stable code, a message, a primary span, secondary spans and a hint.
//! [`human`] renders them for people (ariadne), [`json`] for machines; the LSP converts them in
//! its own `convert` module.

mod explain;
pub mod human;
pub mod json;

use evr_grammar::ast::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

macro_rules! codes {
    ($( $code:ident $title:literal; )*) => {
        /// A diagnostic's stable identity; `evr explain CODE` describes each one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $($code),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$code),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$code => stringify!($code)),* }
            }

            /// A few words naming the problem.
            pub fn title(self) -> &'static str {
                match self { $(Code::$code => $title),* }
            }
        }
    };
}

codes! {
    E0001 "syntax error";
    E0002 "invalid token";
    E0003 "unterminated string";
    E0004 "cannot load a schema";
    E0005 "unknown type";
    E0006 "unknown name";
    E0007 "unknown field";
    E0008 "type mismatch";
    E0009 "possibly-null value used as a value";
    E0010 "duplicate name";
    E0011 "unknown sink";
    E0012 "unknown source";
    E0013 "route to a sink of another type";
    E0014 "invalid regular expression";
    E0015 "argument must be a constant";
    E0016 "unknown function";
    E0017 "wrong number of arguments";
    E0018 "unknown enum value";
    E0019 "recursive, too deeply nested or too large fn";
    E0020 "invalid annotation";
    E0021 "type cannot be inferred";
    E0022 "invalid constant";
    E0023 "invalid constant argument";
    E0024 "integer out of range";
    E0025 "misplaced lambda";
    E0026 "invalid stream declaration";
    E0027 "invalid test step";
    E0028 "value cannot be absent";
    E0029 "construct the JIT cannot compile";
    E0030 "two members of a oneof";
    W0001 "value is never null";
}

impl Code {
    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str().eq_ignore_ascii_case(text.trim()))
    }

    pub fn severity(self) -> Severity {
        if self.as_str().starts_with('W') { Severity::Warning } else { Severity::Error }
    }

    /// The long explanation printed by `evr explain`, with an example.
    pub fn explanation(self) -> &'static str {
        explain::text(self)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic whose severity follows from its code.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            primary: Label { span, message: String::new() },
            secondary: Vec::new(),
            hint: None,
        }
    }

    /// Text under the primary span.
    pub fn label(mut self, text: impl Into<String>) -> Diagnostic {
        self.primary.message = text.into();
        self
    }

    pub fn secondary(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label { span, message: text.into() });
        self
    }

    pub fn hint(mut self, text: impl Into<String>) -> Diagnostic {
        self.hint = Some(text.into());
        self
    }

    pub fn maybe_hint(mut self, text: Option<String>) -> Diagnostic {
        self.hint = text;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// "did you mean `x`?" from the candidates closest to `wanted`, if any is close enough. Ties go
/// to the name first in byte order, so the hint does not depend on the order the candidates
/// come in (names often come from hash maps).
pub fn did_you_mean<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let wanted_lower = wanted.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        if c == wanted {
            continue;
        }
        let score = strsim::jaro_winkler(&wanted_lower, &c.to_lowercase());
        let close = score >= 0.8 || strsim::damerau_levenshtein(wanted, c) <= wanted.len().max(3) / 3;
        if close && best.is_none_or(|(s, b)| score > s || (score == s && c < b)) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn did_you_mean_breaks_ties_by_name() {
        let names = ["shop.v1.Item", "shop.v1.Flag", "shop.v1.Order"];
        let mut reversed = names;
        reversed.reverse();
        let a = super::did_you_mean("shop.v", names);
        assert_eq!(a, super::did_you_mean("shop.v", reversed));
        assert_eq!(a.as_deref(), Some("did you mean `shop.v1.Flag`?"));
    }
}
