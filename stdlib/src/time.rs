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

#[cfg(test)]
mod tests {
    use super::*;

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
