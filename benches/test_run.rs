//! `cargo bench --bench test_run`: a whole `avpctl test` run against a
//! minimal in-process loop of Cedar's `Authorizer::is_authorized` over the
//! same cases (loading included), and against the official
//! `cedar run-tests` on a sample of them.
//!
//! Options: `--policies N` (1000), `--cases N` (100000), `--per-suite N`
//! (1000), `--sample N` (20, cases given to `cedar run-tests`), `--keep`
//! (keep the generated project and print its path).
//! `cedar` is looked up in $CEDAR, then ~/.cache/avpctl-tools, then PATH;
//! without it that comparison is skipped (install it with
//! `cargo install cedar-policy-cli --version 4.14.1`).

mod common;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request, Schema,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Suite {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    principal: String,
    action: String,
    resource: String,
    context: serde_json::Value,
}

/// The simplest correct test loop a team would write with cedar-policy:
/// load everything, then `is_authorized` on the whole set for each case;
/// with `parallel`, the suites are read and the cases decided on all cores
/// (rayon), the baseline issue 14 measures against.
fn in_process_loop(root: &Path, parallel: bool) -> (Duration, Vec<Decision>) {
    use rayon::prelude::*;
    let started = Instant::now();
    let (schema, _) = Schema::from_cedarschema_str(
        &std::fs::read_to_string(root.join("schema.cedarschema")).unwrap(),
    )
    .unwrap();
    let mut policies = PolicySet::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        for policy in PolicySet::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap()
            .policies()
        {
            let id = cedar_policy::PolicyId::new(policy.annotation("id").unwrap());
            policies.add(policy.new_id(id)).unwrap();
        }
    }
    let entities_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("entities.json")).unwrap())
            .unwrap();
    let entities = Entities::from_json_value(entities_json, Some(&schema)).unwrap();
    let authorizer = Authorizer::new();
    let mut suites: Vec<PathBuf> = std::fs::read_dir(root.join("tests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    suites.sort();
    let read = |suite: &PathBuf| -> Suite {
        serde_saphyr::from_str(&std::fs::read_to_string(suite).unwrap()).unwrap()
    };
    let decide = |case: Case| {
        let action = EntityUid::from_str(&case.action).unwrap();
        let context = Context::from_json_value(case.context, Some((&schema, &action))).unwrap();
        let request = Request::new(
            EntityUid::from_str(&case.principal).unwrap(),
            action,
            EntityUid::from_str(&case.resource).unwrap(),
            context,
            Some(&schema),
        )
        .unwrap();
        authorizer
            .is_authorized(&request, &policies, &entities)
            .decision()
    };
    let decisions: Vec<Decision> = if parallel {
        let cases: Vec<Case> = suites.par_iter().flat_map_iter(|s| read(s).cases).collect();
        cases.into_par_iter().map(decide).collect()
    } else {
        suites
            .iter()
            .flat_map(|s| read(s).cases)
            .map(decide)
            .collect()
    };
    (started.elapsed(), decisions)
}

/// Times `cedar run-tests` on the first `sample` cases, in its own format.
fn cedar_run_tests(
    cedar: &Path,
    root: &Path,
    generated: &common::Generated,
    decisions: &[Decision],
    sample: usize,
) -> (Duration, usize) {
    let all_policies: String = {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("policies"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect()
    };
    std::fs::write(root.join("all.cedar"), all_policies).unwrap();
    let tests: Vec<serde_json::Value> = generated.cases[..sample]
        .iter()
        .zip(decisions)
        .enumerate()
        .map(|(i, (case, decision))| {
            serde_json::json!({
                "name": format!("case {i}"),
                "request": {
                    "principal": format!("Bench::User::\"u{}\"", case.user),
                    "action": format!("Bench::Action::\"a{}\"", case.action),
                    "resource": format!("Bench::Doc::\"d{}\"", case.doc),
                    "context": {"level": case.level, "mfa": case.mfa},
                },
                "entities": "entities.json",
                "decision": if *decision == Decision::Allow { "allow" } else { "deny" },
                "reason": [],
                "num_errors": 0,
            })
        })
        .collect();
    std::fs::write(
        root.join("cedar-tests.json"),
        serde_json::to_string(&tests).unwrap(),
    )
    .unwrap();
    let started = Instant::now();
    let tests_file = root.join("cedar-tests.json");
    let output = std::process::Command::new(cedar)
        .current_dir(root)
        .args([
            "run-tests",
            "--policies",
            "all.cedar",
            "--schema",
            "schema.cedarschema",
            "--tests",
        ])
        .arg(&tests_file)
        .output()
        .expect("cedar runs");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let passed = stdout.lines().filter(|l| l.ends_with("... ok")).count();
    if passed < sample {
        eprintln!("cedar run-tests did not pass every case; its output begins:");
        for line in stdout.lines().take(12) {
            eprintln!("  {line}");
        }
    }
    (elapsed, passed)
}

fn main() {
    let policies = common::arg("--policies", 1000);
    let cases = common::arg("--cases", 100_000);
    let per_suite = common::arg("--per-suite", 1000);
    let sample = common::arg("--sample", 20).min(cases);
    let generated = common::project(policies, cases, per_suite);
    let root = generated.dir.path();

    let (baseline, decisions) = in_process_loop(root, false);
    let (parallel, parallel_decisions) = in_process_loop(root, true);
    assert_eq!(decisions, parallel_decisions, "both loops decide alike");
    // Write the real decisions as expectations, so the avpctl run below is
    // a passing suite doing all of its work.
    common::write_suites(root, &generated.cases, per_suite, &|i| {
        if decisions[i] == Decision::Allow {
            "allow"
        } else {
            "deny"
        }
    });
    let allowed = decisions.iter().filter(|d| **d == Decision::Allow).count();

    let (whole, peak, output) = common::measure(
        &common::avpctl(),
        &["test", root.to_str().unwrap(), "--format", "json"],
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("avpctl prints JSON");
    assert_eq!(
        report["summary"]["passed"].as_u64(),
        Some(cases as u64),
        "every case passes: {}",
        report["summary"]
    );

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "test benchmark ({policies} policies, {cases} cases in suites of {per_suite}, {allowed} allowed, {threads} cores)"
    );
    println!(
        "  in-process is_authorized loop (loading included): {:>9.2} s  ({:.3} ms per case)",
        baseline.as_secs_f64(),
        baseline.as_secs_f64() * 1e3 / cases as f64
    );
    println!(
        "  avpctl test, whole process:                        {:>9.2} s  ({:.3} ms per case)",
        whole.as_secs_f64(),
        whole.as_secs_f64() * 1e3 / cases as f64
    );
    println!(
        "  speed-up over the in-process loop:                 {:>9.1}x",
        baseline.as_secs_f64() / whole.as_secs_f64()
    );
    println!(
        "  the loop on all cores (loading included):          {:>9.2} s",
        parallel.as_secs_f64()
    );
    println!(
        "  avpctl / the loop on all cores:                    {:>9.3}x  (issue 14's target: at most 0.05x)",
        whole.as_secs_f64() / parallel.as_secs_f64()
    );
    if let Some(peak) = peak {
        println!(
            "  avpctl peak memory:                                {:>9.1} MiB",
            peak as f64 / 1024.0
        );
    }
    if std::env::args().any(|a| a == "--keep") {
        let kept = generated.dir.keep();
        println!("  project kept at {}", kept.display());
        return;
    }
    match common::cedar_cli() {
        Some(cedar) => {
            let (elapsed, passed) = cedar_run_tests(&cedar, root, &generated, &decisions, sample);
            println!(
                "  cedar run-tests on {sample} cases:                   {:>9.2} s  ({:.1} ms per case, {passed} passed)",
                elapsed.as_secs_f64(),
                elapsed.as_secs_f64() * 1e3 / sample as f64
            );
        }
        None => println!("  cedar run-tests: skipped (no `cedar` binary; see this file's header)"),
    }
}
