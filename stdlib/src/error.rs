//! Runtime errors: what aborts one rule for one event. They are values (never panics), and each
//! has a stable numeric code so that native code can return it through a plain integer.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum RuntimeError {
    /// Integer arithmetic left the 64-bit range.
    Overflow = 1,
    DivisionByZero = 2,
    /// A conversion whose result is not optional had no answer (`round(1e300)`, `round(NaN)`).
    OutOfRange = 3,
    /// A value does not fit the field it is written to (a negative number into a uint64 field, a
    /// large one into an int32 field).
    FieldRange = 4,
    /// A rule reads a score whose own evaluation failed for this event.
    ScoreFailed = 5,
    /// An evaluator met a state the checker rules out; reported instead of crashing.
    Internal = 6,
    /// `bucket(x, n)` with `n <= 0`: there is no bucket to put `x` in.
    BucketCount = 7,
}

impl RuntimeError {
    pub fn code(self) -> u32 {
        self as u32
    }

    /// A stable word for the error, for metrics labels and logs.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeError::Overflow => "overflow",
            RuntimeError::DivisionByZero => "division_by_zero",
            RuntimeError::OutOfRange => "out_of_range",
            RuntimeError::FieldRange => "field_range",
            RuntimeError::ScoreFailed => "score_failed",
            RuntimeError::Internal => "internal",
            RuntimeError::BucketCount => "bucket_count",
        }
    }

    pub fn from_code(code: u32) -> Option<RuntimeError> {
        Some(match code {
            1 => RuntimeError::Overflow,
            2 => RuntimeError::DivisionByZero,
            3 => RuntimeError::OutOfRange,
            4 => RuntimeError::FieldRange,
            5 => RuntimeError::ScoreFailed,
            6 => RuntimeError::Internal,
            7 => RuntimeError::BucketCount,
            _ => return None,
        })
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuntimeError::Overflow => "integer overflow",
            RuntimeError::DivisionByZero => "division by zero",
            RuntimeError::OutOfRange => "conversion out of range",
            RuntimeError::FieldRange => "value out of the field's range",
            RuntimeError::ScoreFailed => "a score this rule reads failed",
            RuntimeError::Internal => "internal error in the evaluator",
            RuntimeError::BucketCount => "bucket(x, n) needs a positive count n",
        })
    }
}

impl std::error::Error for RuntimeError {}
