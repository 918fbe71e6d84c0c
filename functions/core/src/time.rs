//! Times as people and Immuta write them: an age (`90m`, `6h`, `7d`) or an RFC 3339 UTC time
//! (`2026-12-01T10:00:00Z`, as in Immuta's `createdAt`), and timestamps printed as RFC 3339 UTC.
//! Microseconds since the Unix epoch throughout, the ledger's unit. (No date crate: this is all
//! of it that the project needs.)

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("--since {0:?}: give an age (30m, 6h, 7d) or a UTC time (2026-12-01T10:00:00Z)")]
pub struct BadTime(pub String);

const MICROS_PER_SECOND: i64 = 1_000_000;

/// `text` as microseconds since the Unix epoch; an age counts back from `now_micros`.
pub fn parse_since(text: &str, now_micros: i64) -> Result<i64, BadTime> {
    let bad = || BadTime(text.to_owned());
    let text = text.trim();
    if let Some(unit) = text.chars().last().filter(char::is_ascii_alphabetic)
        && text[..text.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && text.len() > 1
    {
        let amount: i64 = text[..text.len() - 1].parse().map_err(|_| bad())?;
        let seconds = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        return amount
            .checked_mul(seconds * MICROS_PER_SECOND)
            .map(|age| now_micros - age)
            .ok_or_else(bad);
    }
    parse_rfc3339_utc(text).ok_or_else(bad)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)` as microseconds since the Unix epoch.
pub fn parse_rfc3339_utc(text: &str) -> Option<i64> {
    let text = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix("+00:00"))?;
    let (date, time) = text.split_once(['T', ' '])?;
    let mut date = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let (time, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut time = time.splitn(3, ':').map(str::parse::<i64>);
    let (hour, minute, second) = (time.next()?.ok()?, time.next()?.ok()?, time.next()?.ok()?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let micros: i64 = format!("{fraction:0<6}").get(..6)?.parse().ok()?;
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(seconds * MICROS_PER_SECOND + micros)
}

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// `micros` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_utc(micros: i64) -> String {
    let seconds = micros.div_euclid(MICROS_PER_SECOND);
    let millis = micros.rem_euclid(MICROS_PER_SECOND) / 1_000;
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_662_400 * MICROS_PER_SECOND; // 2025-12-02T08:00:00Z

    #[test]
    fn ages_count_back_from_now() {
        assert_eq!(
            parse_since("90m", NOW),
            Ok(NOW - 90 * 60 * MICROS_PER_SECOND)
        );
        assert_eq!(
            parse_since("7d", NOW),
            Ok(NOW - 7 * 86_400 * MICROS_PER_SECOND)
        );
        assert_eq!(parse_since("30s", NOW), Ok(NOW - 30 * MICROS_PER_SECOND));
        for bad in [
            "",
            "h",
            "7w",
            "-1h",
            "1.5h",
            "yesterday",
            "99999999999999999d",
        ] {
            assert!(parse_since(bad, NOW).is_err(), "{bad}");
        }
    }

    #[test]
    fn utc_times_read_and_print_alike() {
        assert_eq!(parse_since("2025-12-02T08:00:00Z", 0), Ok(NOW));
        assert_eq!(parse_since("2025-12-02T08:00:00+00:00", 0), Ok(NOW));
        assert_eq!(parse_since("1970-01-01T00:00:00.5Z", 0), Ok(500_000));
        assert_eq!(format_utc(NOW), "2025-12-02T08:00:00.000Z");
        assert_eq!(format_utc(0), "1970-01-01T00:00:00.000Z");
        for micros in [NOW, 951_782_400_123_000, 4_107_542_399_999_000] {
            let printed = format_utc(micros);
            assert_eq!(parse_since(&printed, 0), Ok(micros), "{printed}");
        }
        for bad in [
            "2025-13-01T00:00:00Z",
            "2025-12-02T08:00:00",
            "2025-12-02T25:00:00Z",
        ] {
            assert!(parse_since(bad, 0).is_err(), "{bad}");
        }
    }
}
