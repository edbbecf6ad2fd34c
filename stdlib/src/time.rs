//! Time: UTC calendar fields of milliseconds since the epoch, and processing time.

const MS_PER_HOUR: i64 = 3_600_000;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

pub fn hour_of_day(ms: i64) -> i64 {
    ms.div_euclid(MS_PER_HOUR).rem_euclid(24)
}

/// Monday = 1 .. Sunday = 7. The epoch, 1970-01-01, was a Thursday.
pub fn day_of_week(ms: i64) -> i64 {
    (ms.div_euclid(MS_PER_DAY) + 3).rem_euclid(7) + 1
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The range of `google.protobuf.Timestamp`: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z,
/// in milliseconds since the epoch.
pub const TIMESTAMP_MS: std::ops::RangeInclusive<i64> = -62_135_596_800_000..=253_402_300_799_999;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of days since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// An RFC 3339 timestamp (`2023-11-14T22:13:20Z`, `2023-11-14T23:13:20.5+01:00`) as
/// milliseconds since the epoch, as protobuf's JSON mapping writes `google.protobuf.Timestamp`;
/// digits past milliseconds are dropped. `None` when it is not one, or out of the range.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let month_days = [
        31,
        if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo) || d < 1 || d > month_days[(mo - 1) as usize] || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b[i] == b'.' {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        millis = (0..3).fold(0, |n, k| n * 10 + if k < digits { i64::from(b[i + 1 + k] - b'0') } else { 0 });
        i += 1 + digits;
    }
    let offset_min = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), ..] if b.len() == i + 6 && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            (oh * 60 + om) * if *sign == b'-' { -1 } else { 1 }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let ms = ((days * 24 + h) * 60 + mi - offset_min) * 60_000 + sec * 1000 + millis;
    TIMESTAMP_MS.contains(&ms).then_some(ms)
}

/// Milliseconds since the epoch as RFC 3339 in UTC, as protobuf's JSON mapping writes a
/// Timestamp: `Z`, and 0, 3 fractional digits as needed (`2023-11-14T22:13:20.500Z`).
pub fn format_rfc3339(ms: i64) -> String {
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, milli) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000);
    let frac = if milli == 0 { String::new() } else { format!(".{milli:03}") };
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T23:13:20.5+01:00"), Some(1_700_000_000_500));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.123456789Z"), Some(123));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), Some(*TIMESTAMP_MS.start()));
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z").map(format_rfc3339).as_deref(), Some("2024-02-29T00:00:00Z"));
        for bad in ["2023-02-29T00:00:00Z", "2023-11-14 22:13:20Z", "2023-11-14T22:13:20", "2023-11-14T24:00:00Z", "x"]
        {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(format_rfc3339(1_700_000_000_500), "2023-11-14T22:13:20.500Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_rfc3339(*TIMESTAMP_MS.end()), "9999-12-31T23:59:59.999Z");
    }

    proptest::proptest! {
        #[test]
        fn rfc3339_round_trips(ms in TIMESTAMP_MS) {
            proptest::prop_assert_eq!(parse_rfc3339(&format_rfc3339(ms)), Some(ms));
        }
    }

    #[test]
    fn calendar() {
        assert_eq!(day_of_week(0), 4);
        // 2023-11-14T22:13:20Z, a Tuesday.
        assert_eq!(day_of_week(1_700_000_000_000), 2);
        assert_eq!(hour_of_day(1_700_000_000_000), 22);
        assert_eq!(hour_of_day(-1), 23);
        assert_eq!(day_of_week(-1), 3);
    }
}
