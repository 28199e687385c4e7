//! Timestamps of versions: callers pass the current Unix time, so tests control it.

const SECONDS_PER_DAY: u64 = 86_400;

/// Formats `unix_seconds` as an RFC 3339 UTC timestamp such as `2026-01-05T10:00:00Z`.
pub fn format_rfc3339(unix_seconds: u64) -> String {
    let days = unix_seconds / SECONDS_PER_DAY;
    let second_of_day = unix_seconds % SECONDS_PER_DAY;
    let (year, month, day) = civil_date(days);

    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Converts a count of days since 1970-01-01 to a proleptic Gregorian (year, month, day).
///
/// The calendar is shifted to start on 1 March so that the leap day ends a year. Then a 400-year
/// era always has 146,097 days, and the month follows from the day of the year by a linear formula.
fn civil_date(days_since_epoch: u64) -> (u64, u64, u64) {
    const DAYS_PER_ERA: u64 = 146_097;
    // 1970-01-01 is day 719,468 counted from 0000-03-01.
    let days = days_since_epoch + 719_468;

    let era = days / DAYS_PER_ERA;
    let day_of_era = days % DAYS_PER_ERA;
    // Subtracting the leap days seen so far makes every year 365 days long.
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);

    // Months counted from March: 0 is March, 11 is February.
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);

    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::format_rfc3339;

    #[test]
    fn rfc3339_of_epoch() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn rfc3339_of_leap_day() {
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn rfc3339_with_time_of_day() {
        assert_eq!(format_rfc3339(1_767_607_200), "2026-01-05T10:00:00Z");
    }

    #[test]
    fn rfc3339_of_last_second_of_century() {
        assert_eq!(format_rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
