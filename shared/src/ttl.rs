//! The partner's lifetime policy for temporary databases: the shortest, longest and
//! default time-to-live a create may ask for. Configured through `TTL_MIN_MS`,
//! `TTL_MAX_MS` and `TTL_DEFAULT_MS` so a partner can choose it and tests can use seconds.

use crate::time::{Millis, HOUR_MS, MINUTE_MS};
use serde_json::Value;
use std::fmt;

pub const DEFAULT_TTL_MIN_MS: Millis = 30 * MINUTE_MS;
pub const DEFAULT_TTL_MAX_MS: Millis = 24 * HOUR_MS;
pub const DEFAULT_TTL_DEFAULT_MS: Millis = 24 * HOUR_MS;

/// Upper bound on any configured value: 365 days. Larger values are almost certainly a
/// unit mistake (seconds for milliseconds the other way round) and would overflow nothing,
/// but would keep databases alive for years.
pub const TTL_CEILING_MS: Millis = 365 * 24 * HOUR_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlPolicy {
    pub min_ms: Millis,
    pub max_ms: Millis,
    pub default_ms: Millis,
}

impl Default for TtlPolicy {
    fn default() -> Self {
        TtlPolicy {
            min_ms: DEFAULT_TTL_MIN_MS,
            max_ms: DEFAULT_TTL_MAX_MS,
            default_ms: DEFAULT_TTL_DEFAULT_MS,
        }
    }
}

/// The reason a requested `ttlMs` was rejected; `Display` is the message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TtlError {
    NotAWholeNumber,
    OutOfRange { requested: String, policy: TtlPolicy },
}

impl fmt::Display for TtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TtlError::NotAWholeNumber => {
                f.write_str("`ttlMs` must be a whole number of milliseconds, or left out for the default")
            }
            TtlError::OutOfRange { requested, policy } => write!(
                f,
                "`ttlMs` {requested} is outside the allowed range: send a value from {} ({}) to {} ({}), or leave it out for {} ({})",
                policy.min_ms,
                describe(policy.min_ms),
                policy.max_ms,
                describe(policy.max_ms),
                policy.default_ms,
                describe(policy.default_ms),
            ),
        }
    }
}

/// Describes a duration for people: `30 minutes`, `1 hour`, `24 hours`, `5 seconds`.
pub fn describe(millis: Millis) -> String {
    let (count, unit) = if millis.is_multiple_of(HOUR_MS) && millis > 0 {
        (millis / HOUR_MS, "hour")
    } else if millis.is_multiple_of(MINUTE_MS) && millis > 0 {
        (millis / MINUTE_MS, "minute")
    } else if millis.is_multiple_of(1_000) {
        (millis / 1_000, "second")
    } else {
        (millis, "millisecond")
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

impl TtlPolicy {
    /// Builds the policy from the three optional configuration values, each a whole
    /// number of milliseconds. Returns the name of the offending variable and the reason.
    pub fn from_config(
        min: Option<&str>,
        max: Option<&str>,
        default: Option<&str>,
    ) -> Result<TtlPolicy, (&'static str, String)> {
        // An unset default follows a lowered maximum, and an unset minimum follows a
        // lowered default, so setting one value alone still gives a valid policy.
        let max_ms = parse_setting("TTL_MAX_MS", max, DEFAULT_TTL_MAX_MS)?;
        let default_ms = parse_setting("TTL_DEFAULT_MS", default, DEFAULT_TTL_DEFAULT_MS.min(max_ms))?;
        let min_ms = parse_setting("TTL_MIN_MS", min, DEFAULT_TTL_MIN_MS.min(default_ms))?;

        if default_ms > max_ms {
            return Err(("TTL_DEFAULT_MS", format!("is {default_ms}, larger than TTL_MAX_MS ({max_ms})")));
        }
        if min_ms > max_ms {
            return Err(("TTL_MIN_MS", format!("is {min_ms}, larger than TTL_MAX_MS ({max_ms})")));
        }
        if default_ms < min_ms || default_ms > max_ms {
            return Err((
                "TTL_DEFAULT_MS",
                format!("is {default_ms}, outside TTL_MIN_MS..=TTL_MAX_MS ({min_ms}..={max_ms})"),
            ));
        }
        Ok(TtlPolicy { min_ms, max_ms, default_ms })
    }

    /// Resolves the `ttlMs` field of a create request: absent or `null` means the
    /// default; otherwise a whole number of milliseconds within the policy.
    pub fn resolve(&self, requested: Option<&Value>) -> Result<Millis, TtlError> {
        let number = match requested {
            None | Some(Value::Null) => return Ok(self.default_ms),
            Some(Value::Number(number)) => number,
            Some(_) => return Err(TtlError::NotAWholeNumber),
        };

        // serde_json keeps 3600000.0 as a float; accept it when it is whole.
        let whole = match (number.as_u64(), number.as_f64()) {
            (Some(value), _) => Some(value),
            (None, Some(value)) if value.fract() == 0.0 && (0.0..1e15).contains(&value) => {
                Some(value as u64)
            }
            _ => None,
        };
        let out_of_range = || TtlError::OutOfRange { requested: number.to_string(), policy: *self };
        match whole {
            Some(value) if (self.min_ms..=self.max_ms).contains(&value) => Ok(value),
            Some(_) => Err(out_of_range()),
            // Negative whole numbers are out of range; fractions are not whole.
            None if number.as_i64().is_some() => Err(out_of_range()),
            None if number.as_f64().is_some_and(|value| value.fract() == 0.0) => Err(out_of_range()),
            None => Err(TtlError::NotAWholeNumber),
        }
    }
}

fn parse_setting(
    name: &'static str,
    text: Option<&str>,
    fallback: Millis,
) -> Result<Millis, (&'static str, String)> {
    let Some(text) = text.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(fallback);
    };
    match text.parse::<Millis>() {
        Ok(0) => Err((name, "must be at least 1 millisecond".to_owned())),
        Ok(value) if value > TTL_CEILING_MS => {
            Err((name, format!("is {value} ms, more than 365 days; the unit is milliseconds")))
        }
        Ok(value) => Ok(value),
        Err(_) => Err((name, format!("is {text:?}, not a whole number of milliseconds"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolve_defaults_when_absent_or_null() {
        let policy = TtlPolicy::default();

        assert_eq!(policy.resolve(None), Ok(DEFAULT_TTL_DEFAULT_MS));
        assert_eq!(policy.resolve(Some(&Value::Null)), Ok(DEFAULT_TTL_DEFAULT_MS));
    }

    #[test]
    fn resolve_accepts_bounds_and_whole_floats() {
        let policy = TtlPolicy::default();

        assert_eq!(policy.resolve(Some(&json!(1_800_000))), Ok(1_800_000));
        assert_eq!(policy.resolve(Some(&json!(86_400_000))), Ok(86_400_000));
        assert_eq!(policy.resolve(Some(&json!(3_600_000.0))), Ok(3_600_000));
    }

    #[test]
    fn resolve_rejects_out_of_range() {
        let policy = TtlPolicy::default();

        for value in [json!(1_799_999), json!(86_400_001), json!(0), json!(-5), json!(-3_600_000.0), json!(1e300)] {
            let result = policy.resolve(Some(&value));
            assert!(matches!(result, Err(TtlError::OutOfRange { .. })), "{value}: {result:?}");
        }
    }

    #[test]
    fn resolve_rejects_non_numbers() {
        let policy = TtlPolicy::default();

        for value in [json!("3600000"), json!(true), json!([1]), json!({}), json!(1.5)] {
            assert_eq!(policy.resolve(Some(&value)), Err(TtlError::NotAWholeNumber), "{value}");
        }
    }

    #[test]
    fn out_of_range_message_names_the_range() {
        let error = TtlPolicy::default().resolve(Some(&json!(60_000))).map_err(|error| error.to_string());

        assert_eq!(
            error,
            Err("`ttlMs` 60000 is outside the allowed range: send a value from 1800000 (30 minutes) to 86400000 (24 hours), or leave it out for 86400000 (24 hours)".to_owned())
        );
    }

    #[test]
    fn from_config_uses_defaults_and_overrides() {
        assert_eq!(TtlPolicy::from_config(None, None, None), Ok(TtlPolicy::default()));
        assert_eq!(
            TtlPolicy::from_config(Some("1000"), Some("60000"), Some("3000")),
            Ok(TtlPolicy { min_ms: 1_000, max_ms: 60_000, default_ms: 3_000 })
        );
        assert_eq!(
            TtlPolicy::from_config(Some("1000"), Some("60000"), None),
            Ok(TtlPolicy { min_ms: 1_000, max_ms: 60_000, default_ms: 60_000 })
        );
        assert_eq!(
            TtlPolicy::from_config(None, None, Some("3000")),
            Ok(TtlPolicy { min_ms: 3_000, max_ms: DEFAULT_TTL_MAX_MS, default_ms: 3_000 })
        );
    }

    #[test]
    fn from_config_rejects_bad_values() {
        assert_eq!(TtlPolicy::from_config(Some("abc"), None, None).map_err(|error| error.0), Err("TTL_MIN_MS"));
        assert_eq!(TtlPolicy::from_config(None, Some("0"), None).map_err(|error| error.0), Err("TTL_MAX_MS"));
        assert_eq!(TtlPolicy::from_config(Some("7200000"), Some("3600000"), None).map_err(|error| error.0), Err("TTL_MIN_MS"));
        assert_eq!(TtlPolicy::from_config(Some("1800000"), None, Some("60000")).map_err(|error| error.0), Err("TTL_DEFAULT_MS"));
        assert_eq!(TtlPolicy::from_config(None, Some("60000"), Some("90000")).map_err(|error| error.0), Err("TTL_DEFAULT_MS"));
        assert_eq!(TtlPolicy::from_config(None, Some("99999999999999"), None).map_err(|error| error.0), Err("TTL_MAX_MS"));
    }

    #[test]
    fn describe_picks_the_largest_whole_unit() {
        assert_eq!(describe(1_800_000), "30 minutes");
        assert_eq!(describe(3_600_000), "1 hour");
        assert_eq!(describe(5_000), "5 seconds");
        assert_eq!(describe(1_500), "1500 milliseconds");
    }
}
