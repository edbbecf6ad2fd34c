//! Numbers: checked integer arithmetic (the semantics both evaluators share), float-to-int
//! conversions and the numeric builtins.

use crate::RuntimeError;

pub fn add(a: i64, b: i64) -> Result<i64, RuntimeError> {
    a.checked_add(b).ok_or(RuntimeError::Overflow)
}

pub fn sub(a: i64, b: i64) -> Result<i64, RuntimeError> {
    a.checked_sub(b).ok_or(RuntimeError::Overflow)
}

pub fn mul(a: i64, b: i64) -> Result<i64, RuntimeError> {
    a.checked_mul(b).ok_or(RuntimeError::Overflow)
}

/// Truncates toward zero, as in Rust, Java and C.
pub fn div(a: i64, b: i64) -> Result<i64, RuntimeError> {
    if b == 0 {
        return Err(RuntimeError::DivisionByZero);
    }
    a.checked_div(b).ok_or(RuntimeError::Overflow)
}

/// Takes the sign of the dividend.
pub fn rem(a: i64, b: i64) -> Result<i64, RuntimeError> {
    if b == 0 {
        return Err(RuntimeError::DivisionByZero);
    }
    // i64::MIN % -1 is 0 mathematically; checked_rem reports it as overflow.
    Ok(a.checked_rem(b).unwrap_or(0))
}

pub fn neg(a: i64) -> Result<i64, RuntimeError> {
    a.checked_neg().ok_or(RuntimeError::Overflow)
}

pub fn abs(a: i64) -> Result<i64, RuntimeError> {
    a.checked_abs().ok_or(RuntimeError::Overflow)
}

/// An f64 that is already integral, as an i64, if it fits.
fn integral_to_int(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; every f64 below it in magnitude converts without loss.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.is_finite() && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
}

pub fn floor(f: f64) -> Result<i64, RuntimeError> {
    integral_to_int(f.floor()).ok_or(RuntimeError::OutOfRange)
}

pub fn ceil(f: f64) -> Result<i64, RuntimeError> {
    integral_to_int(f.ceil()).ok_or(RuntimeError::OutOfRange)
}

/// Half away from zero: `round(2.5) == 3`, `round(-2.5) == -3`.
pub fn round(f: f64) -> Result<i64, RuntimeError> {
    integral_to_int(f.round()).ok_or(RuntimeError::OutOfRange)
}

/// `to_int(float)`: truncation, or null when it does not fit.
pub fn float_to_int(f: f64) -> Option<i64> {
    integral_to_int(f.trunc())
}

/// `to_int(string)`: optional sign and decimal digits, surrounding blanks ignored.
pub fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// `to_float(string)`: decimal or exponent notation, surrounding blanks ignored; no NaN or
/// infinities (they are not numbers a rule can use).
pub fn parse_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E')) {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

pub fn min_float(a: f64, b: f64) -> f64 {
    a.min(b)
}

pub fn max_float(a: f64, b: f64) -> f64 {
    a.max(b)
}

/// Text of a float: the shortest form that reads back to the same number, always with a
/// decimal point or exponent so that it reads as a float (`3.0`, `0.1`, `1e300`).
pub fn float_to_string(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    format!("{f:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_semantics() {
        assert_eq!(div(-7, 2), Ok(-3));
        assert_eq!(rem(-7, 2), Ok(-1));
        assert_eq!(rem(7, -2), Ok(1));
        assert_eq!(div(i64::MIN, -1), Err(RuntimeError::Overflow));
        assert_eq!(rem(i64::MIN, -1), Ok(0));
        assert_eq!(div(1, 0), Err(RuntimeError::DivisionByZero));
        assert_eq!(abs(i64::MIN), Err(RuntimeError::Overflow));
    }

    #[test]
    fn conversions() {
        assert_eq!(round(2.5), Ok(3));
        assert_eq!(round(-2.5), Ok(-3));
        assert_eq!(round(1e300), Err(RuntimeError::OutOfRange));
        assert_eq!(round(f64::NAN), Err(RuntimeError::OutOfRange));
        assert_eq!(floor(-1.5), Ok(-2));
        assert_eq!(ceil(-1.5), Ok(-1));
        assert_eq!(float_to_int(-3.9), Some(-3));
        assert_eq!(float_to_int(9.3e18), None);
        assert_eq!(parse_int(" 42 "), Some(42));
        assert_eq!(parse_int("4x"), None);
        assert_eq!(parse_int("99999999999999999999"), None);
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float("inf"), None);
        assert_eq!(float_to_string(3.0), "3.0");
        assert_eq!(float_to_string(0.1), "0.1");
    }
}
