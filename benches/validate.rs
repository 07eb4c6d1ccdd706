//! `cargo bench --bench validate`: a whole `avpctl validate` run against
//! what `cedar-policy` itself needs to parse and validate the same policies
//! in-process.
//!
//! Options: `--policies N` (default 5000), `--runs N` (default 5).

mod common;

use std::str::FromStr;
use std::time::Instant;

use cedar_policy::{PolicySet, Schema, ValidationMode, Validator};

fn main() {
    let policies = common::arg("--policies", 5000);
    let runs = common::arg("--runs", 5);
    let generated = common::project(policies, 0, 1);
    let root = generated.dir.path();
    let root_arg = root.to_str().unwrap();

    // Baseline: read the files, parse each (ids from @id, as avpctl does),
    // parse the schema and run strict validation — all in-process.
    let (baseline, errors) = common::best_of(runs, || {
        let started = Instant::now();
        let schema_text = std::fs::read_to_string(root.join("schema.cedarschema")).unwrap();
        let (schema, _) = Schema::from_cedarschema_str(&schema_text).unwrap();
        let mut set = PolicySet::new();
        let mut files: Vec<_> = std::fs::read_dir(root.join("policies"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(file).unwrap();
            for policy in PolicySet::from_str(&text).unwrap().policies() {
                let id = cedar_policy::PolicyId::new(policy.annotation("id").unwrap());
                set.add(policy.new_id(id)).unwrap();
            }
        }
        let result = Validator::new(schema).validate(&set, ValidationMode::Strict);
        (started.elapsed(), result.validation_errors().count())
    });
    assert_eq!(errors, 0, "the generated project validates");

    let (whole, (peak, output)) = common::best_of(runs, || {
        let (elapsed, peak, output) = common::measure(&common::avpctl(), &["validate", root_arg]);
        (elapsed, (peak, output))
    });
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    let example = common::repo_example();
    let (small, _) = common::best_of(20, || {
        let (elapsed, _, output) =
            common::measure(&common::avpctl(), &["validate", example.to_str().unwrap()]);
        assert!(output.status.success());
        (elapsed, ())
    });

    println!("validate benchmark ({policies} generated policies, best of {runs})");
    println!(
        "  cedar-policy in-process parse + strict validation: {:>8.1} ms",
        baseline.as_secs_f64() * 1e3
    );
    println!(
        "  avpctl validate, whole process:                    {:>8.1} ms",
        whole.as_secs_f64() * 1e3
    );
    println!(
        "  ratio avpctl / cedar-policy:                       {:>8.2}x",
        whole.as_secs_f64() / baseline.as_secs_f64()
    );
    if let Some(peak) = peak {
        println!(
            "  avpctl peak memory:                                {:>8.1} MiB",
            peak as f64 / 1024.0
        );
    }
    println!(
        "  avpctl validate policies-example, whole process:   {:>8.1} ms (best of 20)",
        small.as_secs_f64() * 1e3
    );
}
