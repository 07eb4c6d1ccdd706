//! `cargo bench --bench deploy`: on a generated project of 5,000 policies,
//! the first deploy to the embedded store, then `diff` and `deploy` of 50
//! changed policies (30 changed conditions, 10 added, 10 removed), with the
//! number of store operations each makes.
//!
//! Options: `--policies N` (5000), `--changes N` (50).

mod common;

use std::time::Instant;

fn run(args: &[&str]) -> (std::time::Duration, serde_json::Value) {
    let started = Instant::now();
    let output = std::process::Command::new(common::avpctl())
        .args(args)
        .output()
        .expect("avpctl runs");
    let elapsed = started.elapsed();
    assert!(
        output.status.success() || output.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        elapsed,
        serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null),
    )
}

fn writes(report: &serde_json::Value) -> (usize, serde_json::Value) {
    let calls = &report["stores"][0]["result"]["calls"];
    let total = calls.as_object().map_or(0, |c| {
        c.values().filter_map(|v| v.as_u64()).sum::<u64>() as usize
    });
    (total, calls.clone())
}

fn main() {
    let policies = common::arg("--policies", 5000);
    let changes = common::arg("--changes", 50);
    let generated = common::project(policies, 0, 1);
    let root = generated.dir.path();
    let root_arg = root.to_str().unwrap();
    let store = format!("local:{}", root.join("store.json").display());

    let (first, report) = run(&[
        "deploy", root_arg, "--store", &store, "--yes", "--format", "json",
    ]);
    let (first_writes, _) = writes(&report);

    // 30% changed conditions, 20% added, 20% removed (of `changes`).
    let mut rng = common::Rng(42);
    let changed = changes * 6 / 10;
    let added = changes * 2 / 10;
    let removed = changes - changed - added;
    for i in 0..changed {
        let path = root.join(format!("policies/p{:05}.cedar", i * (policies / changes)));
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("when {", "when { context.mfa && ")).unwrap();
    }
    for i in 0..added {
        std::fs::write(
            root.join(format!("policies/new{i:03}.cedar")),
            common::policy(&mut rng, policies + i),
        )
        .unwrap();
    }
    for i in 0..removed {
        std::fs::remove_file(root.join(format!(
            "policies/p{:05}.cedar",
            i * (policies / changes) + 1
        )))
        .unwrap();
    }

    let (diff, diff_report) = run(&["diff", root_arg, "--store", &store, "--format", "json"]);
    let listed = diff_report["changes"].as_array().map_or(0, Vec::len);
    let (deploy, report) = run(&[
        "deploy", root_arg, "--store", &store, "--yes", "--format", "json",
    ]);
    let (deploy_writes, calls) = writes(&report);
    let (again, _) = run(&[
        "deploy", root_arg, "--store", &store, "--yes", "--format", "json",
    ]);

    println!(
        "deploy benchmark ({policies} policies; {changes} changed: {changed} conditions, {added} added, {removed} removed)"
    );
    println!(
        "  first deploy (empty store):       {:>8.2} s  {first_writes} store operations",
        first.as_secs_f64()
    );
    println!(
        "  diff, whole process:              {:>8.2} s  {listed} changes listed",
        diff.as_secs_f64()
    );
    println!(
        "  deploy of the changes:            {:>8.2} s  {deploy_writes} store operations {calls}",
        deploy.as_secs_f64()
    );
    println!(
        "  deploy again (nothing to do):     {:>8.2} s",
        again.as_secs_f64()
    );
}
