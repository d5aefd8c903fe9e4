//! The cron triggers of create-db-worker: which cron string starts which job, and the
//! one function the Workers `scheduled` handler calls. It reads the job's settings, runs
//! it, and returns the log lines to print. A misconfigured job logs a
//! `configuration_error` naming the variable and does nothing else.

use crate::backstop::{backstop, BackstopSettings};
use crate::sweep::{sweep, SweepSettings};
use shared::config::ConfigSource;
use shared::http::HttpClient;
use shared::log::LogLine;
use shared::store::KeyValueStore;
use shared::time::Millis;
use shared::Error;
use std::ops::RangeInclusive;

/// The deletion sweep's cron, every minute. Must match `[triggers] crons` in wrangler.toml.
pub const SWEEP_CRON: &str = "* * * * *";

/// The stale-project backstop's cron, daily at 03:17 UTC. Must match wrangler.toml.
pub const BACKSTOP_CRON: &str = "17 3 * * *";

/// A job a cron trigger starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduledJob {
    Sweep,
    Backstop,
}

impl ScheduledJob {
    /// Returns the job of `cron`, compared after trimming and collapsing spaces.
    pub fn from_cron(cron: &str) -> Option<ScheduledJob> {
        let normalized = cron.split_whitespace().collect::<Vec<_>>().join(" ");
        match normalized.as_str() {
            SWEEP_CRON => Some(ScheduledJob::Sweep),
            BACKSTOP_CRON => Some(ScheduledJob::Backstop),
            _ => None,
        }
    }
}

/// Runs the job of `cron` and returns its log lines, the run summary last.
pub async fn run_scheduled<S, H, C>(cron: &str, store: &S, http: &H, config: &C, clock: &impl Fn() -> Millis) -> Vec<String>
where
    S: KeyValueStore,
    H: HttpClient,
    C: ConfigSource,
{
    let started = clock();
    match ScheduledJob::from_cron(cron) {
        Some(ScheduledJob::Sweep) => match SweepSettings::from_config(config) {
            Ok(settings) => {
                let report = sweep(store, http, &settings, clock).await;
                let mut lines = report.logs.clone();
                lines.push(report.summary_line(clock().saturating_sub(started)));
                lines
            }
            Err(error) => vec![configuration_error("sweep", &error)],
        },
        Some(ScheduledJob::Backstop) => match BackstopSettings::from_config(config) {
            Ok(settings) => {
                let report = backstop(store, http, &settings, clock).await;
                let mut lines = report.logs.clone();
                lines.push(report.summary_line(clock().saturating_sub(started)));
                lines
            }
            Err(error) => vec![configuration_error("backstop", &error)],
        },
        None => vec![LogLine::new("scheduled_unknown_cron")
            .field("cron", cron.chars().take(64).collect::<String>())
            .field("expected", format!("{SWEEP_CRON:?} or {BACKSTOP_CRON:?}"))
            .to_string()],
    }
}

fn configuration_error(job: &str, error: &Error) -> String {
    LogLine::new("configuration_error").field("job", job).field("message", error.to_string()).to_string()
}

/// Reads a whole-number variable within `allowed`; unset or blank means `default`.
pub fn whole_number_var(
    config: &impl ConfigSource,
    name: &'static str,
    default: u64,
    allowed: RangeInclusive<u64>,
) -> Result<u64, Error> {
    let Some(text) = config.var(name).filter(|text| !text.trim().is_empty()) else {
        return Ok(default);
    };
    match text.trim().parse::<u64>() {
        Ok(value) if allowed.contains(&value) => Ok(value),
        _ => Err(Error::Config {
            name,
            reason: format!(
                "is {:?}, not a whole number from {} to {}",
                text.chars().take(32).collect::<String>(),
                allowed.start(),
                allowed.end()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use shared::config::MapConfig;
    use shared::http::{HttpResponse, ScriptedHttp};
    use shared::store::{ManualClock, MemoryStore};

    fn config() -> MapConfig {
        MapConfig::new(&[("INTEGRATION_TOKEN", "token"), ("PRISMA_API_URL", "http://127.0.0.1:9")])
    }

    fn run(cron: &str, config: &MapConfig) -> (Vec<String>, ScriptedHttp) {
        let clock = ManualClock::new(1_796_412_900_000);
        let store = MemoryStore::new(clock.clone());
        let http = ScriptedHttp::new(|_| {
            Ok(HttpResponse::json(200, &serde_json::json!({"data": [], "pagination": {"hasMore": false}})))
        });
        let lines = block_on(run_scheduled(cron, &store, &http, config, &|| clock.now_ms()));
        (lines, http)
    }

    #[test]
    fn crons_select_their_jobs() {
        assert_eq!(ScheduledJob::from_cron("* * * * *"), Some(ScheduledJob::Sweep));
        assert_eq!(ScheduledJob::from_cron(" *  * * * * "), Some(ScheduledJob::Sweep));
        assert_eq!(ScheduledJob::from_cron("17 3 * * *"), Some(ScheduledJob::Backstop));
        assert_eq!(ScheduledJob::from_cron("0 3 * * *"), None);
        assert_eq!(ScheduledJob::from_cron(""), None);
    }

    #[test]
    fn wrangler_toml_declares_both_crons() {
        let manifest = include_str!("../wrangler.toml");
        let crons_line = manifest
            .lines()
            .find(|line| line.trim_start().starts_with("crons"))
            .expect("wrangler.toml has a crons line");

        assert!(crons_line.contains(&format!("{SWEEP_CRON:?}")), "{crons_line}");
        assert!(crons_line.contains(&format!("{BACKSTOP_CRON:?}")), "{crons_line}");
    }

    #[test]
    fn sweep_cron_logs_one_summary() {
        let (lines, http) = run("* * * * *", &config());

        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains(r#""event":"sweep""#), "{lines:?}");
        assert!(http.sent().is_empty());
    }

    #[test]
    fn backstop_cron_lists_projects() {
        let (lines, http) = run("17 3 * * *", &config());

        assert!(lines.last().is_some_and(|line| line.contains(r#""event":"backstop""#)), "{lines:?}");
        assert_eq!(http.sent().len(), 1);
    }

    #[test]
    fn unknown_cron_is_logged() {
        let (lines, http) = run("0 0 * * *", &config());

        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("scheduled_unknown_cron"), "{lines:?}");
        assert!(http.sent().is_empty());
    }

    #[test]
    fn missing_token_is_a_configuration_error() {
        let (lines, http) = run("* * * * *", &config().without("INTEGRATION_TOKEN"));

        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("configuration_error"), "{lines:?}");
        assert!(lines[0].contains("INTEGRATION_TOKEN is not set"), "{lines:?}");
        assert!(http.sent().is_empty());
    }

    #[test]
    fn whole_number_var_checks_range() {
        let config = MapConfig::new(&[("A", " 12 "), ("B", "0"), ("C", "1.5"), ("D", "")]);

        assert_eq!(whole_number_var(&config, "A", 5, 1..=100), Ok(12));
        assert_eq!(whole_number_var(&config, "D", 5, 1..=100), Ok(5));
        assert_eq!(whole_number_var(&config, "UNSET", 5, 1..=100), Ok(5));
        for name in ["B", "C"] {
            let result = whole_number_var(&config, name, 5, 1..=100);
            assert!(
                matches!(&result, Err(Error::Config { reason, .. }) if reason.contains("not a whole number from 1 to 100")),
                "{name}: {result:?}"
            );
        }
    }
}
