//! `cargo bench --bench fmt`: `avpctl fmt --check` on a generated project
//! against the official `cedar format --check`, run file by file on the same
//! files (as a pre-commit hook or CI script would have to).
//!
//! Options: `--policies N` (default 5000). `cedar` is looked up as in the
//! `test_run` benchmark; without it that comparison is skipped.

mod common;

use std::time::Instant;

fn main() {
    let policies = common::arg("--policies", 5000);
    let generated = common::project(policies, 0, 1);
    let root = generated.dir.path();
    let root_arg = root.to_str().unwrap();

    // Bring the files into canonical form first: CI checks formatted files.
    let (format_time, _, output) = common::measure(&common::avpctl(), &["fmt", root_arg]);
    assert!(output.status.success());
    let (check_time, peak, output) = common::best_of(3, || {
        let (elapsed, peak, output) =
            common::measure(&common::avpctl(), &["fmt", "--check", root_arg]);
        (elapsed, (elapsed, peak, output))
    })
    .1;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    println!("fmt benchmark ({policies} generated policy files)");
    println!(
        "  avpctl fmt (rewrite from generator output):  {:>9.3} s",
        format_time.as_secs_f64()
    );
    println!(
        "  avpctl fmt --check (all formatted):          {:>9.3} s",
        check_time.as_secs_f64()
    );
    if let Some(peak) = peak {
        println!(
            "  avpctl fmt --check peak memory:              {:>9.1} MiB",
            peak as f64 / 1024.0
        );
    }
    match common::cedar_cli() {
        Some(cedar) => {
            let mut files: Vec<_> = std::fs::read_dir(root.join("policies"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            let started = Instant::now();
            let mut failed = 0;
            for file in &files {
                let status = std::process::Command::new(&cedar)
                    .args(["format", "--check", "--policies"])
                    .arg(file)
                    .stdout(std::process::Stdio::null())
                    .status()
                    .expect("cedar runs");
                failed += usize::from(!status.success());
            }
            let elapsed = started.elapsed();
            println!(
                "  cedar format --check, file by file:          {:>9.3} s  ({failed} files reported)",
                elapsed.as_secs_f64()
            );
            println!(
                "  ratio cedar / avpctl:                        {:>9.1}x",
                elapsed.as_secs_f64() / check_time.as_secs_f64()
            );
        }
        None => println!("  cedar format: skipped (no `cedar` binary)"),
    }
}
