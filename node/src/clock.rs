//! The bureau's clock: what day it is and how a time reads in the bureau's
//! time zone (`Asia/Shanghai` unless its config says otherwise), never the
//! host's — a container runs in UTC, where "today" is yesterday for the first
//! eight hours of every Chinese working day.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::model::Date;

/// The zone every bureau works in unless its config names another.
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Asia::Shanghai;

/// A zone by its IANA name (`Asia/Shanghai`, `UTC`).
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("{name:?} is not an IANA time zone (e.g. Asia/Shanghai)"))
}

/// Today in `zone`.
pub fn today_in(zone: Tz) -> Date {
    today_at(zone, Utc::now())
}

/// The day it is in `zone` at `now`.
pub fn today_at(zone: Tz, now: DateTime<Utc>) -> Date {
    now.with_timezone(&zone).date_naive()
}

/// A millisecond timestamp as `YYYY-MM-DD HH:MM` in `zone`.
pub fn local_minutes(zone: Tz, ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&zone)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A millisecond timestamp as `YYYY-MM-DD HH:MM:SS` in `zone`.
pub fn local_seconds(zone: Tz, ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// When `day` begins in `zone`, in milliseconds since the epoch (the first
/// valid local time of the day, should midnight not exist there).
pub fn start_of_day_ms(zone: Tz, day: Date) -> i64 {
    use chrono::TimeZone;
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    zone.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(|| midnight.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_is_the_bureaus_not_the_hosts() {
        // 2026-12-02 01:30 in Beijing is still 12-01 in UTC.
        let now = "2026-12-01T17:30:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(today_at(DEFAULT_TIME_ZONE, now).to_string(), "2026-12-02");
        assert_eq!(
            today_at(parse_zone("UTC").unwrap(), now).to_string(),
            "2026-12-01"
        );
        // Before 16:00 UTC both agree.
        let noon = "2026-12-01T04:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(today_at(DEFAULT_TIME_ZONE, noon).to_string(), "2026-12-01");
        assert_eq!(
            local_minutes(DEFAULT_TIME_ZONE, now.timestamp_millis()),
            "2026-12-02 01:30"
        );
        assert!(parse_zone("Mars/Olympus").unwrap_err().contains("IANA"));
    }
}
