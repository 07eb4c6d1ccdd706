//! The examples in README.md and docs/ run: every `$ avpctl …` line of a
//! ```console block is executed from the repository root, must exit as the
//! shown output implies, and every output line shown must appear in what it
//! prints (digits aside, so timings may differ; `...` elides lines).
//! Commands that would modify the repository (fmt without --check) or read
//! stdin are skipped. A path under `/tmp/avpctl-example/` (where `init` and
//! `import` write new projects) is a scratch directory of the run, the
//! same for every example, so that later examples can read it.

use crate::common::{avpctl, repo};

struct Example {
    file: String,
    command: Vec<String>,
    shown: Vec<String>,
}

fn examples() -> Vec<Example> {
    let mut files = vec![repo().join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    docs.sort();
    files.extend(
        docs.into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    let mut examples = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut in_console = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_console = !in_console && line.trim() == "```console";
                continue;
            }
            if !in_console {
                continue;
            }
            if let Some(command) = line.strip_prefix("$ avpctl ") {
                let command = command.split('#').next().unwrap().trim();
                examples.push(Example {
                    file: file.file_name().unwrap().to_string_lossy().into_owned(),
                    command: shell_words(command),
                    shown: Vec::new(),
                });
            } else if let Some(example) = examples.last_mut() {
                example.shown.push(line.to_string());
            }
        }
    }
    examples
}

/// Words as a POSIX shell splits them, for the examples' needs: spaces
/// separate, single quotes keep everything literal (no other quoting).
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    for c in command.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

fn normalize(text: &str) -> String {
    let mut out = String::new();
    let mut in_digits = false;
    for c in text.trim_end().chars() {
        if c.is_ascii_digit() || (in_digits && c == '.') {
            if !in_digits {
                out.push('N');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    out
}

#[test]
fn documented_examples_run_and_print_what_the_docs_show() {
    let examples = examples();
    assert!(
        examples.len() >= 8,
        "found only {} examples",
        examples.len()
    );
    let checked = run_examples(examples.iter().filter(|e| !needs_solver(e)));
    assert!(checked >= 6, "only {checked} examples were run");
}

/// The `--prove` examples, run where cvc5 is installed (scripts/test.sh).
#[test]
#[ignore = "needs cvc5"]
fn documented_proof_examples_run_and_print_what_the_docs_show() {
    let available = std::process::Command::new("cvc5")
        .arg("--version")
        .output()
        .is_ok()
        || std::env::var_os("CVC5").is_some();
    assert!(
        available,
        "cvc5 is not installed: ./scripts/test.sh installs it"
    );
    let examples = examples();
    let checked = run_examples(examples.iter().filter(|e| needs_solver(e)));
    assert!(checked >= 1, "no --prove example was found");
}

fn needs_solver(example: &Example) -> bool {
    example.command.iter().any(|a| a == "--prove")
}

/// Runs each example that does not change the repository or read stdin;
/// returns how many ran.
fn run_examples<'a>(examples: impl Iterator<Item = &'a Example>) -> usize {
    const SCRATCH: &str = "/tmp/avpctl-example";
    let scratch = tempfile::tempdir().unwrap();
    let scratch_path = scratch.path().to_string_lossy().into_owned();
    let mut checked = 0;
    for example in examples {
        let mutates = example.command.first().is_some_and(|c| c == "fmt")
            && !example.command.iter().any(|a| a == "--check");
        if mutates
            || example
                .command
                .iter()
                .any(|a| a == "-" || a == "<" || a == "|")
        {
            continue;
        }
        let args: Vec<String> = example
            .command
            .iter()
            .map(|a| a.replace(SCRATCH, &scratch_path))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut run = avpctl(&args);
        run.stdout = run.stdout.replace(&scratch_path, SCRATCH);
        let shows_failure = example.shown.iter().any(|l| {
            l.trim_start().starts_with('×')
                || l.contains("FAIL")
                || l.contains("would reformat")
                || l.contains("deploy refused")
        });
        let context = format!(
            "{}: avpctl {}\n--- stdout\n{}\n--- stderr\n{}",
            example.file,
            args.join(" "),
            run.stdout,
            run.stderr
        );
        if shows_failure {
            assert_ne!(run.code, 0, "{context}");
        } else {
            assert_eq!(run.code, 0, "{context}");
        }
        let actual = normalize(&run.stdout);
        for line in &example.shown {
            if line.trim().is_empty() || line.contains("...") || line.contains('…') {
                continue;
            }
            assert!(
                actual.contains(&normalize(line)),
                "{context}\n--- the docs show this line, which is missing:\n{line}"
            );
        }
        checked += 1;
    }
    checked
}

#[test]
fn every_pre_commit_hook_runs_and_passes_on_the_example() {
    #[derive(serde::Deserialize)]
    struct Hook {
        id: String,
        entry: String,
        language: String,
    }
    let text = std::fs::read_to_string(repo().join(".pre-commit-hooks.yaml")).unwrap();
    let hooks: Vec<Hook> = serde_saphyr::from_str(&text).unwrap();
    let ids: Vec<&str> = hooks.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "avpctl-validate",
            "avpctl-fmt",
            "avpctl-test",
            "avpctl-validate-system",
            "avpctl-fmt-system",
            "avpctl-test-system",
        ]
    );
    for hook in &hooks {
        // Each hook is built from this repository (rust) or, in its
        // `-system` variant, runs the avpctl on PATH, with the same entry.
        let language = if hook.id.ends_with("-system") {
            "system"
        } else {
            "rust"
        };
        assert_eq!(hook.language, language, "{}", hook.id);
        let mut words: Vec<&str> = hook.entry.split_whitespace().collect();
        assert_eq!(words.remove(0), "avpctl");
        words.push("policies-example");
        let run = avpctl(&words);
        assert_eq!(run.code, 0, "{}: {}\n{}", hook.id, run.stdout, run.stderr);
    }
}
