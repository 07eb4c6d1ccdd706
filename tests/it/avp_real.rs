//! Opt-in: the same round trip against a real Amazon Verified Permissions
//! policy store. Ignored (CI never runs it, and scripts/test.sh skips it);
//! run it by name with AVPCTL_REAL_AVP_STORE naming a store to use, e.g.
//!
//!   AVPCTL_REAL_AVP_STORE=avp:PSEXAMPLEabcdefg111111 AWS_PROFILE=sandbox \
//!     cargo test --test it avp_real -- --ignored --nocapture
//!
//! Run without AVPCTL_REAL_AVP_STORE it fails rather than passing.
//!
//! The store must be a scratch store with STRICT validation: the test
//! deploys policies-example to it and prunes everything else.

use crate::common::{avpctl_env, repo};

#[test]
#[ignore = "needs AVPCTL_REAL_AVP_STORE"]
fn real_avp_round_trip_against_a_scratch_store() {
    let store = std::env::var("AVPCTL_REAL_AVP_STORE").unwrap_or_else(|_| {
        panic!(
            "this test needs AVPCTL_REAL_AVP_STORE=avp:<scratch store id> and AWS credentials to run against real AVP"
        )
    });
    let env: Vec<(&str, String)> = [
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ]
    .into_iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| (k, v)))
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(repo().join("policies-example/."))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let run = |args: &[&str]| avpctl_env(dir.path(), args, &env);

    let deploy = run(&["deploy", "--store", &store, "--yes", "--prune"]);
    assert_eq!(deploy.code, 0, "{}\n{}", deploy.stdout, deploy.stderr);
    // AVP is eventually consistent: give the writes a moment to show.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let diff = run(&["diff", "--store", &store, "--exit-code"]);
    assert_eq!(diff.code, 0, "{}", diff.stdout);
    let again = run(&["deploy", "--store", &store, "--yes"]);
    assert!(again.stdout.contains("up to date"), "{}", again.stdout);
    let test = run(&["test", "--store", &store]);
    assert_eq!(test.code, 0, "{}", test.stdout);
    assert!(
        test.stdout
            .contains("local Cedar and the store agree on every case"),
        "{}",
        test.stdout
    );
}
