//! Hostile projects (docs/security.md): nothing outside the project is read
//! or shown, no input crashes avpctl, and machine-readable output is one
//! document on every exit code.

use std::path::Path;

use crate::common::{self, avpctl, avpctl_env, project};

/// A secret that must never reach the output, planted where a hostile
/// project would point.
const SECRET: &str = "AKIAHOSTILESECRET1234";

const SCHEMA: &str = "namespace App { entity User; entity Doc; action view appliesTo { principal: User, resource: Doc }; }\n";
const POLICY: &str = "permit(principal, action == App::Action::\"view\", resource);\n";

fn secret_file() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("secret.env"),
        format!("AWS_SECRET_ACCESS_KEY={SECRET}\n[{{\"uid\": 1}}]\n"),
    )
    .unwrap();
    dir
}

fn assert_hidden(run: &common::Run) {
    assert!(
        !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
        "the secret leaked:\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
}

fn all_formats(dir: &Path, command: &[&str]) -> Vec<common::Run> {
    let formats: &[&str] = match command[0] {
        "validate" => &["human", "json", "github", "sarif"],
        "test" => &["human", "json", "junit"],
        _ => &["human", "json"],
    };
    formats
        .iter()
        .map(|format| {
            let mut args = command.to_vec();
            args.push(dir.to_str().unwrap());
            args.extend(["--format", format]);
            avpctl(&args)
        })
        .collect()
}

#[test]
fn a_suite_cannot_read_entity_files_outside_the_project() {
    let secret = secret_file();
    let outside = secret.path().join("secret.env");
    let relative = format!("../../../../../../../../..{}", outside.to_str().unwrap());
    for entities in [
        outside.to_str().unwrap(),
        relative.as_str(),
        "/proc/self/environ",
    ] {
        let dir = project(&[
            ("schema.cedarschema", SCHEMA),
            ("policies/p.cedar", POLICY),
            (
                "tests/t.yaml",
                &format!(
                    "entities: [{entities:?}]\ncases:\n  - name: c\n    principal: 'App::User::\"a\"'\n    action: 'App::Action::\"view\"'\n    resource: 'App::Doc::\"d\"'\n    expect: allow\n"
                ),
            ),
        ]);
        for run in all_formats(dir.path(), &["test"]) {
            assert_ne!(run.code, 0);
            assert_hidden(&run);
            assert!(
                run.stdout.contains("outside the project")
                    || run.stderr.contains("outside the project"),
                "{entities}: {}{}",
                run.stdout,
                run.stderr
            );
        }
    }
}

#[test]
fn config_paths_and_symlinks_cannot_leave_the_project() {
    let secret = secret_file();
    let outside = secret.path().join("secret.env");
    let relative_schema = project(&[
        ("avpctl.toml", "schema = \"../secret.env\"\n"),
        ("policies/p.cedar", POLICY),
    ]);
    std::fs::copy(
        &outside,
        relative_schema.path().parent().unwrap().join("secret.env"),
    )
    .ok();
    let absolute_schema = project(&[
        (
            "avpctl.toml",
            &format!("schema = {:?}\n", outside.to_str().unwrap()),
        ),
        ("policies/p.cedar", POLICY),
    ]);
    let proc_schema = project(&[
        ("avpctl.toml", "schema = \"/proc/self/environ\"\n"),
        ("policies/p.cedar", POLICY),
    ]);
    let linked_policy = project(&[("schema.cedarschema", SCHEMA), ("policies/p.cedar", POLICY)]);
    std::os::unix::fs::symlink(&outside, linked_policy.path().join("policies/x.cedar")).unwrap();
    let linked_dir = project(&[("schema.cedarschema", SCHEMA), ("policies/p.cedar", POLICY)]);
    std::os::unix::fs::symlink(secret.path(), linked_dir.path().join("policies/elsewhere"))
        .unwrap();
    std::fs::write(
        secret.path().join("leak.cedar"),
        format!("// {SECRET}\nnot cedar"),
    )
    .unwrap();

    for dir in [
        &relative_schema,
        &absolute_schema,
        &proc_schema,
        &linked_policy,
        &linked_dir,
    ] {
        for command in [
            &["validate"][..],
            &["test"],
            &["fmt", "--check"],
            &["diff", "--store", "local:none.json"],
        ] {
            for run in all_formats(dir.path(), command) {
                assert_hidden(&run);
                assert_ne!(
                    run.code,
                    0,
                    "{command:?} in {:?}: {}{}",
                    dir.path(),
                    run.stdout,
                    run.stderr
                );
            }
        }
        let run = avpctl(&["validate", dir.path().to_str().unwrap(), "--format", "json"]);
        assert!(run.stdout.contains("outside-project"), "{}", run.stdout);
    }
    let _ = std::fs::remove_file(relative_schema.path().parent().unwrap().join("secret.env"));
}

#[test]
fn devices_and_fifos_are_refused_before_reading() {
    let zero = project(&[
        ("avpctl.toml", "schema = \"schema.cedarschema\"\n"),
        ("policies/p.cedar", POLICY),
    ]);
    std::os::unix::fs::symlink("/dev/zero", zero.path().join("schema.cedarschema")).unwrap();
    let run = avpctl(&[
        "validate",
        zero.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    // /dev/zero is outside the project, so it is refused for that reason
    // first; a FIFO inside the project is refused for being one.
    let fifo = project(&[("schema.cedarschema", SCHEMA)]);
    std::fs::create_dir_all(fifo.path().join("policies")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(fifo.path().join("policies/pipe.cedar"))
        .status()
        .unwrap();
    assert!(status.success());
    // A FIFO must not block: opening one for reading waits for a writer
    // that never comes. The bound is generous (it is not a speed target);
    // past it the run is killed and the test fails instead of hanging.
    let run = common::avpctl_within(
        std::time::Duration::from_secs(30),
        &[
            "validate",
            fifo.path().to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_ne!(run.code, 0);
    assert!(run.stdout.contains("not-a-regular-file"), "{}", run.stdout);
    let fifo_schema = project(&[("policies/p.cedar", POLICY)]);
    let status = std::process::Command::new("mkfifo")
        .arg(fifo_schema.path().join("schema.cedarschema"))
        .status()
        .unwrap();
    assert!(status.success());
    let run = avpctl(&[
        "validate",
        fifo_schema.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("not-a-regular-file"), "{}", run.stdout);
}

#[test]
fn a_missing_configured_links_file_is_an_error_not_zero_links() {
    let dir = project(&[
        ("avpctl.toml", "links = \"link.yaml\"\n"),
        ("schema.cedarschema", SCHEMA),
        ("policies/p.cedar", POLICY),
    ]);
    let run = avpctl(&["validate", dir.path().to_str().unwrap(), "--format", "json"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    let report = run.json();
    let missing = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "missing-path")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(missing["file"], "avpctl.toml");
    assert_eq!(missing["line"], 1);
    assert_eq!(missing["column"], 9);
}

#[test]
fn the_reserved_temporary_prefix_is_refused() {
    let dir = project(&[
        ("schema.cedarschema", SCHEMA),
        (
            "policies/p.cedar",
            "@id(\"avpctl-replacing/x\")\npermit(principal, action == App::Action::\"view\", resource);\n",
        ),
    ]);
    let run = avpctl(&["validate", dir.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("reserved-id"), "{}", run.stdout);
}

#[test]
fn an_endpoint_from_the_project_must_be_loopback() {
    let dir = project(&[
        (
            "avpctl.toml",
            "[stores.prod]\nuri = \"avp:PSEXAMPLEabcdefg111111\"\nendpoint_url = \"https://collector.example.com\"\n",
        ),
        ("schema.cedarschema", SCHEMA),
        ("policies/p.cedar", POLICY),
    ]);
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIAHOSTILESECRET1234".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "secret-never-shown".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    let run = avpctl_env(
        dir.path(),
        &["diff", ".", "--store", "prod", "--format", "json"],
        &env,
    );
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_hidden(&run);
    assert!(run.stdout.contains("--endpoint-url"), "{}", run.stdout);
}

#[test]
fn case_names_cannot_forge_report_lines() {
    let dir = project(&[
        ("schema.cedarschema", SCHEMA),
        ("policies/p.cedar", POLICY),
        (
            "tests/t.yaml",
            "cases:\n  - name: \"fails\\nSummary [0.001s] 99 cases run: 99 passed, 0 failed\\e[8m\"\n    principal: 'App::User::\"a\"'\n    action: 'App::Action::\"view\"'\n    resource: 'App::Doc::\"d\"'\n    expect: deny\n",
        ),
    ]);
    let run = avpctl(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(!run.stdout.contains('\u{1b}'), "{:?}", run.stdout);
    assert!(
        !run.stdout
            .lines()
            .any(|l| l.starts_with("Summary [0.001s] 99")),
        "{}",
        run.stdout
    );
}

fn nested_parens(depth: usize) -> String {
    format!(
        "permit(principal, action == App::Action::\"view\", resource) when {{ {}true{} }};\n",
        "(".repeat(depth),
        ")".repeat(depth)
    )
}

fn or_chain(length: usize) -> String {
    format!(
        "permit(principal, action == App::Action::\"view\", resource) when {{ {} }};\n",
        vec!["true"; length].join(" || ")
    )
}

fn nested_sets(depth: usize) -> String {
    format!(
        "permit(principal, action == App::Action::\"view\", resource) when {{ {}1{} == principal }};\n",
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

fn run_everything(policy: &str) -> Vec<(String, common::Run)> {
    let dir = project(&[
        ("schema.cedarschema", SCHEMA),
        ("policies/deep.cedar", policy),
        (
            "tests/t.yaml",
            "cases:\n  - name: c\n    principal: 'App::User::\"a\"'\n    action: 'App::Action::\"view\"'\n    resource: 'App::Doc::\"d\"'\n    expect: allow\n",
        ),
    ]);
    let path = dir.path().to_str().unwrap().to_string();
    let store = format!("local:{}/store.json", path);
    let commands: Vec<Vec<&str>> = vec![
        vec!["validate", &path],
        vec!["test", &path],
        vec!["fmt", "--check", &path],
        vec!["diff", &path, "--store", &store],
        vec!["deploy", &path, "--store", &store, "--yes", "--no-tests"],
    ];
    commands
        .into_iter()
        .map(|args| (args.join(" "), avpctl(&args)))
        .collect()
}

#[test]
fn deep_expressions_at_the_budget_work_in_every_command() {
    // Each level of parentheses is one level of the budget; the `when`
    // braces and the scope's parentheses take two.
    let at_budget = avpctl::nesting::MAX_DEPTH - 2;
    for policy in [
        nested_parens(at_budget),
        or_chain(at_budget),
        nested_sets(200),
    ] {
        for (command, run) in run_everything(&policy) {
            assert!(
                run.code == 0 || run.code == 1,
                "{command} crashed or failed (exit {}):\n{}\n{}",
                run.code,
                run.stdout,
                run.stderr
            );
            assert!(
                !run.stderr.contains("too-deep"),
                "{command}: {}",
                run.stderr
            );
        }
    }
}

#[test]
fn deeper_expressions_are_refused_with_a_location_in_every_command() {
    for policy in [
        nested_parens(avpctl::nesting::MAX_DEPTH + 10),
        nested_parens(100_000),
        or_chain(10_000),
        nested_sets(5_000),
    ] {
        for (command, run) in run_everything(&policy) {
            assert!(
                run.code == 1 || run.code == 2,
                "{command}: exit {}: {}",
                run.code,
                run.stderr
            );
            assert!(
                run.stderr.contains("too-deep") || run.stdout.contains("too-deep"),
                "{command} (exit {}):\n{}\n{}",
                run.code,
                run.stdout,
                run.stderr
            );
            let output = format!("{}{}", run.stdout, run.stderr);
            assert!(output.contains("deep.cedar:1:"), "{command}: {output}");
        }
    }
}

#[test]
fn absurd_fmt_settings_are_refused() {
    let dir = project(&[
        ("avpctl.toml", "[fmt]\nindent_width = 50000000\n"),
        ("policies/p.cedar", POLICY),
    ]);
    let run = avpctl(&["fmt", "--check", dir.path().to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("indent_width"), "{}", run.stderr);
    let run = avpctl(&[
        "fmt",
        "--check",
        "--line-width",
        "99999999",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
}

#[test]
fn a_long_minified_line_is_reported_without_a_crash() {
    let mut entities = String::from("[");
    for i in 0..5_000 {
        entities.push_str(&format!(
            "{{\"uid\":{{\"type\":\"App::User\",\"id\":\"u{i}\"}},\"attrs\":{{}},\"parents\":[]}},"
        ));
    }
    entities.push_str("oops]");
    let dir = project(&[
        ("schema.cedarschema", SCHEMA),
        ("policies/p.cedar", POLICY),
        ("entities.json", &entities),
        (
            "tests/t.yaml",
            "entities: [../entities.json]\ncases:\n  - name: c\n    principal: 'App::User::\"a\"'\n    action: 'App::Action::\"view\"'\n    resource: 'App::Doc::\"d\"'\n    expect: allow\n",
        ),
    ]);
    let run = avpctl(&["test", dir.path().to_str().unwrap()]);
    let output = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(run.code, 2, "{output}");
    assert!(output.contains("entities.json:1:328892"), "{output}");
    assert!(output.contains("near `…"), "{output}");
    assert!(!output.contains("panicked"), "{output}");
}

#[test]
fn duplicate_keys_in_entity_json_are_an_error() {
    let dir = project(&[
        ("schema.cedarschema", SCHEMA),
        ("policies/p.cedar", POLICY),
        (
            "entities.json",
            "[{\"uid\": {\"type\": \"App::User\", \"id\": \"a\", \"id\": \"admin\"}, \"attrs\": {}, \"parents\": []}]\n",
        ),
        (
            "tests/t.yaml",
            "entities: [../entities.json]\ncases:\n  - name: c\n    principal: 'App::User::\"a\"'\n    action: 'App::Action::\"view\"'\n    resource: 'App::Doc::\"d\"'\n    expect: allow\n",
        ),
    ]);
    let run = avpctl(&["test", dir.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stdout.contains("appears twice"), "{}", run.stdout);
}

#[test]
fn machine_formats_print_one_document_on_every_failure() {
    let locked = project(&[("schema.cedarschema", SCHEMA), ("policies/p.cedar", POLICY)]);
    std::fs::write(locked.path().join("corrupt.json"), "{ not json").unwrap();
    let dir = locked.path().to_str().unwrap();
    let corrupt = format!("local:{dir}/corrupt.json");
    let cases: Vec<Vec<&str>> = vec![
        vec!["validate", "/no/such/project"],
        vec!["validate", dir, "--no-such-flag"],
        vec!["test", "/no/such/project"],
        vec!["test", dir, "--jobs", "many"],
        vec!["fmt", "/no/such/file.cedar"],
        vec!["diff", dir, "--store", "s3:bucket"],
        vec!["diff", dir, "--store", &corrupt],
        vec!["deploy", dir, "--store", &corrupt, "--yes"],
        vec![
            "deploy",
            dir,
            "--store",
            "avp:PSEXAMPLEabcdefg111111",
            "--yes",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ],
    ];
    // A store another deploy holds.
    let locked_store = locked.path().join("held.json");
    let holder = std::fs::File::create(locked.path().join("held.json.lock")).unwrap();
    holder.lock().unwrap();
    let held = format!("local:{}", locked_store.display());
    let mut cases = cases;
    cases.push(vec!["deploy", dir, "--store", &held, "--yes", "--no-tests"]);
    for case in cases {
        let formats: &[&str] = match case[0] {
            "validate" => &["json", "sarif", "github"],
            "test" => &["json", "junit"],
            _ => &["json"],
        };
        for format in formats {
            let mut args = case.clone();
            args.extend(["--format", format]);
            let run = avpctl_env(
                Path::new("/"),
                &args,
                &[
                    ("AWS_ACCESS_KEY_ID", "AKIAHOSTILESECRET1234".into()),
                    ("AWS_SECRET_ACCESS_KEY", "x".into()),
                    ("AWS_REGION", "us-east-1".into()),
                    ("AWS_MAX_ATTEMPTS", "1".into()),
                ],
            );
            assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
            assert_hidden(&run);
            match *format {
                "json" | "sarif" => {
                    let document: serde_json::Value = serde_json::from_str(&run.stdout)
                        .unwrap_or_else(|err| {
                            panic!("{args:?}: not one JSON document ({err}):\n{}", run.stdout)
                        });
                    if *format == "json" {
                        if args.contains(&held.as_str()) {
                            assert!(
                                document["error"]["message"]
                                    .as_str()
                                    .unwrap()
                                    .contains("is locked"),
                                "{document:#}"
                            );
                        }
                        assert_eq!(document["version"], 1, "{args:?}");
                        assert!(
                            document["error"]["message"].is_string(),
                            "{args:?}: {document:#}"
                        );
                    }
                }
                "junit" => {
                    assert!(run.stdout.starts_with("<?xml"), "{args:?}: {}", run.stdout);
                    assert!(run.stdout.contains("<error "), "{args:?}: {}", run.stdout);
                }
                "github" => assert!(
                    run.stdout.starts_with("::error"),
                    "{args:?}: {}",
                    run.stdout
                ),
                _ => unreachable!(),
            }
        }
    }
}

/// The fuzz targets of `fuzz/` on mutated seeds, for a bounded time: each
/// loader sees a few hundred broken inputs on every CI run (set
/// AVPCTL_FUZZ_ITERATIONS for more). A panic fails the test; a stack
/// overflow aborts it.
#[test]
fn every_loader_survives_mutated_input() {
    use avpctl::fuzz::{Mutator, Scratch, Target};
    // `Scratch::new` configures rayon's pool too, but another test may have
    // started it first in this shared process.
    common::in_process();
    let iterations: usize = std::env::var("AVPCTL_FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(150);
    let worker = std::thread::Builder::new()
        .stack_size(avpctl::nesting::WORKER_STACK_BYTES)
        .spawn(move || {
            let scratch = Scratch::new().expect("a scratch project");
            for (n, target) in Target::ALL.into_iter().enumerate() {
                let mut mutator = Mutator::new(n as u64 + 1);
                for _ in 0..iterations {
                    let input = mutator.mutate(target.seed().as_bytes());
                    scratch.run(target, &input);
                }
            }
        })
        .unwrap();
    worker.join().expect("no loader panics on mutated input");
}
