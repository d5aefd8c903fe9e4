//! Runs after every other end-to-end test (`cargo xtask test` starts it last): scans
//! everything both workers logged during the run for the configured secrets, for every
//! access token and authorization code the platform issued, and for connection strings.

mod support;

use local_platform::PlatformConfig;
use serde_json::Value;
use support::{client, Stack};

fn worker_logs(stack: &Stack) -> Vec<(String, String)> {
    ["create-db-worker", "claim-db-worker"]
        .iter()
        .map(|worker| {
            let path = stack.log_dir.join(format!("{worker}.log"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
            (worker.to_string(), text)
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn worker_logs_hold_no_secrets() {
    let stack = Stack::from_env();
    let defaults = PlatformConfig::default();
    let issued: Value = client()
        .get(format!("{}/_emulator/issued-secrets", stack.platform_url))
        .send()
        .await
        .expect("issued secrets")
        .json()
        .await
        .expect("issued secrets JSON");
    let mut secrets: Vec<String> = vec![defaults.integration_token.clone(), defaults.client_secret.clone()];
    secrets.extend(issued["issued"].as_array().into_iter().flatten().filter_map(|secret| secret.as_str().map(str::to_owned)));

    for (worker, text) in worker_logs(&stack) {
        // The scan only means something if the workers logged the requests of the run.
        assert!(text.contains(r#""event":"request""#), "{worker} logged no request lines");
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{worker}'s log contains a secret of {} characters", secret.len());
        }
        assert!(!text.contains("postgres://"), "{worker}'s log contains a connection string");
    }
}
