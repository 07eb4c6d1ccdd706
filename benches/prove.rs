//! `cargo bench --bench prove`: `avpctl diff --prove` on the example (one
//! condition removed) and on a generated project of 1,000 policies with
//! 1, 10 and 100 changed policies: time in total and per request
//! environment. Needs cvc5 (scripts/tools.sh installs it).
//!
//! Options: `--policies N` (1000).

mod common;

use std::time::Instant;

fn prove(new: &str, old: &str) -> (f64, serde_json::Value) {
    let started = Instant::now();
    let output = std::process::Command::new(common::avpctl())
        .args(["diff", new, "--against", old, "--prove", "--format", "json"])
        .output()
        .expect("avpctl runs");
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        elapsed,
        serde_json::from_slice(&output.stdout).expect("JSON"),
    )
}

fn describe(label: &str, elapsed: f64, report: &serde_json::Value) {
    let envs = report["proof"]["envs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let solved: Vec<&serde_json::Value> = envs.iter().filter(|e| e["solved"] == true).collect();
    let slowest = solved
        .iter()
        .map(|e| e["seconds"].as_f64().unwrap_or(0.0))
        .fold(0.0, f64::max);
    let mean = if solved.is_empty() {
        0.0
    } else {
        solved
            .iter()
            .map(|e| e["seconds"].as_f64().unwrap_or(0.0))
            .sum::<f64>()
            / solved.len() as f64
    };
    let widen = envs
        .iter()
        .filter(|e| e["verdict"] == "widens" || e["verdict"] == "changes both ways")
        .count();
    println!(
        "  {label:<34} {elapsed:>7.2} s total; {} envs, {} solved (mean {mean:.2} s, slowest {slowest:.2} s), {widen} widen or both",
        envs.len(),
        solved.len()
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn main() {
    if std::process::Command::new("cvc5")
        .arg("--version")
        .output()
        .is_err()
        && std::env::var_os("CVC5").is_none()
    {
        println!("prove benchmark: skipped, cvc5 is not installed");
        return;
    }
    let policies = common::arg("--policies", 1000);
    println!(
        "prove benchmark (cvc5 {})",
        String::from_utf8_lossy(
            &std::process::Command::new("cvc5")
                .arg("--version")
                .output()
                .map(|o| o.stdout)
                .unwrap_or_default()
        )
        .lines()
        .next()
        .unwrap_or("?")
    );

    let example = common::repo_example();
    let changed = tempfile::tempdir().unwrap();
    copy_dir(&example, changed.path());
    let path = changed.path().join("policies/finance-approval-leads.cedar");
    std::fs::write(
        &path,
        std::fs::read_to_string(&path)
            .unwrap()
            .replace("context.mfa_present &&", ""),
    )
    .unwrap();
    let (elapsed, report) = prove(changed.path().to_str().unwrap(), example.to_str().unwrap());
    describe("example, MFA condition removed", elapsed, &report);

    let old = common::project(policies, 0, 1);
    let (elapsed, report) = prove(
        old.dir.path().to_str().unwrap(),
        old.dir.path().to_str().unwrap(),
    );
    describe(&format!("{policies} policies, identical"), elapsed, &report);
    for changes in [1, 10, 100] {
        let new = tempfile::tempdir().unwrap();
        copy_dir(old.dir.path(), new.path());
        for i in 0..changes {
            let file = new
                .path()
                .join(format!("policies/p{:05}.cedar", i * (policies / changes)));
            let text = std::fs::read_to_string(&file).unwrap();
            // Relax one bound of each changed policy (or drop a condition).
            let relaxed = text
                .replace("principal.level >= ", "principal.level >= -1 + ")
                .replace("context.mfa && ", "");
            std::fs::write(&file, relaxed).unwrap();
        }
        let (elapsed, report) = prove(
            new.path().to_str().unwrap(),
            old.dir.path().to_str().unwrap(),
        );
        describe(
            &format!("{policies} policies, {changes} changed"),
            elapsed,
            &report,
        );
    }
}
