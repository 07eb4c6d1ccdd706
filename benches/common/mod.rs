//! Generates realistic policy projects of any size for the benchmarks.
//!
//! The shape follows a document service: users in groups, documents in
//! folders, twenty actions, policies scoped to one user, to a group or to
//! anyone, with conditions on attributes and context.
#![allow(dead_code)]

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const ACTIONS: usize = 20;
pub const USERS: usize = 2000;
pub const GROUPS: usize = 100;
pub const DOCS: usize = 2000;
pub const FOLDERS: usize = 100;

/// xorshift64*: deterministic projects, run after run.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
}

pub fn schema() -> String {
    schema_for(ACTIONS)
}

/// The schema with `count` actions `a0`… besides `read`.
pub fn schema_for(count: usize) -> String {
    let actions: Vec<String> = (0..count).map(|a| format!("\"a{a}\"")).collect();
    format!(
        r#"namespace Bench {{
  entity Group;
  entity User in [Group] {{ dept: String, level: Long }};
  entity Folder;
  entity Doc in [Folder] {{ owner: User, classification: Long, locked: Bool }};
  action read;
  action {} in [Action::"read"] appliesTo {{
    principal: [User],
    resource: [Doc],
    context: {{ level: Long, mfa: Bool }},
  }};
}}
"#,
        actions.join(", ")
    )
}

pub fn policy(rng: &mut Rng, i: usize) -> String {
    policy_for(rng, i, ACTIONS)
}

/// A policy over `actions` actions `a0`….
pub fn policy_for(rng: &mut Rng, i: usize, actions: usize) -> String {
    let principal = match rng.below(4) {
        0 | 1 => format!("principal == Bench::User::\"u{}\"", rng.below(USERS)),
        2 => format!("principal in Bench::Group::\"g{}\"", rng.below(GROUPS)),
        _ => "principal".to_string(),
    };
    let action = match rng.below(10) {
        0 => "action in Bench::Action::\"read\"".to_string(),
        1 => format!(
            "action in [Bench::Action::\"a{}\", Bench::Action::\"a{}\"]",
            rng.below(actions),
            rng.below(actions)
        ),
        _ => format!("action == Bench::Action::\"a{}\"", rng.below(actions)),
    };
    let resource = match rng.below(3) {
        0 => format!("resource in Bench::Folder::\"f{}\"", rng.below(FOLDERS)),
        1 => format!("resource == Bench::Doc::\"d{}\"", rng.below(DOCS)),
        _ => "resource".to_string(),
    };
    let condition = match rng.below(4) {
        0 => format!(
            "context.level >= {} && principal.dept == \"dept{}\"",
            rng.below(5),
            rng.below(10)
        ),
        1 => "resource.owner == principal".to_string(),
        2 => format!(
            "resource.classification <= principal.level && context.mfa && principal.level > {}",
            rng.below(5)
        ),
        _ => format!("!resource.locked && principal.level >= {}", rng.below(8)),
    };
    let effect = if rng.below(10) == 0 {
        "forbid"
    } else {
        "permit"
    };
    format!(
        "// Generated policy {i}.\n@id(\"gen-{i:05}\")\n{effect}(\n  {principal},\n  {action},\n  {resource}\n)\nwhen {{ {condition} }};\n"
    )
}

pub fn entities(rng: &mut Rng) -> String {
    entities_of(rng, USERS, DOCS)
}

/// `users` users in groups and `docs` documents in folders.
pub fn entities_of(rng: &mut Rng, users: usize, docs: usize) -> String {
    let mut out = String::from("[\n");
    for g in 0..GROUPS {
        let _ = writeln!(
            out,
            r#"{{"uid": {{"type": "Bench::Group", "id": "g{g}"}}, "attrs": {{}}, "parents": []}},"#
        );
    }
    for f in 0..FOLDERS {
        let _ = writeln!(
            out,
            r#"{{"uid": {{"type": "Bench::Folder", "id": "f{f}"}}, "attrs": {{}}, "parents": []}},"#
        );
    }
    for u in 0..users {
        let _ = writeln!(
            out,
            r#"{{"uid": {{"type": "Bench::User", "id": "u{u}"}}, "attrs": {{"dept": "dept{}", "level": {}}}, "parents": [{{"type": "Bench::Group", "id": "g{}"}}, {{"type": "Bench::Group", "id": "g{}"}}]}},"#,
            rng.below(10),
            rng.below(8),
            rng.below(GROUPS),
            rng.below(GROUPS)
        );
    }
    for d in 0..docs {
        let comma = if d + 1 == docs { "" } else { "," };
        let _ = writeln!(
            out,
            r#"{{"uid": {{"type": "Bench::Doc", "id": "d{d}"}}, "attrs": {{"owner": {{"type": "Bench::User", "id": "u{}"}}, "classification": {}, "locked": {}}}, "parents": [{{"type": "Bench::Folder", "id": "f{}"}}]}}{comma}"#,
            rng.below(users),
            rng.below(6),
            rng.below(8) == 0,
            rng.below(FOLDERS)
        );
    }
    out.push_str("]\n");
    out
}

/// One generated case: principal, action, resource, context level and mfa.
pub struct Case {
    pub user: usize,
    pub action: usize,
    pub doc: usize,
    pub level: usize,
    pub mfa: bool,
}

pub fn cases(rng: &mut Rng, count: usize) -> Vec<Case> {
    (0..count)
        .map(|_| Case {
            user: rng.below(USERS),
            action: rng.below(ACTIONS),
            doc: rng.below(DOCS),
            level: rng.below(5),
            mfa: rng.below(2) == 0,
        })
        .collect()
}

pub fn suite(cases: &[Case], offset: usize, expect: impl Fn(usize) -> &'static str) -> String {
    let mut out = String::from("entities: [../entities.json]\ncases:\n");
    for (i, case) in cases.iter().enumerate() {
        let _ = write!(
            out,
            "  - name: case {}\n    principal: 'Bench::User::\"u{}\"'\n    action: 'Bench::Action::\"a{}\"'\n    resource: 'Bench::Doc::\"d{}\"'\n    context: {{level: {}, mfa: {}}}\n    expect: {}\n",
            offset + i,
            case.user,
            case.action,
            case.doc,
            case.level,
            case.mfa,
            expect(offset + i)
        );
    }
    out
}

pub struct Generated {
    pub dir: tempfile::TempDir,
    pub cases: Vec<Case>,
}

/// Writes a project with `policies` policies (one file each) and `cases`
/// cases split into suites of `per_suite`. Expectations start as `deny`;
/// [`set_expectations`] fills in the real decisions.
pub fn project(policies: usize, cases: usize, per_suite: usize) -> Generated {
    project_with(policies, cases, per_suite, ACTIONS)
}

/// [`project`] with `actions` actions besides `read` (its cases still
/// name the first [`ACTIONS`], so give them `cases = 0` below that).
pub fn project_with(policies: usize, cases: usize, per_suite: usize, actions: usize) -> Generated {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("policies")).unwrap();
    std::fs::create_dir_all(root.join("tests")).unwrap();
    std::fs::write(root.join("schema.cedarschema"), schema_for(actions)).unwrap();
    for i in 0..policies {
        std::fs::write(
            root.join(format!("policies/p{i:05}.cedar")),
            policy_for(&mut rng, i, actions),
        )
        .unwrap();
    }
    std::fs::write(root.join("entities.json"), entities(&mut rng)).unwrap();
    let generated = self::cases(&mut rng, cases);
    write_suites(root, &generated, per_suite, &|_| "deny");
    Generated {
        dir,
        cases: generated,
    }
}

pub fn write_suites(
    root: &Path,
    cases: &[Case],
    per_suite: usize,
    expect: &dyn Fn(usize) -> &'static str,
) {
    for (n, chunk) in cases.chunks(per_suite.max(1)).enumerate() {
        let text = suite(chunk, n * per_suite, expect);
        std::fs::write(root.join(format!("tests/s{n:04}.yaml")), text).unwrap();
    }
}

/// Runs a command and returns its wall time and peak memory (KiB, from
/// GNU time when the machine has it).
pub fn measure(program: &Path, args: &[&str]) -> (Duration, Option<u64>, std::process::Output) {
    let time = Path::new("/usr/bin/time");
    let started = Instant::now();
    let output = if time.is_file() {
        Command::new(time)
            .arg("-f")
            .arg("PEAK_KB=%M")
            .arg(program)
            .args(args)
            .output()
    } else {
        Command::new(program).args(args).output()
    }
    .expect("command runs");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let peak = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("PEAK_KB="))
        .and_then(|v| v.trim().parse().ok());
    (elapsed, peak, output)
}

pub fn avpctl() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_avpctl"))
}

pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn best_of<T>(runs: usize, mut f: impl FnMut() -> (Duration, T)) -> (Duration, T) {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..runs {
        let result = f();
        if best.as_ref().is_none_or(|(d, _)| result.0 < *d) {
            best = Some(result);
        }
    }
    best.expect("at least one run")
}

pub fn repo_example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies-example")
}

/// The official Cedar CLI, for comparisons: $CEDAR, then the copy the
/// benchmark instructions install under ~/.cache/avpctl-tools, then PATH.
pub fn cedar_cli() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CEDAR") {
        return Some(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    let cached = home.join(".cache/avpctl-tools/cedar-cli-4.14.1/bin/cedar");
    if cached.is_file() {
        return Some(cached);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("cedar"))
            .find(|p| p.is_file())
    })
}
