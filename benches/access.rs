//! `cargo bench --bench access`: `avpctl access` and `diff --impact` on the
//! generator's document-SaaS shape (benches/common), at the sizes of
//! issue 14's targets:
//! - "who can A on R" over 10,000 principals;
//! - "what can P do" over 100,000 resources × 5 actions (a project of the
//!   same shape with 5 actions, the generator's `project_with`);
//! - `diff --impact` over 1,000 users × 50 documents × 20 actions = 10^6
//!   requests.
//!
//! Each run is a whole `avpctl` process (best of 3), with its peak memory.
//! Options: `--policies N` (1000); `--keep` leaves the generated projects
//! and snapshots on disk and prints where (to profile one query by hand).

mod common;

use std::path::Path;

const CONTEXT: &str = r#"{"level": 3, "mfa": true}"#;

/// The generator's entities at other sizes.
fn entities(users: usize, docs: usize) -> String {
    common::entities_of(&mut common::Rng(0xacce55), users, docs)
}

fn timed(label: &str, args: &[&str]) {
    let (time, (peak, summary)) = common::best_of(3, || {
        let (time, peak, output) = common::measure(&common::avpctl(), args);
        assert!(
            output.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("avpctl prints JSON");
        let summary = match report.get("impact") {
            Some(flips) => format!("{} flips", flips.as_array().map_or(0, Vec::len)),
            None => format!(
                "{} evaluated, {} allowed",
                report["summary"]["evaluated"], report["summary"]["allowed"]
            ),
        };
        (time, (peak, summary))
    });
    println!(
        "  {label:<46} {:>9.1} ms, peak {:>6.1} MiB  ({summary})",
        time.as_secs_f64() * 1000.0,
        peak.unwrap_or(0) as f64 / 1024.0
    );
}

/// `avpctl access DIR --entities SNAPSHOT FLAGS… --context … --format json`.
fn access(label: &str, dir: &str, snapshot: &str, flags: &[&str]) {
    let mut args = vec!["access", dir, "--entities", snapshot];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--context", CONTEXT, "--format", "json"]);
    timed(label, &args);
}

fn main() {
    let policies = common::arg("--policies", 1000);
    let generated = common::project(policies, 0, 1);
    let root = generated.dir.path();
    let dir = root.to_str().unwrap();
    let write = |name: &str, users: usize, docs: usize| {
        let path = root.join(name);
        std::fs::write(&path, entities(users, docs)).unwrap();
        path.to_str().unwrap().to_string()
    };
    let many_principals = write("principals.json", 10_000, 100);
    let impact_snapshot = write("impact.json", 1000, 50);
    let five = common::project_with(policies, 0, 1, 5);
    let five_dir = five.dir.path().to_str().unwrap();
    let five_resources = five.dir.path().join("resources.json");
    std::fs::write(&five_resources, entities(100, 100_000)).unwrap();
    let five_resources = five_resources.to_str().unwrap();
    // The old side: the same project without every tenth policy.
    let old = tempfile::tempdir().unwrap();
    common_copy(root, old.path());
    for i in (0..policies).step_by(10) {
        let _ = std::fs::remove_file(old.path().join(format!("policies/p{i:05}.cedar")));
    }
    let old_dir = old.path().to_str().unwrap();
    let keep = std::env::args().any(|a| a == "--keep");
    if keep {
        println!("project {dir}, old side {old_dir}, five actions {five_dir} (kept)");
    }

    println!(
        "access benchmark ({policies} generated policies, {} actions; best of 3)",
        common::ACTIONS + 1
    );
    access(
        "who can a3 on d42, over 10,000 principals",
        dir,
        &many_principals,
        &[
            "--action",
            r#"Bench::Action::"a3""#,
            "--resource",
            r#"Bench::Doc::"d42""#,
        ],
    );
    access(
        "what can u7 do, 100,000 resources × 5 actions",
        five_dir,
        five_resources,
        &["--principal", r#"Bench::User::"u7""#],
    );
    timed(
        "diff --impact, 1,000 × 50 × 20 = 10^6 requests",
        &[
            "diff",
            dir,
            "--against",
            old_dir,
            "--impact",
            "--entities",
            &impact_snapshot,
            "--context",
            CONTEXT,
            "--format",
            "json",
        ],
    );
    // The floor under the first two figures: loading the project and the
    // snapshot, and answering a single request.
    access(
        "one request, 10,000-principal snapshot",
        dir,
        &many_principals,
        &[
            "--principal",
            r#"Bench::User::"u7""#,
            "--action",
            r#"Bench::Action::"a3""#,
            "--resource",
            r#"Bench::Doc::"d42""#,
        ],
    );
    access(
        "one request, 100,000-resource snapshot",
        five_dir,
        five_resources,
        &[
            "--principal",
            r#"Bench::User::"u7""#,
            "--action",
            r#"Bench::Action::"a0""#,
            "--resource",
            r#"Bench::Doc::"d1""#,
        ],
    );
    cedar_alone(five.dir.path(), five_resources);
    if keep {
        std::mem::forget(old);
        std::mem::forget(generated);
        std::mem::forget(five);
    }
}

/// What Cedar alone needs for "what can u7 do", in this process on one
/// core: reading the snapshot, and its own query API (`query_resource`,
/// experimental: decisions only, no determining policies). The floor
/// under avpctl's figure, which has both to do.
fn cedar_alone(project: &Path, snapshot: &str) {
    use cedar_policy::{Context, Entities, PolicySet, ResourceQueryRequest, Schema};
    let schema: Schema = std::fs::read_to_string(project.join("schema.cedarschema"))
        .unwrap()
        .parse()
        .unwrap();
    let mut policies = String::new();
    for entry in std::fs::read_dir(project.join("policies")).unwrap() {
        policies.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    let policies: PolicySet = policies.parse().unwrap();
    let text = std::fs::read_to_string(snapshot).unwrap();
    let started = std::time::Instant::now();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entities = Entities::from_json_value(value, Some(&schema)).unwrap();
    let read = started.elapsed();
    let started = std::time::Instant::now();
    let mut allowed = 0;
    let principal: cedar_policy::EntityUid = r#"Bench::User::"u7""#.parse().unwrap();
    let doc: cedar_policy::EntityTypeName = "Bench::Doc".parse().unwrap();
    for action in schema.actions() {
        let Ok(context) = Context::from_json_str(CONTEXT, Some((&schema, action))) else {
            continue;
        };
        let request = ResourceQueryRequest::new(
            principal.clone(),
            action.clone(),
            doc.clone(),
            context,
            &schema,
        )
        .unwrap();
        allowed += policies
            .query_resource(&request, &entities, &schema)
            .unwrap()
            .count();
    }
    let queried = started.elapsed();
    println!("Cedar alone, in process, one core (\"what can u7 do\"):");
    println!(
        "  Entities::from_json_value, 100,000 entities      {:>9.1} ms",
        read.as_secs_f64() * 1000.0
    );
    println!(
        "  PolicySet::query_resource, 5 actions             {:>9.1} ms  ({allowed} allowed)",
        queried.as_secs_f64() * 1000.0
    );
}

/// The generated project without its tests (a diff's old side).
fn common_copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("policies")).unwrap();
    std::fs::copy(
        from.join("schema.cedarschema"),
        to.join("schema.cedarschema"),
    )
    .unwrap();
    for entry in std::fs::read_dir(from.join("policies")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join("policies").join(entry.file_name())).unwrap();
    }
}
