//! The sweep bench: KV reads, lists, writes and upstream calls per sweep run over an index
//! of 10,000 and 100,000 scheduled projects with 1% due, counted in the native simulation
//! (`create_db_worker::sim`). It runs the sweep once a simulated minute until every due
//! project is handled and prints one table row per scenario. The figures are call counts,
//! so they do not depend on the machine or the build profile.
//!
//! Run it with `cargo xtask bench`, or directly with
//! `cargo run -p create-db-worker --example sweep_bench -- [--json PATH]`.

use create_db_worker::sim::{claim_project, run_sweep, schedule_project, sweep_settings, Prng, RunFigures, SimulatedPlatform};
use create_db_worker::sweep::{DEFAULT_MAX_DELETES, MAX_KEYS_PER_RUN};
use futures::executor::block_on;
use serde_json::{json, Value};
use shared::record::{parse_expiry_key, EXPIRY_KEY_PREFIX};
use shared::store::{ManualClock, MemoryStore};
use shared::time::{Millis, DAY_MS, MINUTE_MS, SECOND_MS};
use shared::ProjectId;
use std::process::ExitCode;

/// A minute boundary, like the times cron triggers fire at.
const START: Millis = 1_796_412_900_000;
/// Runs after which a scenario gives up draining its due projects.
const MAX_RUNS: usize = 1_000;

struct Scenario {
    name: &'static str,
    projects: usize,
    /// Share of the due projects claimed before expiry, in percent.
    claimed_percent: u64,
    delete_fault_percent: u64,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario { name: "healthy", projects: 10_000, claimed_percent: 0, delete_fault_percent: 0 },
    Scenario { name: "healthy", projects: 100_000, claimed_percent: 0, delete_fault_percent: 0 },
    Scenario { name: "claims+faults", projects: 10_000, claimed_percent: 10, delete_fault_percent: 15 },
    Scenario { name: "claims+faults", projects: 100_000, claimed_percent: 10, delete_fault_percent: 15 },
];

/// Maximum and mean of one figure over the runs of a scenario.
struct Spread {
    max: u64,
    mean: f64,
}

impl Spread {
    fn of(runs: &[RunFigures], pick: impl Fn(&RunFigures) -> u64) -> Spread {
        let values: Vec<u64> = runs.iter().map(pick).collect();
        let max = values.iter().copied().max().unwrap_or(0);
        let mean = if values.is_empty() { 0.0 } else { values.iter().sum::<u64>() as f64 / values.len() as f64 };
        Spread { max, mean }
    }

    fn to_json(&self) -> Value {
        json!({"max": self.max, "mean": (self.mean * 100.0).round() / 100.0})
    }
}

struct Outcome {
    due: usize,
    runs: Vec<RunFigures>,
    drained: bool,
}

/// Schedules the scenario's projects, 1% of them due at `START`, and sweeps once a
/// minute until no index key of a due project is left.
fn simulate(scenario: &Scenario) -> Outcome {
    let clock = ManualClock::new(START - DAY_MS);
    let store = MemoryStore::new(clock.clone());
    let platform = SimulatedPlatform::new(clock.clone(), 0xBE7C)
        .with_delete_faults(scenario.delete_fault_percent, 10 * SECOND_MS);
    let mut prng = Prng::new(scenario.projects as u64);
    let due = scenario.projects / 100;

    for index in 0..scenario.projects {
        let project_id = ProjectId::parse(&format!("proj_bench{index:06}")).expect("generated ids are valid");
        let expires_at = if index < due { START - prng.below(10 * MINUTE_MS) } else { START + DAY_MS + prng.below(DAY_MS) };
        block_on(schedule_project(&store, &platform, &project_id, expires_at - DAY_MS, expires_at, true))
            .expect("MemoryStore writes succeed");
        if index < due && prng.percent(scenario.claimed_percent) {
            let keep_index_key = prng.percent(50);
            block_on(claim_project(&store, &platform, &project_id, START - DAY_MS, keep_index_key))
                .expect("MemoryStore writes succeed");
        }
    }

    let settings = sweep_settings(DEFAULT_MAX_DELETES);
    let mut runs = Vec::new();
    let mut minute = START;
    while runs.len() < MAX_RUNS {
        if !has_due_project_left(&store, START + DAY_MS) {
            return Outcome { due, runs, drained: true };
        }
        clock.set(minute.max(clock.now_ms()));
        runs.push(block_on(run_sweep(&store, &platform, &settings, &clock)));
        minute += MINUTE_MS;
    }
    Outcome { due, runs, drained: false }
}

/// Returns whether an index key earlier than `horizon` is left, the first key being the earliest.
fn has_due_project_left(store: &MemoryStore, horizon: Millis) -> bool {
    store
        .keys_with_prefix(EXPIRY_KEY_PREFIX)
        .first()
        .and_then(|key| parse_expiry_key(key))
        .is_some_and(|(due_at, _)| due_at < horizon)
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let json_path = match arguments.as_slice() {
        [] => None,
        [flag, path] if flag == "--json" => Some(path.clone()),
        _ => {
            eprintln!("usage: sweep_bench [--json PATH]");
            return ExitCode::FAILURE;
        }
    };

    println!("sweep per run: SWEEP_MAX_DELETES={DEFAULT_MAX_DELETES}, {MAX_KEYS_PER_RUN} keys examined at most");
    println!(
        "{:<14} {:>8} {:>5} {:>5} | {:>12} {:>12} {:>12} {:>12}",
        "scenario", "projects", "due", "runs", "KV reads", "KV lists", "KV writes", "upstream"
    );
    println!("{:<14} {:>8} {:>5} {:>5} | {:>12} {:>12} {:>12} {:>12}", "", "", "", "", "max / mean", "max / mean", "max / mean", "max / mean");

    let mut results = Vec::new();
    let mut all_drained = true;
    for scenario in &SCENARIOS {
        let outcome = simulate(scenario);
        all_drained &= outcome.drained;
        let reads = Spread::of(&outcome.runs, |run| run.store.gets);
        let lists = Spread::of(&outcome.runs, |run| run.store.lists);
        let writes = Spread::of(&outcome.runs, |run| run.store.puts + run.store.deletes);
        let upstream = Spread::of(&outcome.runs, |run| run.upstream_calls);
        let cell = |spread: &Spread| format!("{} / {:.1}", spread.max, spread.mean);
        println!(
            "{:<14} {:>8} {:>5} {:>5} | {:>12} {:>12} {:>12} {:>12}",
            scenario.name,
            scenario.projects,
            outcome.due,
            outcome.runs.len(),
            cell(&reads),
            cell(&lists),
            cell(&writes),
            cell(&upstream)
        );
        results.push(json!({
            "scenario": scenario.name,
            "projects": scenario.projects,
            "due": outcome.due,
            "claimed_percent_of_due": scenario.claimed_percent,
            "delete_fault_percent": scenario.delete_fault_percent,
            "runs": outcome.runs.len(),
            "drained": outcome.drained,
            "per_run": {
                "kv_reads": reads.to_json(),
                "kv_lists": lists.to_json(),
                "kv_writes": writes.to_json(),
                "upstream_calls": upstream.to_json(),
            },
        }));
    }

    if let Some(path) = json_path {
        let report = json!({
            "bench": "sweep",
            "max_deletes": DEFAULT_MAX_DELETES,
            "max_keys_per_run": MAX_KEYS_PER_RUN,
            "scenarios": results,
        });
        let path = std::path::PathBuf::from(path);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(error) = std::fs::write(&path, text + "\n") {
            eprintln!("cannot write {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    if !all_drained {
        eprintln!("a scenario still had due projects after {MAX_RUNS} runs, so the sweep does not keep up with it");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
