//! Entry points for fuzzing every loader with arbitrary bytes: the
//! cargo-fuzz targets in `fuzz/` call them for long runs, and the test
//! suite calls them on mutated seeds for a bounded time (tests/it/security.rs).
//!
//! Each one writes the input as one file of a small valid project, then
//! runs what a command would: load, validate, and run the suites. Whatever
//! the bytes, this must return (findings are fine) — never panic, hang or
//! overflow the stack.

use std::path::{Path, PathBuf};

/// The loaders a fuzz input can be fed to, by the file it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `avpctl.toml`
    Config,
    /// a YAML test suite
    Suite,
    /// an entity file (Cedar JSON or AVP `entityList`)
    Entities,
    /// an AVP `IsAuthorized` / `BatchIsAuthorized` replay input
    Replay,
    /// a Cedar policy file
    Policies,
    /// the Cedar schema
    Schema,
}

impl Target {
    pub const ALL: [Target; 6] = [
        Target::Config,
        Target::Suite,
        Target::Entities,
        Target::Replay,
        Target::Policies,
        Target::Schema,
    ];

    fn file(self) -> &'static str {
        match self {
            Target::Config => "avpctl.toml",
            Target::Suite => "tests/fuzzed.yaml",
            Target::Entities => "entities/fuzzed.json",
            Target::Replay => "replays/fuzzed.json",
            Target::Policies => "policies/fuzzed.cedar",
            Target::Schema => "schema.cedarschema",
        }
    }

    /// A valid input, the seed mutations start from.
    pub fn seed(self) -> &'static str {
        match self {
            Target::Config => "tests = \"tests\"\n[fmt]\nline_width = 80\n",
            Target::Suite => SUITE,
            Target::Entities => ENTITIES,
            Target::Replay => REPLAY,
            Target::Policies => POLICY,
            Target::Schema => SCHEMA,
        }
    }
}

const SCHEMA: &str = r#"namespace App {
  entity Group;
  entity User in [Group] { level: Long, tags: Set<String> };
  entity Doc { owner: User, secret: Bool };
  action view appliesTo { principal: User, resource: Doc, context: { mfa: Bool } };
}
"#;

const POLICY: &str = r#"@id("owner")
permit (principal, action == App::Action::"view", resource)
when { resource.owner == principal && context.mfa };

forbid (principal, action, resource)
when { resource.secret && !(principal in App::Group::"admins") || principal.level < 2 };
"#;

const ENTITIES: &str = r#"[
  {"uid": {"type": "App::User", "id": "alice"}, "attrs": {"level": 3, "tags": ["a"]}, "parents": [{"type": "App::Group", "id": "admins"}]},
  {"uid": {"type": "App::Group", "id": "admins"}, "attrs": {}, "parents": []},
  {"uid": {"type": "App::Doc", "id": "d"}, "attrs": {"owner": {"__entity": {"type": "App::User", "id": "alice"}}, "secret": false}, "parents": []}
]
"#;

const REPLAY: &str = r#"{
  "principal": {"entityType": "App::User", "entityId": "alice"},
  "action": {"actionType": "App::Action", "actionId": "view"},
  "resource": {"entityType": "App::Doc", "entityId": "d"},
  "context": {"contextMap": {"mfa": {"boolean": true}}},
  "entities": {"entityList": [
    {"identifier": {"entityType": "App::User", "entityId": "alice"}, "attributes": {"level": {"long": 3}, "tags": {"set": []}}, "parents": []},
    {"identifier": {"entityType": "App::Doc", "entityId": "d"}, "attributes": {"owner": {"entityIdentifier": {"entityType": "App::User", "entityId": "alice"}}, "secret": {"boolean": false}}, "parents": []}
  ]}
}
"#;

const SUITE: &str = r#"entities: [../entities/fuzzed.json]
context: {mfa: true}
cases:
  - name: alice views her doc
    principal: 'App::User::"alice"'
    action: 'App::Action::"view"'
    resource: 'App::Doc::"d"'
    expect: allow
    reasons: [owner]
  - name: a replay
    replay: ../replays/fuzzed.json
    expect: allow
"#;

/// A scratch project: the seeds of every target, one of which the input
/// replaces.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> std::io::Result<Scratch> {
        crate::configure_worker_threads(None);
        let dir = tempfile::tempdir()?;
        for target in Target::ALL {
            write(dir.path(), target.file(), target.seed().as_bytes())?;
        }
        Ok(Scratch { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Feeds `input` to `target`'s loader and runs validate and test on the
    /// project, then puts the seed back. Call it on a thread with
    /// [`crate::nesting::WORKER_STACK_BYTES`] of stack, as avpctl runs.
    pub fn run(&self, target: Target, input: &[u8]) {
        if write(self.path(), target.file(), input).is_err() {
            return;
        }
        run_commands(self.path());
        let _ = write(self.path(), target.file(), target.seed().as_bytes());
    }
}

fn write(root: &Path, relative: &str, content: &[u8]) -> std::io::Result<()> {
    let path: PathBuf = root.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, content)
}

/// What `validate` and `test` do, without printing.
fn run_commands(root: &Path) {
    let Ok(loaded) = crate::project::load(root) else {
        return;
    };
    let report = crate::validate::validate(&loaded);
    let rendered: Vec<String> = report
        .diagnostics
        .iter()
        .map(|d| crate::report::human::render(d, crate::report::Style::plain(), Path::new("")))
        .collect();
    std::hint::black_box(rendered);
    let options = crate::testing::Options {
        filters: Vec::new(),
        fail_fast: false,
        coverage: true,
        skip_validation_warning: true,
    };
    if let Ok((_, run)) = crate::testing::run_project(root, &options) {
        std::hint::black_box(run.summary());
    }
}

/// Small deterministic mutations of a seed, for the bounded run in the
/// test suite (libFuzzer does far better for long runs).
pub struct Mutator {
    state: u64,
}

/// Fragments that reach the interesting corners of each format.
const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "\\",
    "\n",
    ":",
    "::",
    ",",
    ";",
    "||",
    "&&",
    ".",
    "!",
    "-",
    "*",
    "in ",
    "has ",
    "like ",
    "is ",
    "if ",
    "&a ",
    "*a",
    "!!str ",
    "- ",
    "? ",
    "__entity",
    "__extn",
    "\u{0}",
    "\u{1b}[8m",
    "9223372036854775807",
    "-9223372036854775808",
    "1e999",
    "\"\\u0000\"",
    "../",
    "/proc/self/environ",
    "@id(\"x\")",
    "?principal",
];

impl Mutator {
    pub fn new(seed: u64) -> Mutator {
        Mutator {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// The seed with one to four mutations.
    pub fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut data = seed.to_vec();
        for _ in 0..=self.below(4) {
            let at = self.below(data.len() + 1);
            match self.below(6) {
                0 if at < data.len() => data[at] ^= 1 << self.below(8),
                1 => {
                    let token = TOKENS[self.below(TOKENS.len())].as_bytes();
                    data.splice(at..at, token.iter().copied());
                }
                2 if at < data.len() => {
                    let end = (at + 1 + self.below(16)).min(data.len());
                    data.drain(at..end);
                }
                3 if at < data.len() => {
                    let end = (at + 1 + self.below(32)).min(data.len());
                    let copy: Vec<u8> = data[at..end].to_vec();
                    let times = 1 + self.below(64);
                    for _ in 0..times {
                        data.splice(end..end, copy.iter().copied());
                    }
                }
                4 => {
                    let byte = self.next() as u8;
                    data.insert(at, byte);
                }
                _ => data.truncate(at),
            }
        }
        data
    }
}
