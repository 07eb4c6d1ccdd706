//! `avpctl diff` and `avpctl deploy` on the embedded local store, through
//! the real binary: plan, apply, idempotency, refusals and bad input.

use std::path::Path;

use crate::common::{self, avpctl_in, copy_dir, example, repo};

fn store_file(dir: &Path) -> std::path::PathBuf {
    dir.join(".avpctl/store.json")
}

fn deploy(dir: &Path, extra: &[&str]) -> common::Run {
    let mut args = vec!["deploy", "--yes"];
    args.extend_from_slice(extra);
    avpctl_in(dir, &args)
}

#[test]
fn deploy_then_diff_shows_nothing_and_a_second_deploy_writes_nothing() {
    let dir = example();
    let first = deploy(dir.path(), &[]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert!(
        first.stdout.contains("Applied 11 steps"),
        "{}",
        first.stdout
    );
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store_file(dir.path())).unwrap()).unwrap();
    assert_eq!(stored["format"], "avpctl-local-store");
    assert_eq!(
        stored["policies"].as_array().unwrap().len(),
        9,
        "7 static policies and 2 links"
    );
    assert_eq!(stored["templates"].as_array().unwrap().len(), 1);

    let diff = avpctl_in(dir.path(), &["diff", "--exit-code"]);
    assert_eq!(diff.code, 0, "{}", diff.stdout);
    assert!(diff.stdout.starts_with("No differences"), "{}", diff.stdout);

    // Instead of a sleep and a newer modification time: a time long past
    // (any write now moves it), the inode (a replacement changes it), the
    // bytes, and the deploy's own report of what it applied.
    use std::os::unix::fs::MetadataExt;
    let long_ago = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(store_file(dir.path()))
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    let before = std::fs::metadata(store_file(dir.path())).unwrap();
    let bytes = std::fs::read(store_file(dir.path())).unwrap();
    let second = deploy(dir.path(), &[]);
    assert_eq!(second.code, 0);
    assert!(
        second.stdout.contains("up to date, nothing to do"),
        "{}",
        second.stdout
    );
    let third = deploy(dir.path(), &["--format", "json"]);
    assert_eq!(third.code, 0, "{}", third.stdout);
    let result = &third.json()["stores"][0]["result"];
    assert_eq!(result["status"], "up-to-date", "{result:#}");
    assert_eq!(result["steps"], serde_json::json!([]), "{result:#}");
    let after = std::fs::metadata(store_file(dir.path())).unwrap();
    assert_eq!(after.modified().unwrap(), long_ago, "nothing written");
    assert_eq!(after.ino(), before.ino(), "not replaced");
    assert_eq!(std::fs::read(store_file(dir.path())).unwrap(), bytes);
}

#[test]
fn a_changed_condition_is_a_change_and_reformatting_is_not() {
    let dir = example();
    assert_eq!(deploy(dir.path(), &[]).code, 0);
    let path = dir.path().join("policies/finance-approval-leads.cedar");
    let text = std::fs::read_to_string(&path).unwrap();
    // Reformatting: collapse the layout. Meaning is unchanged.
    let squeezed = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join(" ");
    std::fs::write(&path, &squeezed).unwrap();
    let diff = avpctl_in(dir.path(), &["diff", "--exit-code"]);
    assert_eq!(diff.code, 0, "reformatting is no change: {}", diff.stdout);

    std::fs::write(&path, text.replace("context.mfa_present &&", "")).unwrap();
    let diff = avpctl_in(dir.path(), &["diff", "--exit-code", "--format", "json"]);
    assert_eq!(diff.code, 1);
    let report = diff.json();
    let change = &report["changes"][0];
    assert_eq!(change["id"], "finance-approval-leads");
    assert_eq!(change["status"], "changed");
    assert_eq!(
        change["access"], "widens",
        "dropping a conjunct widens a permit"
    );
    assert!(change["diff"].as_str().unwrap().contains("-"), "{change:#}");
    assert_eq!(
        report["flips"].as_array().unwrap().len(),
        1,
        "the no-MFA approval case flips: {report:#}"
    );
    assert_eq!(report["flips"][0]["new"], "allow");
}

#[test]
fn the_report_leads_with_what_widens_access() {
    let dir = example();
    assert_eq!(deploy(dir.path(), &[]).code, 0);
    std::fs::remove_file(dir.path().join("policies/forbid-edit-locked.cedar")).unwrap();
    std::fs::write(dir.path().join("policies/extra.cedar"), "@id(\"everyone-views\")\npermit (principal, action == DocApp::Action::\"viewDocument\", resource);\n").unwrap();
    let diff = avpctl_in(dir.path(), &["diff"]);
    let widens = diff.stdout.find("Widens access").unwrap();
    assert!(
        diff.stdout[widens..].contains("- policy   forbid-edit-locked (forbid)"),
        "{}",
        diff.stdout
    );
    assert!(diff.stdout[widens..].contains("+ policy   everyone-views (permit)"));
    assert!(diff.stdout.contains("Test cases whose decision changes"));
}

#[test]
fn dry_run_writes_nothing_and_no_terminal_needs_yes() {
    let dir = example();
    let run = avpctl_in(dir.path(), &["deploy", "--dry-run"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("--dry-run: nothing applied"));
    assert!(!store_file(dir.path()).exists());
    let run = avpctl_in(dir.path(), &["deploy"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr_text().contains("pass --yes"), "{}", run.stderr);
    assert!(!store_file(dir.path()).exists());
}

#[test]
fn a_failing_test_refuses_the_deploy_and_no_tests_overrides_it_with_a_warning() {
    let dir = example();
    let suite = dir.path().join("tests/team-access.yaml");
    let text = std::fs::read_to_string(&suite).unwrap();
    std::fs::write(&suite, text.replacen("expect: allow", "expect: deny", 1)).unwrap();
    let run = deploy(dir.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("deploy refused: 1 of 44 test cases fail"),
        "{}",
        run.stdout
    );
    assert!(!store_file(dir.path()).exists());
    let run = deploy(dir.path(), &["--no-tests"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("warning: --no-tests"));
}

#[test]
fn a_validation_error_refuses_the_deploy() {
    let dir = example();
    std::fs::write(
        dir.path().join("policies/bad.cedar"),
        "@id(\"bad\")\npermit (principal, action, resource) when { principal.nope };\n",
    )
    .unwrap();
    let run = deploy(dir.path(), &[]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("deploy refused"), "{}", run.stdout);
    assert!(!store_file(dir.path()).exists());
}

#[test]
fn unmanaged_policies_are_shown_kept_and_pruned_only_on_request() {
    let dir = example();
    assert_eq!(deploy(dir.path(), &[]).code, 0);
    let path = store_file(dir.path());
    let mut stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    stored["policies"].as_array_mut().unwrap().push(serde_json::json!({
        "id": "P-by-hand", "name": null, "description": "added in the console",
        "definition": {"static": {"statement": "permit (principal, action == DocApp::Action::\"viewDocument\", resource);"}}
    }));
    std::fs::write(&path, serde_json::to_string_pretty(&stored).unwrap()).unwrap();
    let diff = avpctl_in(dir.path(), &["diff"]);
    assert!(
        diff.stdout.contains("Not managed by this project"),
        "{}",
        diff.stdout
    );
    assert!(diff.stdout.contains("P-by-hand"));
    let keep = deploy(dir.path(), &[]);
    assert!(keep.stdout.contains("up to date"), "{}", keep.stdout);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("P-by-hand")
    );
    let prune = deploy(dir.path(), &["--prune"]);
    assert_eq!(prune.code, 0, "{}", prune.stdout);
    assert!(
        prune
            .stdout
            .contains("delete unmanaged policy P-by-hand (--prune)")
    );
    assert!(
        !std::fs::read_to_string(&path)
            .unwrap()
            .contains("P-by-hand")
    );
}

fn bad_store(content: &str, expect: &str) {
    let dir = example();
    std::fs::create_dir_all(dir.path().join(".avpctl")).unwrap();
    std::fs::write(store_file(dir.path()), content).unwrap();
    for args in [vec!["diff"], vec!["deploy", "--yes"]] {
        let run = avpctl_in(dir.path(), &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert!(
            run.stderr_text().contains(expect),
            "{args:?}: {}",
            run.stderr
        );
        assert_eq!(
            std::fs::read_to_string(store_file(dir.path())).unwrap(),
            content,
            "nothing written"
        );
    }
    assert!(lock_is_free(dir.path()), "the lock is released");
}

/// Whether another process could take the store's lock now.
fn lock_is_free(dir: &Path) -> bool {
    let lock = dir.join(".avpctl/store.json.lock");
    match std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock)
    {
        Ok(file) => file.try_lock().is_ok(),
        Err(_) => true,
    }
}

/// Holds the store's advisory lock, as a running deploy does, until dropped.
fn hold_lock(store: &Path) -> std::fs::File {
    let mut name = store.file_name().unwrap().to_os_string();
    name.push(".lock");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(store.with_file_name(name))
        .unwrap();
    file.try_lock().expect("the lock is free");
    file
}

#[test]
fn a_corrupt_store_is_refused_untouched() {
    bad_store(
        "{\"format\": \"avpctl-local-store\", \"version\": 1, \"next",
        "invalid JSON at line 1",
    );
}

#[test]
fn a_store_of_another_format_or_version_is_refused() {
    bad_store("{\"hello\": 1}", "is not a readable avpctl store");
    bad_store(
        "{\"format\": \"avpctl-local-store\", \"version\": 99}",
        "format version 99",
    );
}

#[test]
fn a_locked_store_is_refused_and_free_again_once_the_holder_is_gone() {
    let dir = example();
    std::fs::create_dir_all(dir.path().join(".avpctl")).unwrap();
    let holder = hold_lock(&store_file(dir.path()));
    // The lock file's content means nothing and is never shown.
    std::fs::write(
        dir.path().join(".avpctl/store.json.lock"),
        "SECRET=do-not-print\n",
    )
    .unwrap();
    let run = deploy(dir.path(), &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let text = run.stderr_text();
    assert!(text.contains("is locked"), "{text}");
    assert!(text.contains("another avpctl deploy"), "{text}");
    assert!(!text.contains("do-not-print") && !run.stdout.contains("do-not-print"));
    assert!(!store_file(dir.path()).exists(), "nothing written");

    // The holder ends (a deploy killed by SIGKILL ends the same way: the
    // kernel closes its files): the next deploy goes through.
    drop(holder);
    let run = deploy(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Applied 11 steps"), "{}", run.stdout);
}

#[test]
fn a_lock_file_left_by_a_killed_deploy_does_not_block() {
    let dir = example();
    std::fs::create_dir_all(dir.path().join(".avpctl")).unwrap();
    // What an older avpctl left after SIGTERM: a lock file with its pid.
    std::fs::write(dir.path().join(".avpctl/store.json.lock"), "4242\n").unwrap();
    let run = deploy(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    // A process that held the lock and was killed.
    // -o: the lock is flock's own, not inherited by the command. flock(1)
    // takes the lock before it starts the command, so the command's first
    // line means the lock is held: no polling. `cat` ends when its stdin
    // (ours) closes, so nothing is left running.
    use std::io::BufRead;
    let Ok(mut child) = std::process::Command::new("flock")
        .arg("-o")
        .arg(dir.path().join(".avpctl/store.json.lock"))
        .args(["sh", "-c", "echo locked; exec cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    else {
        panic!("flock(1) (util-linux) is needed by this test");
    };
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "locked\n", "flock(1) takes the lock");
    assert!(!lock_is_free(dir.path()), "flock(1) holds the lock");
    std::fs::remove_file(dir.path().join("policies/forbid-edit-locked.cedar")).unwrap();
    let blocked = deploy(dir.path(), &["--no-tests"]);
    assert_eq!(blocked.code, 2, "{}", blocked.stdout);
    assert!(
        blocked.stderr_text().contains("is locked"),
        "{}",
        blocked.stderr
    );
    child.kill().unwrap();
    child.wait().unwrap();
    drop(child.stdin.take());
    let run = deploy(dir.path(), &["--no-tests"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}

#[cfg(unix)]
#[test]
fn an_alias_of_the_store_takes_the_same_lock() {
    let dir = example();
    assert_eq!(deploy(dir.path(), &[]).code, 0);
    std::os::unix::fs::symlink(".avpctl/store.json", dir.path().join("alias.json")).unwrap();
    let holder = hold_lock(&store_file(dir.path()));
    std::fs::remove_file(dir.path().join("policies/forbid-edit-locked.cedar")).unwrap();
    let run = deploy(dir.path(), &["--store", "local:alias.json", "--no-tests"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr_text().contains("is locked"), "{}", run.stderr);
    assert!(
        !dir.path().join("alias.json.lock").exists(),
        "no lock named after the alias"
    );
    drop(holder);
    let run = deploy(dir.path(), &["--store", "local:alias.json", "--no-tests"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        std::fs::symlink_metadata(dir.path().join("alias.json"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the alias stays a link; the store behind it was written"
    );
    let stored = std::fs::read_to_string(store_file(dir.path())).unwrap();
    assert!(!stored.contains("name/forbid-edit-locked"));
}

#[test]
fn temporary_files_of_a_killed_write_are_removed_under_the_lock() {
    let dir = example();
    let avpctl_dir = dir.path().join(".avpctl");
    std::fs::create_dir_all(&avpctl_dir).unwrap();
    let leftovers = [
        ".store.json.Ab12Cd.avpctl.tmp",
        ".store.json.avpctl-4242.tmp",
    ];
    for name in leftovers {
        std::fs::write(avpctl_dir.join(name), "{half a store").unwrap();
    }
    std::fs::write(avpctl_dir.join(".other.json.Ab12Cd.avpctl.tmp"), "not ours").unwrap();
    std::fs::write(avpctl_dir.join("notes.tmp"), "not ours").unwrap();
    let run = deploy(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for name in leftovers {
        assert!(!avpctl_dir.join(name).exists(), "{name} is removed");
    }
    assert!(avpctl_dir.join(".other.json.Ab12Cd.avpctl.tmp").exists());
    assert!(avpctl_dir.join("notes.tmp").exists());
}

#[test]
fn duplicate_names_in_the_store_are_drift_that_diff_reports_and_deploy_refuses() {
    let dir = example();
    assert_eq!(deploy(dir.path(), &[]).code, 0);
    let path = store_file(dir.path());
    let mut stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let policies = stored["policies"].as_array_mut().unwrap();
    let mut copy = policies
        .iter()
        .find(|p| p["name"] == "name/forbid-edit-locked")
        .unwrap()
        .clone();
    copy["id"] = "P9999999999999999".into();
    policies.push(copy);
    let text = serde_json::to_string_pretty(&stored).unwrap();
    std::fs::write(&path, &text).unwrap();

    let diff = avpctl_in(dir.path(), &["diff", "--exit-code"]);
    assert_eq!(diff.code, 1, "{}\n{}", diff.stdout, diff.stderr);
    assert!(
        diff.stdout.contains("Duplicate names in the store"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains("name/forbid-edit-locked"),
        "{}",
        diff.stdout
    );
    assert!(diff.stdout.contains("P9999999999999999"), "{}", diff.stdout);
    assert!(!diff.stdout.contains("No differences"), "{}", diff.stdout);
    let json = avpctl_in(dir.path(), &["diff", "--format", "json"]).json();
    assert_eq!(json["summary"]["duplicates"], 1, "{json:#}");
    assert_eq!(json["duplicates"][0]["name"], "name/forbid-edit-locked");
    assert_eq!(
        json["duplicates"][0]["store_ids"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        json["unmanaged"].as_array().unwrap().len(),
        0,
        "a copy is not unmanaged"
    );

    for extra in [vec![], vec!["--prune"]] {
        let run = deploy(dir.path(), &extra);
        assert_eq!(run.code, 2, "{extra:?}: {}", run.stdout);
        let message = run.stderr_text();
        assert!(
            message.contains("1 duplicate name in the store"),
            "{message}"
        );
        assert!(message.contains("P9999999999999999"), "{message}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "nothing written"
        );
    }
}

#[test]
fn bad_addresses_and_old_sides_are_clear_errors() {
    let dir = example();
    let run = avpctl_in(dir.path(), &["diff", "--store", "s3:bucket"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr_text().contains("is not a store address"),
        "{}",
        run.stderr
    );
    let run = avpctl_in(dir.path(), &["diff", "--against", "/nonexistent/dir"]);
    assert_eq!(run.code, 2);
    let empty = tempfile::tempdir().unwrap();
    let run = avpctl_in(
        dir.path(),
        &["diff", "--against", empty.path().to_str().unwrap()],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr_text().contains("not a policy project"),
        "{}",
        run.stderr
    );
}

#[test]
fn diff_against_another_project() {
    let (old, new) = (example(), example());
    std::fs::remove_file(new.path().join("policies/view-shared-documents.cedar")).unwrap();
    let run = avpctl_in(
        new.path(),
        &[
            "diff",
            "--against",
            old.path().to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 0);
    let report = run.json();
    assert_eq!(report["changes"].as_array().unwrap().len(), 1);
    assert_eq!(report["changes"][0]["status"], "removed");
    assert_eq!(report["changes"][0]["access"], "narrows");
}

fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

#[test]
fn diff_against_a_git_revision() {
    let repo_dir = tempfile::tempdir().unwrap();
    copy_dir(
        &repo().join("policies-example"),
        &repo_dir.path().join("authz"),
    );
    git(repo_dir.path(), &["init", "-q", "-b", "main"]);
    git(repo_dir.path(), &["add", "."]);
    git(repo_dir.path(), &["commit", "-q", "-m", "policies"]);
    let project = repo_dir.path().join("authz");
    std::fs::write(project.join("policies/extra.cedar"), "@id(\"everyone-views\")\npermit (principal, action == DocApp::Action::\"viewDocument\", resource);\n").unwrap();
    let run = avpctl_in(
        &project,
        &["diff", "--against-git", "main", "--format", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["changes"][0]["id"], "everyone-views");
    assert_eq!(report["changes"][0]["access"], "widens");
    let run = avpctl_in(&project, &["diff", "--against-git", "no-such-branch"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr_text()
            .contains("git revision `no-such-branch` does not exist"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_store_group_deploys_to_every_member() {
    let dir = example();
    let mut config = std::fs::read_to_string(dir.path().join("avpctl.toml")).unwrap_or_default();
    config.push_str("\n[stores.tenant-a]\nuri = \"local:stores/a.json\"\n\n[stores.tenant-b]\nuri = \"local:stores/b.json\"\n\n[store_groups]\ntenants = [\"tenant-a\", \"tenant-b\"]\n");
    std::fs::write(dir.path().join("avpctl.toml"), config).unwrap();
    let run = avpctl_in(dir.path(), &["deploy", "--store", "tenants", "--yes"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("Summary 2 stores: 2 applied, 0 up to date, 0 failed"),
        "{}",
        run.stdout
    );
    assert!(
        dir.path().join("stores/a.json").is_file() && dir.path().join("stores/b.json").is_file()
    );
    // Each member is reported by its name in avpctl.toml.
    assert!(run.stdout.contains("  tenant-a (local:"), "{}", run.stdout);
    let prompt = avpctl_in(dir.path(), &["deploy", "--store", "tenants"]);
    assert_eq!(prompt.code, 2, "fleets need --yes");
    // `test --store` takes the group too: every member is asked every case.
    let tested = avpctl_in(
        dir.path(),
        &["test", "--store", "tenants", "--format", "json"],
    );
    assert_eq!(tested.code, 0, "{}\n{}", tested.stdout, tested.stderr);
    let report = tested.json();
    assert_eq!(report["version"], 1);
    let stores = report["stores"].as_array().unwrap();
    assert_eq!(stores.len(), 2);
    assert_eq!(stores[0]["name"], "tenant-a");
    assert_eq!(stores[1]["name"], "tenant-b");
    // So does `diff`: each member against the project, by name.
    let diffed = avpctl_in(dir.path(), &["diff", "--store", "tenants", "--exit-code"]);
    assert_eq!(diffed.code, 0, "{}\n{}", diffed.stdout, diffed.stderr);
    assert!(
        diffed.stdout.contains("== tenant-a (local:"),
        "{}",
        diffed.stdout
    );
    assert!(
        diffed.stdout.contains("== tenant-b (local:"),
        "{}",
        diffed.stdout
    );
    assert_eq!(
        diffed.stdout.matches("No differences").count(),
        2,
        "{}",
        diffed.stdout
    );
    let diffed = avpctl_in(
        dir.path(),
        &["diff", "--store", "tenants", "--format", "json"],
    );
    let document = diffed.json();
    assert_eq!(document["stores"][1]["name"], "tenant-b", "{document:#}");
    assert_eq!(
        document["stores"][1]["diff"]["summary"]["counts"]["changes"],
        0
    );
    for store in stores {
        assert_eq!(store["report"]["summary"]["failed"], 0, "{store:#}");
        assert!(
            store["report"]["summary"]["store"]
                .as_str()
                .unwrap()
                .starts_with(store["name"].as_str().unwrap())
        );
    }
}

/// What CI gives most often when an AWS secret or role is missing, and what
/// avpctl says about it: the cause and the fix, exit 2, no credential.
#[test]
fn aws_misconfiguration_is_explained() {
    let project = example();
    let dir = project.path().to_str().unwrap();
    let store = "avp:PSEXAMPLEabcdefg111111";
    let home = tempfile::tempdir().unwrap();
    let isolated = |extra: &[(&str, &str)]| {
        let mut command = common::command(project.path(), &["diff", dir, "--store", store]);
        command
            .env_clear()
            .env("HOME", home.path())
            .env("NO_COLOR", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_MAX_ATTEMPTS", "1");
        for (key, value) in extra {
            command.env(key, value);
        }
        common::run_of(command.output().unwrap())
    };
    let empty_region = isolated(&[
        ("AWS_REGION", ""),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY12345"),
        ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
    ]);
    assert_eq!(empty_region.code, 2);
    assert!(
        empty_region
            .stderr_text()
            .contains("the AWS region is empty"),
        "{}",
        empty_region.stderr
    );
    let no_credentials = isolated(&[("AWS_REGION", "us-east-1")]);
    assert_eq!(no_credentials.code, 2);
    assert!(
        no_credentials.stderr_text().contains("no AWS credentials"),
        "{}",
        no_credentials.stderr
    );
    let mut refused = common::command(
        project.path(),
        &[
            "diff",
            dir,
            "--store",
            store,
            "--endpoint-url",
            "http://127.0.0.1:9",
        ],
    );
    refused
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY12345")
        .env("AWS_SECRET_ACCESS_KEY", "s3cr3t")
        .env("AWS_MAX_ATTEMPTS", "1");
    let refused = common::run_of(refused.output().unwrap());
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr_text().contains("cannot connect"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr_text().contains("--endpoint-url"),
        "{}",
        refused.stderr
    );
    for run in [&empty_region, &no_credentials, &refused] {
        assert!(!run.stderr.contains("AKIAEXAMPLEKEY12345") && !run.stderr.contains("s3cr3t"));
    }
}

/// AWS documents that AVP rejects a template with a bare scope; the
/// warning blocks a deploy to AVP unless the user opts out of it.
#[test]
fn a_preflight_warning_blocks_an_avp_deploy_unless_allowed() {
    let project = common::project(&[
        (
            "schema.cedarschema",
            "namespace App { entity User; entity Doc; action view appliesTo { principal: User, resource: Doc }; }\n",
        ),
        (
            "templates/share.cedar",
            "@id(\"share\")\npermit (principal == ?principal, action == App::Action::\"view\", resource);\n",
        ),
    ]);
    let dir = project.path().to_str().unwrap();
    let deploy = |extra: &[&str]| {
        let mut args = vec![
            "deploy",
            dir,
            "--store",
            "avp:PSEXAMPLEabcdefg111111",
            "--yes",
            "--no-tests",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ];
        args.extend_from_slice(extra);
        let mut command = common::command(project.path(), &args);
        command
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY12345")
            .env("AWS_SECRET_ACCESS_KEY", "s3cr3t")
            .env("AWS_MAX_ATTEMPTS", "1");
        common::run_of(command.output().unwrap())
    };
    let refused = deploy(&[]);
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused.stdout.contains("avp-template-slots"),
        "{}",
        refused.stdout
    );
    let allowed = deploy(&["--allow-preflight", "avp-template-slots"]);
    // Past the gate: the (unreachable) store is what stops it now.
    assert_eq!(allowed.code, 2, "{}{}", allowed.stdout, allowed.stderr);
    assert!(
        allowed.stderr_text().contains("cannot connect"),
        "{}",
        allowed.stderr
    );
}
