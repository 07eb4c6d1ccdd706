//! Cedar's own test data (../shared/conformance): every case must give
//! exactly the decision, determining policies and errors recorded there, and
//! every case must fail once its expectation is flipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use avpctl::testing::{Options, run_project};

use crate::common::{self, copy_dir};
use rayon::prelude::*;

pub(crate) fn conformance_dir() -> PathBuf {
    let dir = std::env::var_os("AVPCTL_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance"));
    assert!(
        dir.join("expected.jsonl").is_file(),
        "conformance data not found at {} (set AVPCTL_CONFORMANCE)",
        dir.display()
    );
    dir
}

#[derive(Debug, PartialEq, Eq, Clone)]
struct Expected {
    expect: String,
    reasons: Option<Vec<String>>,
    errors: Vec<String>,
}

fn expectations(dir: &Path) -> BTreeMap<(String, String, String), Expected> {
    let text = std::fs::read_to_string(dir.join("expected.jsonl")).unwrap();
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let list = |key: &str| {
                v.get(key).and_then(|x| x.as_array()).map(|a| {
                    let mut ids: Vec<String> =
                        a.iter().map(|s| s.as_str().unwrap().to_string()).collect();
                    ids.sort();
                    ids
                })
            };
            (
                (
                    v["dir"].as_str().unwrap().to_string(),
                    v["file"].as_str().unwrap().to_string(),
                    v["name"].as_str().unwrap().to_string(),
                ),
                Expected {
                    expect: v["expect"].as_str().unwrap().to_string(),
                    reasons: list("reasons"),
                    errors: list("errors").unwrap_or_default(),
                },
            )
        })
        .collect()
}

fn projects(dir: &Path) -> Vec<PathBuf> {
    let mut projects: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    projects.sort();
    projects
}

/// file, name, decision, reasons, errors, failures
type CaseRow = (
    String,
    String,
    String,
    Vec<String>,
    Vec<String>,
    Vec<String>,
);

#[test]
fn every_conformance_case_gives_cedars_recorded_answer() {
    common::in_process();
    let dir = conformance_dir();
    let expected = expectations(&dir);
    let projects = projects(&dir);
    assert_eq!(projects.len(), 529);
    let results: Vec<(String, Vec<CaseRow>)> = projects
        .par_iter()
        .map(|project| {
            let name = project.file_name().unwrap().to_string_lossy().to_string();
            let (_, report) =
                run_project(project, &Options::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                report.diagnostics.is_empty(),
                "{name}: {:?}",
                report.diagnostics
            );
            let cases = report
                .outcomes
                .iter()
                .map(|o| {
                    (
                        report.suite_file(o).display(),
                        o.check.name.clone(),
                        o.decision
                            .map(|d| avpctl::text::decision_name(d).to_string())
                            .unwrap_or_default(),
                        o.reasons.clone(),
                        o.errors.iter().map(|e| e.policy.clone()).collect(),
                        o.failures.clone(),
                    )
                })
                .collect();
            (name, cases)
        })
        .collect();
    let mut seen = 0;
    let mut problems = Vec::new();
    for (project, cases) in results {
        for (file, name, decision, reasons, errors, failures) in cases {
            seen += 1;
            if !failures.is_empty() {
                problems.push(format!("{project}/{file} › {name}: {failures:?}"));
            }
            let want = expected
                .get(&(project.clone(), file.clone(), name.clone()))
                .unwrap_or_else(|| panic!("no expectation for {project}/{file} › {name}"));
            if decision != want.expect
                || want.reasons.as_ref().is_some_and(|r| r != &reasons)
                || errors != want.errors
            {
                problems.push(format!("{project}/{file} › {name}: got {decision} {reasons:?} {errors:?}, want {want:?}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {seen} cases differ:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(seen, expected.len(), "every recorded case ran");
}

fn flip_expectations(tests: &Path) {
    for entry in std::fs::read_dir(tests).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let flipped: String = text
            .lines()
            .map(|line| match line.trim_start() {
                "expect: allow" => line.replace("expect: allow", "expect: deny"),
                "expect: deny" => line.replace("expect: deny", "expect: allow"),
                _ => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&path, flipped).unwrap();
    }
}

#[test]
fn every_conformance_case_fails_when_its_expectation_is_flipped() {
    common::in_process();
    let dir = conformance_dir();
    let scratch = tempfile::tempdir().unwrap();
    let projects = projects(&dir);
    let not_failing: Vec<String> = projects
        .par_iter()
        .flat_map(|project| {
            let copy = scratch.path().join(project.file_name().unwrap());
            copy_dir(project, &copy);
            flip_expectations(&copy.join("tests"));
            let (_, report) = run_project(&copy, &Options::default()).unwrap();
            assert!(!report.outcomes.is_empty());
            report
                .outcomes
                .iter()
                .filter(|o| o.passed())
                .map(|o| format!("{} › {}", project.display(), o.check.name))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        not_failing.is_empty(),
        "cases that still pass with a flipped expect:\n{}",
        not_failing.join("\n")
    );
}
