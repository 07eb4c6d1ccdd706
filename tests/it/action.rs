//! The CI pieces: the GitHub Action's run step, run locally the way a
//! runner runs it (scripts/action/test.sh, with GITHUB_STEP_SUMMARY,
//! GITHUB_OUTPUT and GITHUB_WORKSPACE set, against this build), and the
//! Action, release workflow and starter workflow agreeing on their inputs.

use crate::common::repo;

#[test]
fn the_actions_run_step_writes_the_summary_annotations_and_exit_code_as_a_runner_sees_them() {
    let output = std::process::Command::new("bash")
        .arg(repo().join("scripts/action/test.sh"))
        .arg(env!("CARGO_BIN_EXE_avpctl"))
        .current_dir(repo())
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(", 0 failed"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

fn yaml(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_action_declares_its_inputs_and_runs_the_tested_scripts() {
    let action = yaml("action.yml");
    for input in ["command", "directory", "version", "install-cvc5", "summary"] {
        assert!(
            action["inputs"][input].is_object(),
            "input {input}: {action:#}"
        );
    }
    assert_eq!(action["runs"]["using"], "composite");
    let steps = action["runs"]["steps"].as_array().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    for script in ["scripts/action/install.sh", "scripts/action/run.sh"] {
        assert!(
            runs.iter().any(|r| r.contains(script)),
            "{script} in {runs:#?}"
        );
        assert!(repo().join(script).is_file(), "{script}");
    }
}

#[test]
fn the_release_workflow_builds_every_promised_target_with_checksums() {
    let text = std::fs::read_to_string(repo().join(".github/workflows/release.yml")).unwrap();
    for target in [
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
        "x86_64-pc-windows-msvc",
    ] {
        assert!(text.contains(target), "{target}");
    }
    assert!(text.contains("SHA256SUMS"), "a combined checksum file");
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    assert!(cargo.contains("[package.metadata.binstall]"));
}

#[test]
fn the_starter_workflow_of_init_uses_the_actions_inputs() {
    let out = tempfile::tempdir().unwrap();
    let run = crate::common::avpctl_in(out.path(), &["init", "p"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let text =
        std::fs::read_to_string(out.path().join("p/.github/workflows/policies.yml")).unwrap();
    let workflow: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let action = yaml("action.yml");
    for step in workflow["jobs"]["check"]["steps"].as_array().unwrap() {
        let Some(with) = step["with"].as_object() else {
            continue;
        };
        for key in with.keys() {
            assert!(
                action["inputs"][key].is_object(),
                "the Action has no input {key}"
            );
        }
    }
}
