//! `avpctl fmt`: rewriting, check mode, stdin, line endings, bad files, and
//! idempotency over every Cedar file we have.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use crate::common::{self, avpctl, avpctl_in, project, repo};
use avpctl::config::FmtConfig;
use avpctl::source::SourceFile;

const UGLY: &str =
    "// Owners may view.\npermit(principal,action,resource) when {resource.owner==principal};\n";
const PRETTY: &str = "// Owners may view.\npermit (principal, action, resource)\nwhen { resource.owner == principal };\n";

#[test]
fn the_example_project_is_already_formatted() {
    let run = avpctl(&["fmt", "--check", "policies-example"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("0 files would be reformatted, 8 already formatted"),
        "{}",
        run.stdout
    );
}

#[test]
fn fmt_rewrites_and_check_reports_with_a_diff() {
    let dir = project(&[("policies/a.cedar", UGLY), ("policies/b.cedar", PRETTY)]);
    let check = avpctl_in(dir.path(), &["fmt", "--check"]);
    assert_eq!(check.code, 1);
    assert!(
        check.stdout.contains("would reformat policies/a.cedar"),
        "{}",
        check.stdout
    );
    assert!(
        check
            .stdout
            .contains("-permit(principal,action,resource) when {resource.owner==principal};")
    );
    assert!(
        check
            .stdout
            .contains("+permit (principal, action, resource)")
    );
    assert!(!check.stdout.contains("would reformat policies/b.cedar"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("policies/a.cedar")).unwrap(),
        UGLY,
        "--check changes nothing"
    );

    let write = avpctl_in(dir.path(), &["fmt"]);
    assert_eq!(write.code, 0);
    assert!(write.stdout.contains("reformatted policies/a.cedar"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("policies/a.cedar")).unwrap(),
        PRETTY
    );
    assert_eq!(avpctl_in(dir.path(), &["fmt", "--check"]).code, 0);
}

#[test]
fn an_unparseable_file_is_reported_and_left_untouched_while_others_are_formatted() {
    let broken = "permit(principal, action, resource)\nwhen { resource.owner == };\n";
    let dir = project(&[
        ("policies/a.cedar", UGLY),
        ("policies/broken.cedar", broken),
    ]);
    let run = avpctl_in(dir.path(), &["fmt", "--format", "json"]);
    assert_eq!(run.code, 2);
    let report = run.json();
    let broken_report = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == "policies/broken.cedar")
        .unwrap();
    assert_eq!(broken_report["status"], "error");
    assert_eq!(broken_report["diagnostics"][0]["line"], 2);
    assert_eq!(
        std::fs::read(dir.path().join("policies/broken.cedar")).unwrap(),
        broken.as_bytes()
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("policies/a.cedar")).unwrap(),
        PRETTY
    );
}

#[test]
fn crlf_files_keep_their_line_endings() {
    let dir = project(&[("policies/a.cedar", &UGLY.replace('\n', "\r\n"))]);
    assert_eq!(avpctl_in(dir.path(), &["fmt"]).code, 0);
    let written = std::fs::read_to_string(dir.path().join("policies/a.cedar")).unwrap();
    assert_eq!(written, PRETTY.replace('\n', "\r\n"));
}

#[test]
fn an_already_formatted_file_is_not_touched() {
    use std::os::unix::fs::MetadataExt;
    let dir = project(&[("policies/b.cedar", PRETTY)]);
    let path = dir.path().join("policies/b.cedar");
    // A modification time long past instead of a sleep: any write now
    // would move it, a replacement would change the inode.
    let long_ago = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    let before = std::fs::metadata(&path).unwrap();
    assert_eq!(avpctl_in(dir.path(), &["fmt"]).code, 0);
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!(after.modified().unwrap(), long_ago, "not written");
    assert_eq!(after.ino(), before.ino(), "not replaced");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), PRETTY);
}

#[cfg(unix)]
#[test]
fn permissions_survive_a_rewrite() {
    use std::os::unix::fs::PermissionsExt;
    let dir = project(&[("policies/a.cedar", UGLY)]);
    let path = dir.path().join("policies/a.cedar");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(avpctl_in(dir.path(), &["fmt"]).code, 0);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn stdin_is_formatted_to_stdout() {
    let mut child = common::command(&repo(), &["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(UGLY.as_bytes())
        .unwrap();
    let run = common::run_of(child.wait_with_output().unwrap());
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout, PRETTY);
}

#[test]
fn stdin_with_a_syntax_error_exits_2_and_prints_nothing() {
    let mut child = common::command(&repo(), &["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"permit(principal,")
        .unwrap();
    let run = common::run_of(child.wait_with_output().unwrap());
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("<stdin>:1:18"), "{}", run.stderr);
}

#[test]
fn line_width_comes_from_the_config_and_flags_override_it() {
    let long = "permit(principal, action, resource) when { context.first_attribute == 1 && context.second_attribute == 2 && context.third == 3 };\n";
    let dir = project(&[
        ("avpctl.toml", "[fmt]\nline_width = 200\n"),
        ("policies/a.cedar", long),
    ]);
    assert_eq!(avpctl_in(dir.path(), &["fmt"]).code, 0);
    let wide = std::fs::read_to_string(dir.path().join("policies/a.cedar")).unwrap();
    assert_eq!(
        wide.lines().count(),
        2,
        "the condition fits in 200 columns: {wide}"
    );
    assert_eq!(
        avpctl_in(dir.path(), &["fmt", "--line-width", "40"]).code,
        0
    );
    let narrow = std::fs::read_to_string(dir.path().join("policies/a.cedar")).unwrap();
    assert!(narrow.lines().count() > 3, "{narrow}");
}

#[test]
fn single_files_can_be_named() {
    let dir = project(&[("policies/a.cedar", UGLY), ("policies/b.cedar", UGLY)]);
    assert_eq!(avpctl_in(dir.path(), &["fmt", "policies/a.cedar"]).code, 0);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("policies/a.cedar")).unwrap(),
        PRETTY
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("policies/b.cedar")).unwrap(),
        UGLY
    );
}

fn cedar_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("target") && !path.ends_with(".git") {
            cedar_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "cedar") {
            found.push(path);
        }
    }
}

/// Formatting formatted text changes nothing.
fn assert_idempotent(name: &str, text: &str) -> bool {
    let file = SourceFile::new(name, text);
    let Ok(once) = avpctl::fmt::format_text(&file, FmtConfig::default()) else {
        return false;
    };
    let twice =
        avpctl::fmt::format_text(&SourceFile::new(name, once.clone()), FmtConfig::default())
            .unwrap_or_else(|_| panic!("{name}: formatted text does not format"));
    assert_eq!(twice, once, "{name}: formatting is not idempotent");
    true
}

#[test]
fn formatting_is_idempotent_on_every_cedar_file_of_the_repository_and_the_conformance_data() {
    let mut files = Vec::new();
    cedar_files(&repo(), &mut files);
    let conformance = repo().join("../shared/conformance");
    if conformance.is_dir() {
        cedar_files(&conformance, &mut files);
    }
    let mut formatted = 0;
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        if assert_idempotent(&file.display().to_string(), &text) {
            formatted += 1;
        }
    }
    assert!(formatted > 500, "only {formatted} files were formatted");
}

#[test]
fn formatting_is_idempotent_on_generated_policies() {
    let scopes = [
        "principal",
        "principal == A::U::\"x\"",
        "principal in A::G::\"g\"",
        "principal is A::U",
    ];
    let conditions = [
        "",
        " when { context.a > 1 && context.b == \"s\" }",
        " unless { [1, 2, 3].contains(context.n) || context.ip.isInRange(ip(\"10.0.0.0/8\")) }",
        " when { principal has level && principal.level >= 5 // inline\n }",
        " when { if context.x then resource.y else false }",
    ];
    let mut seed = 7u64;
    for i in 0..300 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let scope = scopes[(seed >> 33) as usize % scopes.len()];
        let condition = conditions[(seed >> 40) as usize % conditions.len()];
        let text = format!(
            "// policy {i}\n@id(\"p{i}\")\npermit({scope}, action in [A::Action::\"r\", A::Action::\"w\"], resource){condition};\n"
        );
        assert!(
            assert_idempotent(&format!("generated {i}"), &text),
            "{text}"
        );
    }
}

// ---- No data lost (issue 10) ----

fn outcome_messages(outcome: &avpctl::fmt::FileOutcome) -> String {
    match &outcome.status {
        avpctl::fmt::FileStatus::Skipped(diagnostics)
        | avpctl::fmt::FileStatus::Failed(diagnostics) => diagnostics
            .iter()
            .map(|d| d.message.clone())
            .collect::<Vec<_>>()
            .join("\n"),
        other => format!("{other:?}"),
    }
}

#[test]
fn a_file_written_between_read_and_rename_keeps_the_newer_content() {
    const NEWER: &str = "// saved by an editor meanwhile\npermit(principal,action,resource);\n";
    let dir = project(&[("policies/a.cedar", UGLY)]);
    let path = dir.path().join("policies/a.cedar");
    // In place (same inode), as a generator writing the file does.
    let outcome = avpctl::fmt::format_path(&path, FmtConfig::default(), false, &mut || {
        std::fs::write(&path, NEWER).unwrap();
    });
    assert!(
        matches!(outcome.status, avpctl::fmt::FileStatus::Skipped(_)),
        "{outcome:?}"
    );
    assert!(
        outcome_messages(&outcome).contains("changed while formatting; run fmt again"),
        "{}",
        outcome_messages(&outcome)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), NEWER);

    // By rename (a new inode), as editors save.
    std::fs::write(&path, UGLY).unwrap();
    let saved = dir.path().join("policies/.a.cedar.swp");
    let outcome = avpctl::fmt::format_path(&path, FmtConfig::default(), false, &mut || {
        std::fs::write(&saved, NEWER).unwrap();
        std::fs::rename(&saved, &path).unwrap();
    });
    assert!(matches!(
        outcome.status,
        avpctl::fmt::FileStatus::Skipped(_)
    ));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), NEWER);

    // The same size and, as far as the clock can tell, the same time: the
    // content itself is compared.
    std::fs::write(&path, UGLY).unwrap();
    let same_size = UGLY.replace("view", "VIEW");
    assert_eq!(same_size.len(), UGLY.len());
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let outcome = avpctl::fmt::format_path(&path, FmtConfig::default(), false, &mut || {
        std::fs::write(&path, &same_size).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
    });
    assert!(
        matches!(outcome.status, avpctl::fmt::FileStatus::Skipped(_)),
        "{outcome:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), same_size);

    // Unchanged, it is formatted as usual.
    std::fs::write(&path, UGLY).unwrap();
    let outcome = avpctl::fmt::format_path(&path, FmtConfig::default(), false, &mut || {});
    assert!(matches!(
        outcome.status,
        avpctl::fmt::FileStatus::Reformatted
    ));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), PRETTY);
    let names: Vec<_> = std::fs::read_dir(dir.path().join("policies"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
}

#[cfg(unix)]
#[test]
fn a_symlinked_policy_file_is_skipped_not_replaced_by_a_file() {
    let dir = project(&[("policies/real.cedar", UGLY)]);
    let link = dir.path().join("policies/link.cedar");
    std::os::unix::fs::symlink("real.cedar", &link).unwrap();
    for args in [
        vec!["fmt", "--format", "json"],
        vec!["fmt", "policies/link.cedar", "--format", "json"],
    ] {
        let run = avpctl_in(dir.path(), &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        let report = run.json();
        let entry = report["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["file"] == "policies/link.cedar")
            .unwrap_or_else(|| panic!("{report:#}"))
            .clone();
        assert_eq!(entry["status"], "skipped", "{entry:#}");
        assert!(
            entry["diagnostics"][0]["message"]
                .as_str()
                .unwrap()
                .contains("is a symbolic link; format its target instead"),
            "{entry:#}"
        );
        assert_eq!(report["summary"]["skipped"], 1);
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link is still a link"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("policies/real.cedar")).unwrap(),
        PRETTY,
        "the target itself is formatted"
    );
}

#[cfg(unix)]
#[test]
fn a_symlinked_directory_out_of_the_project_is_not_rewritten() {
    let outside = project(&[("elsewhere/ugly.cedar", UGLY)]);
    let dir = project(&[("policies/a.cedar", PRETTY)]);
    std::os::unix::fs::symlink(
        outside.path().join("elsewhere"),
        dir.path().join("policies/linked"),
    )
    .unwrap();
    let run = avpctl_in(dir.path(), &["fmt"]);
    assert_ne!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        std::fs::read_to_string(outside.path().join("elsewhere/ugly.cedar")).unwrap(),
        UGLY,
        "a file outside the project is never rewritten"
    );
}

#[cfg(unix)]
#[test]
fn read_only_and_hard_linked_files_are_left_alone() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = project(&[
        ("policies/ro.cedar", UGLY),
        ("policies/linked.cedar", UGLY),
        ("policies/ok.cedar", UGLY),
    ]);
    let read_only = dir.path().join("policies/ro.cedar");
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o444)).unwrap();
    let linked = dir.path().join("policies/linked.cedar");
    let other = dir.path().join("other-link.cedar");
    std::fs::hard_link(&linked, &other).unwrap();

    let run = avpctl_in(dir.path(), &["fmt"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let text = run.stdout.replace('\n', " ");
    assert!(text.contains("is read-only"), "{}", run.stdout);
    assert!(text.contains("has 2 hard links"), "{}", run.stdout);
    assert!(run.stdout.contains("2 skipped"), "{}", run.stdout);
    assert_eq!(std::fs::read_to_string(&read_only).unwrap(), UGLY);
    assert_eq!(
        std::fs::metadata(&read_only).unwrap().permissions().mode() & 0o777,
        0o444
    );
    assert_eq!(std::fs::read_to_string(&linked).unwrap(), UGLY);
    assert_eq!(
        std::fs::metadata(&linked).unwrap().ino(),
        std::fs::metadata(&other).unwrap().ino(),
        "the hard link is intact"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("policies/ok.cedar")).unwrap(),
        PRETTY,
        "the other files are formatted"
    );
}

#[cfg(unix)]
#[test]
fn group_and_mode_survive_a_rewrite() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = project(&[("policies/a.cedar", UGLY)]);
    let path = dir.path().join("policies/a.cedar");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    // Another group than the one a new file gets: only root may pick any.
    let mine = std::fs::metadata(&path).unwrap().gid();
    let wanted = if std::os::unix::fs::chown(&path, None, Some(4242)).is_ok() {
        4242
    } else {
        eprintln!("not root: checking that the file keeps its own group {mine}");
        mine
    };
    assert_eq!(avpctl_in(dir.path(), &["fmt"]).code, 0);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), PRETTY);
    let metadata = std::fs::metadata(&path).unwrap();
    assert_eq!(metadata.gid(), wanted);
    assert_eq!(metadata.permissions().mode() & 0o7777, 0o640);
}
