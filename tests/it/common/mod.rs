//! Running the real `avpctl` binary from integration tests.
#![allow(dead_code)]

pub mod avp;

use std::path::{Path, PathBuf};

use serde_json::Value;
use std::process::{Command, Output, Stdio};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Standard error with miette's line wrapping undone, for matching
    /// messages regardless of terminal width.
    pub fn stderr_text(&self) -> String {
        let mut out = String::new();
        for line in self.stderr.lines() {
            let trimmed = line.trim_start();
            if let Some(rest) = trimmed.strip_prefix("│ ") {
                out.push(' ');
                out.push_str(rest.trim());
            } else {
                out.push('\n');
                out.push_str(line);
            }
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|err| {
            panic!(
                "stdout is not JSON ({err}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Call first in a test that runs library code in this process which may
/// use rayon (loading, validation, test runs, fmt, or rayon directly).
///
/// avpctl gives its worker threads the stack its nesting budget was
/// measured with (`avpctl::configure_worker_threads`), and only the first
/// configuration of rayon's global pool counts. When every integration test
/// was its own binary, the only such caller in a binary came first; in one
/// shared process another test could start the pool with rayon's default
/// 2 MiB stacks, which deep input overflows. Calling this first in every
/// such test makes the pool avpctl's, whichever test runs first.
pub fn in_process() {
    static CONFIGURED: std::sync::Once = std::sync::Once::new();
    CONFIGURED.call_once(|| avpctl::configure_worker_threads(None));
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(path: &str) -> PathBuf {
    repo().join("fixtures").join(path)
}

pub fn avpctl(args: &[&str]) -> Run {
    avpctl_in(&repo(), args)
}

pub fn avpctl_in(dir: &Path, args: &[&str]) -> Run {
    let output = command(dir, args).output().expect("avpctl runs");
    run_of(output)
}

/// Runs avpctl like [`avpctl`], and fails the test if it has not finished
/// within `limit` (the process is killed). Only for tests whose point is
/// that avpctl does not hang or take forever on hostile input: the limit
/// is generous, and a hang fails here instead of stalling the whole run.
/// No sleeping: the child is waited for on a thread, and the test waits
/// for that thread's answer at most `limit`.
pub fn avpctl_within(limit: std::time::Duration, args: &[&str]) -> Run {
    let mut command = command(&repo(), args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = command.spawn().expect("avpctl runs");
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(limit) {
        Ok(output) => run_of(output.expect("avpctl runs")),
        Err(_) => {
            // SAFETY: kill(2) on the pid of our own child, not yet reaped
            // (the waiting thread has not answered).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("avpctl {args:?} did not finish within {limit:?}");
        }
    }
}

pub fn avpctl_env(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Run {
    let mut command = command(dir, args);
    for (key, value) in env {
        command.env(key, value);
    }
    run_of(command.output().expect("avpctl runs"))
}

pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_avpctl"));
    command
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_VERIFIEDPERMISSIONS")
        .env_remove("AWS_PROFILE")
        // Markdown links point at GitHub when these are set (a CI runner).
        .env_remove("GITHUB_SERVER_URL")
        .env_remove("GITHUB_REPOSITORY")
        .env_remove("GITHUB_SHA")
        .stdin(Stdio::null());
    command
}

pub fn run_of(output: Output) -> Run {
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Writes `files` (path, content) below a new temporary directory.
pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, content) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    dir
}

pub fn copy_dir(from: &Path, to: &Path) {
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

/// A fresh copy of policies-example, without a deployed store.
pub fn example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("policies-example"), dir.path());
    let _ = std::fs::remove_dir_all(dir.path().join(".avpctl"));
    dir
}

/// The case of a JSON test report named `name`.
pub fn case<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case `{name}` in {report:#}"))
}

/// The first diagnostic with `code` in a JSON report.
pub fn diagnostic<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == code)
        .unwrap_or_else(|| panic!("no `{code}` diagnostic in {report:#}"))
}

/// xorshift64*: deterministic, dependency-free generated test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}
